"""normalize_domain reads host names as browsers do (UTS 46 non-transitional, IDNA 2008), where
Python's "idna" codec (IDNA 2003) maps faß.de to fass.de and lets malformed punycode through."""

from __future__ import annotations

import pytest

from auctera.domain.compliance import host_of, normalize_domain, unicode_domain


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2003: fass.de, another site
        ("FAß.DE.", "xn--fa-hia.de"),
        ("xn--fa-hia.de", "xn--fa-hia.de"),
        ("fass.de", "fass.de"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        # Full-width letters, ideographic and full-width full stops, as browsers map them.
        ("\uff53\uff48\uff4f\uff50\u3002example\uff0ecom", "shop.example.com"),
        ("r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"),  # IDNA 2008 alone refuses it
        ("ab--cd.example", "ab--cd.example"),
    ],
)
def test_names_as_browsers_resolve_them(given: str, normalised: str) -> None:
    assert normalize_domain(given) == normalised


@pytest.mark.parametrize(
    "bad",
    ["xn--zz.com", "xn--a.com", "xn---bbk.com", "xn--.com", "xn--g6h.com", "\u2665.com", "", ".", "a..b"],
)
def test_what_is_no_name_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        normalize_domain(bad)


def test_hosts_and_unicode_spellings() -> None:
    assert host_of("https://shop.faß.de/x") == "shop.xn--fa-hia.de"
    assert host_of("https://shop.xn--zz.com/x") is None
    assert unicode_domain("shop.xn--fa-hia.de") == "shop.faß.de"
    assert unicode_domain("xn--g6h.com") == "xn--g6h.com"  # stored under IDNA 2003: kept as it is
