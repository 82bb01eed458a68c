"""The HTTP bid partner adapter against the simulated network, served for real on loopback:
apply, read back, delete, and each injected fault as the adapter reports it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from auctera.domain.bids import BidChange, PartnerBidKey
from auctera.partners.http import HttpBidPartner
from auctera.partners.simulated import RunningNetwork, SimulatedNetwork
from auctera.services.ports import PartnerUnavailable

DE = PartnerBidKey("c1", None, "DE", None)
FR = PartnerBidKey("c1", "a1", "FR", None)
APP = PartnerBidKey("c1", "a1", "FR", "app:1")  # a ':' in a source id is just a character


@pytest.fixture
def running() -> Iterator[RunningNetwork]:
    with RunningNetwork(SimulatedNetwork(token="t0ken")) as served:
        yield served


@pytest.fixture
def partner(running: RunningNetwork) -> Iterator[HttpBidPartner]:
    with HttpBidPartner(running.url, token="t0ken", timeout=2.0) as adapter:
        yield adapter


def changes(**values: int | None) -> list[BidChange]:
    keys = {"de": DE, "fr": FR, "app": APP}
    return [BidChange(keys[name], value) for name, value in values.items()]


def faults(running: RunningNetwork, *items: dict[str, object]) -> None:
    response = httpx.put(f"{running.url}/_faults", json=list(items))
    assert response.status_code == 200, response.text


def test_apply_read_back_and_delete(partner: HttpBidPartner) -> None:
    result = partner.apply("b1", changes(de=100_000, fr=250_000, app=1))
    assert not result.rejected_whole
    assert [(i.key, i.ok) for i in result.items] == [(DE, True), (FR, True), (APP, True)]
    assert partner.read([DE, FR, APP]) == {DE: 100_000, FR: 250_000, APP: 1}
    deleted = partner.delete("b2", [FR])
    assert [(i.key, i.ok) for i in deleted.items] == [(FR, True)]
    assert partner.read([DE, FR]) == {DE: 100_000, FR: None}
    assert partner.apply("b3", changes(de=None)).items[0].ok  # a None value deletes too
    assert partner.read([DE]) == {DE: None}


def test_a_batch_sent_again_is_answered_as_the_first_time_without_applying_again(
    partner: HttpBidPartner, running: RunningNetwork
) -> None:
    first = partner.apply("b1", changes(de=100_000))
    partner.apply("b2", changes(de=300_000))
    again = partner.apply("b1", changes(de=100_000))
    assert again == first
    assert partner.read([DE]) == {DE: 300_000}  # b1 was not applied a second time


def test_wrong_credentials_reject_the_batch(running: RunningNetwork) -> None:
    with HttpBidPartner(running.url, token="wrong") as adapter:
        result = adapter.apply("b1", changes(de=1))
    assert result.rejected_whole and "401" in (result.error or "")


def test_a_failing_item_fails_alone(partner: HttpBidPartner, running: RunningNetwork) -> None:
    faults(running, {"kind": "fail-items", "match": [{"country": "FR", "sourceId": None}]})
    result = partner.apply("b1", changes(de=1, fr=2, app=3))
    assert [(i.key, i.ok) for i in result.items] == [(DE, True), (FR, False), (APP, True)]
    assert result.items[1].message == "rejected by the network"
    assert partner.read([DE, FR, APP]) == {DE: 1, FR: None, APP: 3}


def test_a_failing_batch_is_rejected_whole_and_changes_nothing(
    partner: HttpBidPartner, running: RunningNetwork
) -> None:
    faults(running, {"kind": "fail-batch", "times": 1})
    result = partner.apply("b1", changes(de=1, fr=2))
    assert result.rejected_whole and result.items == ()
    assert "rejected by the network" in (result.error or "")
    assert partner.read([DE, FR]) == {DE: None, FR: None}
    assert partner.apply("b2", changes(de=1)).items[0].ok  # the fault was for one call


def test_server_errors_and_rate_limits_raise_unavailable(
    partner: HttpBidPartner, running: RunningNetwork
) -> None:
    faults(running, {"kind": "5xx", "status": 502, "times": 1}, {"kind": "429", "retryAfter": 7, "times": 1})
    with pytest.raises(PartnerUnavailable, match="502") as bad_gateway:
        partner.apply("b1", changes(de=1))
    assert bad_gateway.value.retry_after is None
    with pytest.raises(PartnerUnavailable, match="429") as limited:
        partner.apply("b1", changes(de=1))
    assert limited.value.retry_after == 7
    assert partner.apply("b1", changes(de=1)).items[0].ok
    assert partner.read([DE]) == {DE: 1}


def test_a_timeout_raises_unavailable_and_the_retry_is_idempotent(running: RunningNetwork) -> None:
    faults(running, {"kind": "timeout", "seconds": 1.0, "times": 1})
    impatient = HttpBidPartner(running.url, token="t0ken", timeout=0.2)
    with impatient, pytest.raises(PartnerUnavailable, match="no answer in time"):
        impatient.apply("b1", changes(de=5))
    with HttpBidPartner(running.url, token="t0ken", timeout=5.0) as adapter:
        # The network applied it after all (late): the same batch id gets the same answer.
        assert adapter.apply("b1", changes(de=5)).items[0].ok
        assert adapter.read([DE]) == {DE: 5}
        assert running.network.bids == {DE: 5}


def test_a_failing_rollback_and_a_failing_read(partner: HttpBidPartner, running: RunningNetwork) -> None:
    assert partner.apply("b1", changes(de=1)).items[0].ok
    faults(
        running,
        {"kind": "fail-batch", "on": "apply", "batchPrefix": "rollback-"},
        {"kind": "5xx", "on": "read", "times": 1},
    )
    with pytest.raises(PartnerUnavailable, match="503"):
        partner.read([DE])
    assert partner.read([DE]) == {DE: 1}
    assert partner.apply("rollback-b2", changes(de=0)).rejected_whole
    assert partner.apply("b3", changes(de=2)).items[0].ok  # other batches pass
    assert partner.read([DE]) == {DE: 2}


def test_an_unreachable_network_is_unavailable() -> None:
    with RunningNetwork() as served:
        url = served.url
    with HttpBidPartner(url, timeout=1.0) as adapter, pytest.raises(PartnerUnavailable):
        adapter.read([DE])


def test_bad_faults_are_refused(running: RunningNetwork) -> None:
    response = httpx.put(f"{running.url}/_faults", json=[{"kind": "explode"}])
    assert response.status_code == 400
