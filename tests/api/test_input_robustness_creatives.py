"""HTML5 bundles whose zip is malformed (found by fuzzing a running server): each is refused with
the documented 422 on `file`, "not a readable zip archive", never a 500, and nothing is stored."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from auctera.app import RootApp
from auctera.store.tables import creatives

from .conftest import Api, error
from .test_creatives import stored, upload

INDEX = b"<html><head><script>var clickTag = 'https://shop.example.com/';</script></head><body></body></html>"


def _zip(method: int = zipfile.ZIP_STORED, name: str = "index.html", content: bytes = INDEX) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        archive.writestr(name, content)
    return out.getvalue()


def offsets_off() -> bytes:
    # The auditor's file: one byte fewer inside the member, so every offset after it is off by one
    # (zipfile answered ValueError "negative seek value").
    return _zip(content=b"<html></html>").replace(b"</html>", b"<HTML>")


def unknown_method() -> bytes:
    data = bytearray(_zip())
    for header, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # the method, in both headers
        start = data.index(header)
        data[start + at : start + at + 2] = struct.pack("<H", 99)
    return bytes(data)


def _corrupt_stream(method: int) -> bytes:
    data = bytearray(_zip(method, content=INDEX * 40))
    start = data.index(b"PK\x03\x04") + 30 + len("index.html")
    data[start + 8 : start + 40] = b"\xff" * 32  # inside the compressed stream
    return bytes(data)


def truncated_member() -> bytes:
    data = _zip()
    central = data.index(b"PK\x01\x02")
    return data[:40] + data[central - 40 :]  # the member's bytes are mostly gone


def bad_utf8_name() -> bytes:
    # Flag bit 11 says the name is UTF-8; it is not.
    data = bytearray(_zip(name="index.html"))
    for header, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = data.index(header)
        data[start + flags_at : start + flags_at + 2] = struct.pack("<H", 0x800)
        data[start + name_at] = 0xFF
    return bytes(data)


MALFORMED: dict[str, Callable[[], bytes]] = {
    "offsets-off": offsets_off,
    "unknown-compression-method": unknown_method,
    "corrupt-deflate": lambda: _corrupt_stream(zipfile.ZIP_DEFLATED),
    "corrupt-bzip2": lambda: _corrupt_stream(zipfile.ZIP_BZIP2),
    "corrupt-lzma": lambda: _corrupt_stream(zipfile.ZIP_LZMA),
    "truncated-member": truncated_member,
    "bad-crc": lambda: _zip().replace(b"clickTag", b"clickTAG", 1),
    "bad-utf8-name": bad_utf8_name,
    "cut-short": lambda: _zip()[:60],
}


@pytest.mark.parametrize("make", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_zip_answers_422_naming_the_file(
    app: RootApp, acme: Api, make: Callable[[], bytes]
) -> None:
    data = make()
    assert data.startswith(b"PK\x03\x04")  # sniffed as a zip: the bundle reader has to cope
    failure = error(upload(acme, "bad.zip", data, type="html5"), 422, "file")
    assert "not a readable zip archive" in failure["message"]
    assert stored(app) == []
    with app.container.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(creatives)).scalar_one() == 0


def test_a_well_formed_bundle_still_uploads(acme: Api) -> None:
    response = upload(acme, "sale.zip", _zip(zipfile.ZIP_DEFLATED), type="html5")
    assert response.status_code == 201, response.text
