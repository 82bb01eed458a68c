"""The one rule for a URL we send a visitor to (compliance.redirect_problem): whatever a browser
(the WHATWG URL standard) and urlsplit could read differently is refused, and hosts are compared
as the browser resolves them. Through the real server: tests/api/test_redirect_targets.py."""

from __future__ import annotations

import pytest

from auctera.domain.compliance import redirect_host, redirect_problem, url_problems
from auctera.domain.tracking import deep_link_allowed

SITES = ["https://fintech.example.com/apply?cid={click_id}", "www.shop-fintech.example.net"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.com\\.fintech.example.com/", "backslash"),
        ("https://evil.com\\@fintech.example.com/", "backslash"),
        ("https://fintech.example.com/\r\nSet-Cookie: x=1", "control characters"),
        ("https://fintech.example.com/\x7f", "control characters"),
        ("https://fintech.example.com/ x", "spaces"),
        ("https://evil.com\uff0ffintech.example.com/", "not a valid URL"),  # "/" under NFKC
        ("https://fintech.example.com%2fevil.com/", "host name"),
        ("https://a@fintech.example.com/", "credentials"),
        ("https:///evil.com/", "absolute"),
        ("javascript:alert(1)", "absolute"),
        ("https://fintech.example.com:99999/", "not a valid URL"),
        ("https://fintech.example.com/" + "x" * 2048, "2048"),
    ],
)
def test_what_a_browser_reads_otherwise_is_refused_and_never_a_deep_link(url: str, why: str) -> None:
    problem = redirect_problem(url)
    assert problem is not None and why in problem
    assert not deep_link_allowed(url, SITES)


@pytest.mark.parametrize(
    "url",
    [
        "https://fintech.example.com/",
        "https://www.fintech.example.com/cards?ref=x",
        "https://Shop.FINTECH.example.com./x",  # case and a trailing dot: the same host
        "https://shop.fintech\u3002example.com/x",  # the ideographic full stop is a dot
        "https://shop-fintech.example.net/p/1",  # a site given as a bare domain, www. or not
        "https://fintech.example.com/{sub_id1}",
    ],
)
def test_the_advertisers_own_pages_are_deep_links(url: str) -> None:
    assert redirect_problem(url) is None
    assert deep_link_allowed(url, SITES)


def test_hosts_compare_as_a_browser_resolves_them() -> None:
    assert redirect_host("https://FAß.de./") == "xn--fa-hia.de"  # IDNA 2008, as browsers
    assert redirect_host("https://[0:0::1]/") == "::1"
    assert not deep_link_allowed("https://fintech.example.com.evil.net/", SITES)
    assert not deep_link_allowed("https://evilfintech.example.com/", SITES)


def test_a_campaign_landing_page_with_a_delete_character_is_refused() -> None:
    """A Location holding DEL is refused by the server after the click was logged."""
    [problem] = url_problems("https://shop.example.com/a\x7fb")
    assert problem.field == "destination_url" and "control characters" in problem.message
