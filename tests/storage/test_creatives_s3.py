"""Creative assets on the S3 backend, through the real app and a real S3 API server: the
re-encoded file is the bucket's object, /cdn serves it with its caching headers, DELETE purges it
at once, and a store that cannot be used answers 503 with nothing half-written."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import text
from starlette.testclient import TestClient

from api.conftest import Api, app_at, error
from auctera.app import RootApp
from support.clock import FrozenClock
from support.creatives import banner, bundle
from support.s3 import S3Server

from .conftest import s3_options

TRACKING = "http://trk.example.com"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock, s3: S3Server, bucket: str) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, TRACKING, **s3_options(s3, bucket)) as application:
        yield application


@pytest.fixture
def acme(app: RootApp) -> Iterator[Api]:
    with TestClient(app) as client:
        yield Api(app, client)


def upload(api: Api, name: str, data: bytes, type: str = "image") -> Any:
    files = {"file": (name, data, "application/octet-stream")}
    return api.client.post("/v2/creatives/upload", files=files, data={"type": type}, headers=api.headers)


def uploaded(api: Api, name: str, data: bytes, type: str = "image") -> dict[str, Any]:
    response = upload(api, name, data, type)
    assert response.status_code == 201, response.text
    return dict(response.json())


def assets(app: RootApp) -> int:
    with app.container.engine.connect() as db:
        return int(db.execute(text("SELECT count(*) FROM creatives")).scalar_one())


def test_an_asset_is_the_buckets_object_served_and_purged(acme: Api, s3: S3Server, bucket: str) -> None:
    body = uploaded(acme, "banner_300x250.jpg", banner(exif=True))
    key = f"auctera/creatives/{body['asset_id']}.jpg"
    assert s3.keys(bucket) == [key]
    stored = s3.body(bucket, key)
    assert b"SnoopCam" not in stored  # the re-encoded file, without its metadata

    served = acme.client.get(urlsplit(body["cdn_url"]).path)
    assert served.status_code == 200 and served.content == stored
    assert served.headers["content-type"] == "image/jpeg"
    assert "immutable" in served.headers["cache-control"]
    again = acme.client.get(urlsplit(body["cdn_url"]).path, headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304

    response = acme.call("DELETE", f"/v2/creatives/{body['asset_id']}")
    assert response.status_code == 200, response.text
    assert s3.keys(bucket) == []  # purged from storage at once
    assert acme.client.get(urlsplit(body["cdn_url"]).path).status_code == 404


def test_a_large_asset_is_streamed_from_the_bucket(acme: Api, s3: S3Server, bucket: str) -> None:
    noise = Image.frombytes("RGB", (640, 960), os.urandom(640 * 960 * 3))  # 2x 320x480: ~1.8 MB
    out = io.BytesIO()
    noise.save(out, "PNG")
    body = uploaded(acme, "interstitial.png", out.getvalue())
    stored = s3.body(bucket, f"auctera/creatives/{body['asset_id']}.png")
    assert len(stored) > 2**20
    served = acme.client.get(urlsplit(body["cdn_url"]).path)
    assert served.status_code == 200 and served.content == stored
    assert served.headers["content-length"] == str(len(stored))
    assert served.headers["content-type"] == "image/png" and "immutable" in served.headers["cache-control"]


def test_an_html5_bundle_is_served_from_the_bucket(acme: Api, s3: S3Server, bucket: str) -> None:
    allowed = '<script src="https://s0.2mdn.net/ads/studio/Enabler.js"></script>'
    body = uploaded(acme, "sale.zip", bundle(scripts=allowed), type="html5")
    assert s3.keys(bucket) == [f"auctera/creatives/{body['asset_id']}.zip"]
    page = acme.client.get(urlsplit(body["cdn_url"]).path)
    assert page.status_code == 200 and "clickTag" in page.text
    assert page.headers["content-security-policy"].startswith("sandbox")


def test_a_store_that_cannot_be_used_answers_503_with_nothing_written(
    tmp_path: Path, clock: FrozenClock, s3: S3Server
) -> None:
    with (
        app_at(tmp_path, clock, TRACKING, **s3_options(s3, "no-such-bucket")) as app,
        TestClient(app) as client,
    ):
        acme = Api(app, client)
        found = error(upload(acme, "banner_300x250.jpg", banner()), 503)
        assert found["code"] == "storage_unavailable" and "NoSuchBucket" in found["message"]
        assert assets(app) == 0  # no row pointing to a missing file


def test_a_delete_the_store_refuses_changes_nothing(
    tmp_path: Path, clock: FrozenClock, s3: S3Server, bucket: str
) -> None:
    """A second server on the same database whose store refuses: the DELETE answers 503 and the
    asset stays, served, until a DELETE that can purge its file."""
    with app_at(tmp_path, clock, TRACKING, **s3_options(s3, bucket)) as app, TestClient(app) as client:
        acme = Api(app, client)
        body = uploaded(acme, "banner_300x250.jpg", banner())
        broken = s3_options(s3, "no-such-bucket")
        with app_at(tmp_path, clock, TRACKING, **broken) as other, TestClient(other) as other_client:
            refused = other_client.delete(f"/v2/creatives/{body['asset_id']}", headers=acme.headers)
            assert error(refused, 503)["code"] == "storage_unavailable"
        assert len(s3.keys(bucket)) == 1
        assert client.get(urlsplit(body["cdn_url"]).path).status_code == 200
        assert acme.call("DELETE", f"/v2/creatives/{body['asset_id']}").status_code == 200
        assert s3.keys(bucket) == []
