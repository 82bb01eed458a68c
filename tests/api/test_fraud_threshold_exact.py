"""`fraud_threshold` (PATCH /v2/account) is a score with at most four decimal places, read as
the decimal it is written as, answered in plain digits (never 1e-7), and anything finer or out
of range a 422 naming the field with nothing changed (docs/fraud.md)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api, error


def _patch(api: Api, raw: bytes) -> Any:
    headers = {**api.headers, "Content-Type": "application/json"}
    return api.client.patch("/v2/account", content=raw, headers=headers)


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        (b"0.0001", b'"fraud_threshold":0.0001'),
        (b"0.9525", b'"fraud_threshold":0.9525'),
        (b"0.50000000", b'"fraud_threshold":0.5'),  # trailing zeros are the same number
        (b"1E-4", b'"fraud_threshold":0.0001'),
        (b"1", b'"fraud_threshold":1'),
        (b"0", b'"fraud_threshold":0'),
        (b"-0.0", b'"fraud_threshold":0'),  # stored as 0, not a negative zero
    ],
)
def test_a_threshold_is_kept_and_answered_in_plain_digits(network: Api, sent: bytes, written: bytes) -> None:
    changed = _patch(network, b'{"fraud_threshold": %s}' % sent)
    assert changed.status_code == 200, changed.text
    assert written in changed.content
    assert written in network.call("GET", "/v2/account").content
    assert written in network.call("GET", f"/v2/accounts/{network.id}").content


@pytest.mark.parametrize(
    "sent",
    [b"0.0000001", b"0.12345678901234567", b"5e-324", b"0.00005", b"1.00001", b"-0.0001", b"1e999999999"],
)
def test_a_finer_or_out_of_range_threshold_is_refused(network: Api, sent: bytes) -> None:
    assert _patch(network, b'{"fraud_threshold": 0.9}').status_code == 200
    refused = error(_patch(network, b'{"fraud_threshold": %s}' % sent), 422, "fraud_threshold")
    assert "fraud_threshold" in refused["message"]
    assert network.call("GET", "/v2/account").json()["fraud_threshold"] == 0.9


def test_too_many_places_says_how_many(network: Api) -> None:
    refused = error(_patch(network, b'{"fraud_threshold": 0.0000001}'), 422, "fraud_threshold")
    assert "at most 4 decimal places" in refused["message"]


def test_null_restores_the_default(network: Api) -> None:
    assert _patch(network, b'{"fraud_threshold": 0.25}').json()["fraud_threshold"] == 0.25
    assert _patch(network, b'{"fraud_threshold": null}').json()["fraud_threshold"] is None
