"""Feed files rendered when a catalog import finishes: in the server by a background worker (the
import answers at once), in `auctera feeds import` before it exits; the first feed request
after the import then streams the file already there instead of rendering it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auctera.app import RootApp
from auctera.domain import ids as idfmt
from auctera.domain.catalog import FeedFormat, ImportStatus
from auctera.jobs.feed_files import FeedFileRenders

from .conftest import TRACKING, FrozenClock, World, make_app, product_row
from .test_feed_files import _download, _feed_url, feed, import_rows, rendered_files

WAIT_SECONDS = 30.0  # a bound on waiting for the background render, never a timing assertion
DEFAULT_STEM = "epi0-gt0"


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    application = make_app(tmp_path, clock, feed_file_worker=True)
    yield application
    application.container.close()


def default_files(world: World) -> list[Path]:
    """The files of the default variant, not counting one being written (a hidden .tmp)."""
    return [p for p in rendered_files(world) if f"-{DEFAULT_STEM}." in p.name and not p.name.startswith(".")]


def wait_for_default_files(world: World, count: int = 3) -> list[Path]:
    """The default files once the background renders are done (the import queued them before it
    answered), waiting at most WAIT_SECONDS."""
    if not world.net.container.feed_renders.wait_idle(WAIT_SECONDS):
        pytest.fail(f"the feed files were not rendered within {WAIT_SECONDS} s")
    found = default_files(world)
    assert len(found) == count, found
    return found


def identity(paths: list[Path]) -> dict[str, tuple[int, int]]:
    """What tells a file rewritten from the same one: its inode and modification time."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}


def test_an_import_renders_the_default_files_and_the_first_request_streams_them(world: World) -> None:
    # The catalog was imported before the program offered it: nothing rendered yet.
    assert rendered_files(world) == []
    import_rows(world, world.feed_id, [product_row("product_acb", "PlayStation 5 Pro")])
    files = wait_for_default_files(world)
    assert sorted(p.suffix for p in files) == [".csv", ".json", ".xml"]
    before = identity(files)

    response = feed(world)
    assert {p["productName"]: p["inStock"] for p in response.json()} == {
        "PlayStation 5 Pro": True,
        "Xbox": False,
    }
    url = _feed_url(world)
    assert b"PlayStation 5 Pro" in _download(world, url).content
    assert b"PlayStation 5 Pro" in _download(world, url, format="CSV").content
    assert identity(default_files(world)) == before  # served as rendered: no request rendered

    # The other variants stay lazy: the first setEpi request renders its own file.
    feed(world, setEpi=True)
    assert len(rendered_files(world)) == 4


def test_every_program_offering_the_catalog_gets_its_files_and_a_failed_import_renders_none(
    world: World,
) -> None:
    second = world.net.program(world.advertiser, "Kitchentime NO", market="NO", feed_ids=(world.feed_id,))
    import_rows(world, world.feed_id, [product_row("product_acb", "PlayStation 5 Pro")])
    files = wait_for_default_files(world, count=6)
    assert {p.name.split("-", 1)[0] for p in files} == {str(world.program_id), str(second)}

    before = identity(files)
    failed = world.net.container.catalog.import_feed(
        None, world.feed_id, io.BytesIO(b"[not json"), FeedFormat.JSON
    )
    assert failed.status is ImportStatus.FAILED
    assert world.net.container.feed_renders.wait_idle(WAIT_SECONDS)
    assert identity(default_files(world)) == before


def test_the_worker_renders_a_retailer_queued_again_once() -> None:
    rendered: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def render(retailer_id: int) -> None:
        rendered.append(retailer_id)
        if retailer_id == 1:
            started.set()
            assert release.wait(WAIT_SECONDS)

    renders = FeedFileRenders(render)
    renders.submit(9)  # not started: nothing queued (a CLI run renders itself)
    renders.start()
    try:
        renders.submit(1)
        assert started.wait(WAIT_SECONDS)
        for retailer_id in (2, 3, 2, 2, 3):
            renders.submit(retailer_id)
        release.set()
        assert renders.wait_idle(WAIT_SECONDS)
    finally:
        renders.stop()
    assert rendered == [1, 2, 3]
    renders.submit(4)  # stopped: ignored
    assert rendered == [1, 2, 3]


def test_the_cli_import_renders_before_it_exits(tmp_path: Path, world: World) -> None:
    world.net.container.feed_renders.stop()  # only the CLI renders here
    feed_file = tmp_path / "feed.json"
    feed_file.write_text(json.dumps([product_row("product_acb", "PlayStation 5 Pro")]))
    data_dir = world.net.container.settings.data_dir
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "auctera"),
            "feeds",
            "import",
            f"ret_{idfmt.to_base36(world.feed_id)}",
            str(feed_file),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AUCTERA_TRACKING_URL": TRACKING},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert "rendered the /v3 feed files (JSON, XML, CSV) of 1 program(s)" in done.stderr
    files = default_files(world)  # there as soon as the command returned
    assert sorted(p.suffix for p in files) == [".csv", ".json", ".xml"]
    before = identity(files)
    names: Any = [p["productName"] for p in feed(world).json()]
    assert names == ["PlayStation 5 Pro", "Xbox"]
    assert identity(default_files(world)) == before
