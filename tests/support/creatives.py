"""Creative files for the tests and the benchmark: banners, a decompression bomb, HTML5 bundles."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image

# The EICAR anti-virus test file: harmless, and every scanner must flag it.
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def banner(width: int = 300, height: int = 250, fmt: str = "JPEG", *, exif: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), (200, 30, 30))
    out = io.BytesIO()
    options = {}
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "SnoopCam"  # Make
        tags[0x0131] = "secret-editor 1.0"  # Software
        options["exif"] = tags.tobytes()
    image.save(out, fmt, **options)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares 10 gigapixels over a few bytes of data: a decoder that believed
    it would allocate tens of gigabytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


INDEX = """<!doctype html><html><head>
<meta name="ad.size" content="width=300,height=250">
{scripts}
<script>var clickTag = "https://shop.example.com/";</script>
</head><body><a href="javascript:window.open(window.clickTag)">Holiday sale: shop now</a></body></html>"""


def bundle(*, scripts: str = "", files: dict[str, bytes] | None = None, index: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", index if index is not None else INDEX.format(scripts=scripts))
        archive.writestr("style.css", "body { margin: 0 }")
        for name, content in (files or {}).items():
            archive.writestr(name, content)
    return out.getvalue()
