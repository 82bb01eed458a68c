"""Tracking links, redirect destinations and what a request says about its device and country."""

from __future__ import annotations

import pytest

from auctera.domain import ids
from auctera.domain.tracking import (
    Device,
    LinkError,
    LinkParams,
    country_from_headers,
    destination,
    device_type,
    parse_link,
    tracking_links,
)

LINK = LinkParams(ids.from_base36("442") or 0, ids.from_base36("8821"), ("source a", None, None, None, "x/y"))


def test_links_look_as_the_seed_shows() -> None:
    click, pixel = tracking_links(
        "https://trk.auctera.io/",
        LINK.campaign_id,
        LINK.publisher_id,
        {"sub_id1": "source_a"},
        offer=True,
    )
    assert click == "https://trk.auctera.io/click?o=442&p=8821&s1=source_a"
    assert pixel == "https://trk.auctera.io/imp?o=442&p=8821"


def test_parse_link_round_trips_and_refuses_what_we_never_issued() -> None:
    assert parse_link("o=442&p=8821&s1=source%20a&s5=x%2Fy") == LINK
    assert parse_link("c=442").publisher_id is None
    for query, field in [
        ("p=1", "o"),
        ("o=!!", "o"),
        ("o=1&c=2", "c"),
        ("o=1&p=-", "p"),
        ("o=1&s2=" + "x" * 256, "s2"),
        ("o=1&em=abc", "em"),
    ]:
        with pytest.raises(LinkError) as refused:
            parse_link(query)
        assert refused.value.field == field
    digest = "A" * 64
    assert parse_link(f"o=1&em={digest}").identifiers == (("email_sha256", "a" * 64),)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://s.example.com/l?cid={click_id}&src={sub_id1}",
            "https://s.example.com/l?cid=auc_1&src=source%20a",
        ),
        (
            "https://s.example.com/l?x={sub_id5}&o={offer_id}&p={publisher_id}&c={click_id}",
            "https://s.example.com/l?x=x%2Fy&o=442&p=8821&c=auc_1",
        ),
        ("https://s.example.com/l", "https://s.example.com/l?click_id=auc_1"),
        ("https://s.example.com/l?a=1#top", "https://s.example.com/l?a=1&click_id=auc_1#top"),
        ("https://s.example.com/l?s={sub_id2}", "https://s.example.com/l?s=&click_id=auc_1"),
        # Macros and a fragment: the click id still goes in the query, which browsers send.
        (
            "https://s.example.com/l?s={sub_id1}#frag",
            "https://s.example.com/l?s=source%20a&click_id=auc_1#frag",
        ),
        (
            "https://s.example.com/l/{sub_id1}#f={sub_id1}",
            "https://s.example.com/l/source%20a?click_id=auc_1#f=source%20a",
        ),
        ("https://s.example.com/l?", "https://s.example.com/l?click_id=auc_1"),
    ],
)
def test_destination_fills_macros_or_appends_the_click_id(url: str, expected: str) -> None:
    assert destination(url, "auc_1", LINK) == expected
    assert destination(url, "auc_1", LINK) == expected  # the second time from the memo


def test_device_types() -> None:
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
    android_tablet = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    tv = "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 SamsungBrowser/4.0 TV Safari/537.36"
    assert device_type(iphone) is Device.MOBILE
    assert device_type(ipad) is Device.TABLET
    assert device_type(android_tablet) is Device.TABLET
    assert device_type(tv) is Device.CTV
    assert device_type("Mozilla/5.0 (Windows NT 10.0; Win64; x64)") is Device.DESKTOP
    assert device_type("Mozilla/5.0 (Windows NT 10.0)", "?1") is Device.MOBILE
    assert device_type(None) is Device.DESKTOP


def test_country_from_proxy_headers() -> None:
    countries = frozenset({"US", "DE"})
    assert country_from_headers({"cf-ipcountry": "us"}, countries) == "US"
    assert country_from_headers({"cf-ipcountry": "XX", "x-country-code": "DE"}, countries) == "DE"
    assert country_from_headers({"cf-ipcountry": "T1"}, countries) is None
