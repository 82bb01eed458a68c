"""Blocklist entries and destination hosts are read as browsers read them (UTS 46, IDNA 2008):
malformed punycode answers 422 naming `domain` (it answered 500), and faß.de is the site browsers
reach (xn--fa-hia.de), not fass.de as Python's IDNA 2003 codec has it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auctera.app import RootApp
from auctera.domain.compliance import BlockedDomain

from .conftest import Api, error

LIST = "/v2/network/blocklist"


def _listed(network: Api) -> list[str]:
    return [b["domain"] for b in network.call("GET", LIST).json()["data"]]


@pytest.mark.parametrize("domain", ["xn--zz.com", "xn--a.com", "shop.XN--ZZ.com", "xn---bbk.com", "xn--.com"])
def test_malformed_punycode_answers_422_naming_the_domain(acme: Api, network: Api, domain: str) -> None:
    live = acme.create(destination_url="https://shop.example.com/")
    failure = error(network.call("POST", LIST, {"domain": domain, "reason": "fuzz"}), 422, "domain")
    assert domain in failure["message"]
    assert _listed(network) == []  # nothing written
    assert acme.get(live)["status"] == "active"
    error(network.call("DELETE", f"{LIST}/{domain}"), 422, "domain")


def test_a_destination_with_malformed_punycode_is_refused_naming_it(acme: Api) -> None:
    response = acme.call("POST", "/v2/campaigns", {
        "name": "Fuzz", "type": "dsp_retargeting", "budget": 100, "destination_url": "https://shop.xn--zz.com/",
    })  # fmt: skip
    assert "public host name" in error(response, 422, "destination_url")["message"]


def test_a_sharp_s_domain_blocks_the_site_browsers_reach(acme: Api, network: Api) -> None:
    as_browsers_write_it = acme.create(destination_url="https://shop.xn--fa-hia.de/x")
    in_unicode = acme.create(destination_url="https://shop.faß.de/y")
    other_site = acme.create(destination_url="https://shop.fass.de/z")

    listed = network.call("POST", LIST, {"domain": "FAß.de", "reason": "phishing"})
    assert listed.status_code == 201, listed.text
    assert listed.json()["domain"] == "xn--fa-hia.de"
    assert listed.json()["campaigns_rejected"] == 2
    assert acme.get(as_browsers_write_it)["status"] == "rejected"
    assert acme.get(as_browsers_write_it)["review"]["reasons"] == [
        "destination_url: shop.xn--fa-hia.de is on the network's blocklist (via xn--fa-hia.de)"
    ]
    assert acme.get(in_unicode)["status"] == "rejected"
    assert acme.get(other_site)["status"] == "active"  # fass.de is another site
    # A new campaign there is rejected by its review too.
    later = acme.create(destination_url="https://www.xn--fa-hia.de/")
    assert acme.get(later)["status"] == "rejected"

    assert network.call("DELETE", f"{LIST}/faß.de").json()["removed"] is True
    assert _listed(network) == []
    assert [acme.get(c)["status"] for c in (as_browsers_write_it, in_unicode, later)] == ["active"] * 3


def test_an_entry_stored_before_idna_2008_can_still_be_removed(app: RootApp, network: Api) -> None:
    # Python's IDNA 2003 codec stored ♥.com as xn--g6h.com; IDNA 2008 has no such name.
    with app.container.uow() as uow:
        uow.blocklist.add(BlockedDomain("xn--g6h.com", None, datetime.now(UTC), None))
        uow.commit()
    assert _listed(network) == ["xn--g6h.com"]
    removed = network.call("DELETE", f"{LIST}/xn--g6h.com")
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"] is True
    assert _listed(network) == []
    # Gone, it is a name that cannot be listed like any other.
    error(network.call("DELETE", f"{LIST}/xn--g6h.com"), 422, "domain")
