"""The audit's rules on content facts: sniffing, sizes, trackers, HTML5 bundles, categories."""

from __future__ import annotations

from auctera.domain.creatives import (
    Format,
    category_of,
    expand_trackers,
    html5_findings,
    is_standard_size,
    read_bundle,
    sniff,
    tracker_problem,
    tracker_vendor,
    type_findings,
    valid_category,
)
from auctera.domain.tracking import link_query, parse_link
from support.creatives import bundle


def test_the_format_comes_from_the_content_not_the_name() -> None:
    assert sniff(b"\xff\xd8\xff\xe0rest") is Format.JPEG
    assert sniff(b"\x89PNG\r\n\x1a\nrest") is Format.PNG
    assert sniff(b"GIF89a...") is Format.GIF
    assert sniff(b"\0\0\0\x18ftypmp42") is Format.MP4
    assert sniff(b"PK\x03\x04rest") is Format.ZIP
    assert sniff(b"MZ\x90\0 an exe") is None
    assert type_findings("banner.JPG", Format.JPEG) == []
    assert (
        type_findings("banner.gif", Format.JPEG)[0].message
        == "extension .gif does not match the content (jpeg)"
    )


def test_iab_sizes_and_their_retina_doubles() -> None:
    assert is_standard_size(300, 250) and is_standard_size(600, 500) and is_standard_size(728, 90)
    assert not is_standard_size(301, 250)


def test_trackers() -> None:
    assert tracker_problem("https://ad.doubleclick.net/clk/...") is None  # the seed's example
    assert tracker_problem("http://ad.doubleclick.net/clk/1") is not None
    assert tracker_problem("https://ad.doubleclick.net/x?[UNKNOWN]") is not None
    assert tracker_vendor("https://bs.serving-sys.com/Serving?cn=display") == "sizmek"
    assert expand_trackers(["https://x.example/i?ord=[timestamp]&c=%%CACHEBUSTER%%"], "123") == [
        "https://x.example/i?ord=123&c=123"
    ]


def test_html5_rules() -> None:
    good = html5_findings(read_bundle(bundle()), ["s0.2mdn.net"])
    assert good.findings == [] and (good.facts.width, good.facts.height) == (300, 250)
    scripts = '<script src="//cdn.evil.example/a.js"></script><script src="js/local.js"></script>'
    bad = html5_findings(read_bundle(bundle(scripts=scripts)), ["s0.2mdn.net"])
    assert [f.message for f in bad.findings] == [
        "index.html loads a script from cdn.evil.example, not on the allowlist"
    ]


def test_categories() -> None:
    assert valid_category("IAB3-1") and valid_category("IAB22") and not valid_category("IAB99")
    assert category_of(None, "banner_300x250.jpg") == "IAB3-1"
    assert category_of("IAB2", "banner") == "IAB2"
    assert category_of(None, "untitled") == "IAB24"


def test_links_name_the_creative_and_its_variant() -> None:
    query = link_query(42, None, {}, offer=False, creative_id=7, variant="blue_cta")
    assert query == "c=16&cr=7&cv=blue_cta"
    link = parse_link(query)
    assert (link.creative_id, link.variant) == (7, "blue_cta")
