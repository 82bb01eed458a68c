"""Feeds for clients that accept gzip: the same bytes, compressed once per channel and import
and kept; without the header (or refusing gzip) the file as rendered, streamed; the signature
and channel checks the same either way."""

from __future__ import annotations

import gzip
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from auctera.domain.programs import ApprovalStatus
from auctera.domain.tracking import parse_link
from auctera.services.feed_files import GZIP_FOLDER

from .conftest import Caller, Network, World, product_row
from .test_feed_files import _feed_url, import_rows, rendered_files

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture
def world(net: Network) -> World:
    return World(net)


def feed(
    world: World, headers: dict[str, str], caller: Caller | None = None, channel: int | None = None
) -> Any:
    caller = caller or world.publisher
    body = {"programId": world.program_id, "channelId": channel or world.channel_id}
    return world.net.client.post(
        "/v3/partner/products/feed", json=body, headers={"X-Token": caller.token, **headers}
    )


def download(world: World, url: str, headers: dict[str, str], **changes: str) -> Any:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return world.net.client.get(f"{parts.path}?{urlencode(params)}", headers=headers)


def raw(response: Any) -> bytes:
    """The body as sent: gzip-compressed again, as httpx decodes it for us."""
    assert response.headers["content-encoding"] == "gzip"
    return gzip.compress(response.content)


def test_gzip_is_the_same_feed_compressed_and_identity_is_streamed(world: World) -> None:
    rows = [product_row(f"p{i:04d}", f"Product {i} & <co>") for i in range(600)]
    big = world.net.retailer(world.advertiser, "Big", "big.site.com", rows)
    world.net.set_feeds(world.program_id, (big,))
    plain = feed(world, IDENTITY)
    assert plain.status_code == 200, plain.text
    assert "content-encoding" not in plain.headers and "content-length" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    packed = feed(world, GZIP)
    assert packed.status_code == 200, packed.text
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain.content  # decompressed by the client: the same bytes
    assert int(packed.headers["content-length"]) < len(plain.content) / 5
    assert packed.headers["count"] == plain.headers["count"] == "600"
    refused = feed(world, {"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused.content == plain.content


def test_the_gzip_file_is_compressed_once_per_channel_and_dropped_after_an_import(world: World) -> None:
    second = world.net.channel(world.publisher, "John's newsletter")
    world.net.apply(world.program_id, world.publisher, second, ApprovalStatus.APPROVED)
    first = feed(world, GZIP)
    [made] = rendered_files(world, GZIP_FOLDER)
    stamp = made.stat().st_mtime_ns
    assert feed(world, GZIP).content == first.content
    assert rendered_files(world, GZIP_FOLDER) == [made] and made.stat().st_mtime_ns == stamp  # kept
    theirs = feed(world, GZIP, channel=second)
    links = [parse_link(urlsplit(p["trackingUrl"]).query) for p in theirs.json()]
    assert {link.channel_id for link in links} == {second}
    assert feed(world, IDENTITY, channel=second).content == theirs.content
    assert len(rendered_files(world, GZIP_FOLDER)) == 2
    import_rows(world, world.feed_id, [product_row("product_acb", "PlayStation 5 Pro")])
    fresh = feed(world, GZIP)
    assert b"PlayStation 5 Pro" in fresh.content
    # Both channels' superseded files are gone with the first request after the import.
    [now] = rendered_files(world, GZIP_FOLDER)
    assert now != made and not made.exists()


def test_signed_downloads_in_gzip_and_their_checks(world: World) -> None:
    url = _feed_url(world)
    for fmt in ("XML", "CSV"):
        plain = download(world, url, IDENTITY, format=fmt)
        packed = download(world, url, GZIP, format=fmt)
        assert plain.status_code == packed.status_code == 200
        assert "content-encoding" not in plain.headers and packed.content == plain.content
        assert packed.headers["content-disposition"] == plain.headers["content-disposition"]
        assert len(raw(packed)) > 0
    for bad in ("0" * 64, "é" * 64):  # not ASCII: a 500 once (compare_digest refuses such a str)
        forged = download(world, url, GZIP, sig=bad)
        assert forged.status_code == 403 and forged.json()["field"] == "sig"
    other = world.net.account("Jane Roe", "publisher")
    hers = world.net.channel(other, "Jane's site")
    borrowed = download(world, url, GZIP, asid=str(hers))  # another channel's links, same signature
    assert borrowed.status_code == 403 and borrowed.json()["field"] == "sig"
    foreign = feed(world, GZIP, caller=other, channel=world.channel_id)
    assert foreign.status_code == 404, foreign.text
    assert feed(world, GZIP, caller=other, channel=hers).status_code == 403  # never applied
