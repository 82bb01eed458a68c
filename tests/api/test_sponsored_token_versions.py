"""A sponsored link whose click token is of another version is a bad request: a 400 page naming
the version (docs/spend.md), not the 404 of a forged token; its pixel answers the GIF with 400."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from support.clock import FrozenClock

from .conftest import app_at
from .test_sponsored_clicks import CENT, TRACKING, Placed, click, place


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, TRACKING, tracking_cache_seconds=0) as application:
        yield application


def _with_version(path: str, version: int) -> str:
    """The link with its token's version byte changed (what another server version would issue)."""
    split = urlsplit(path)
    token = parse_qs(split.query)["t"][0]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[0] = version
    return f"{split.path}?t={base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def test_a_token_of_an_unknown_version_is_a_bad_request(app: RootApp, client: TestClient) -> None:
    placed: Placed = place(app, client, budget_micros=CENT * 100)
    for version in (0, 2, 255):
        response = click(client, _with_version(placed.path(), version))
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "location" not in response.headers
        assert f"unknown click token version {version}" in response.text
        pixel = client.get(_with_version(placed.path("impression"), version))
        assert (pixel.status_code, pixel.headers["content-type"]) == (400, "image/gif")
    assert placed.ledger() == []
    # The current version with the same bytes is a genuine link again: the version was the problem.
    assert click(client, _with_version(placed.path(), 1)).status_code == 302
