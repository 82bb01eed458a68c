"""Creative upload benchmark: the real app served by uvicorn, beside a baseline route of the same server.

(c1) `POST /v2/creatives/upload` of a 150 KB JPEG banner (600x500, the 2x of 300x250) followed by
     `GET /v2/creatives/audit` of the asset it made: sniffing, the YARA malware scan, the Pillow
     decode behind the decompression-bomb guard and the metadata-free re-encode, the audit, the
     fsynced file and the row. p50 and p99 at concurrency 1, against a trivial multipart POST of
     the same bytes to a route of the same app that only writes them to a file (plus a trivial GET:
     the audit read's share).

The server is `auctera.app.create_app` in a uvicorn subprocess (one worker) over a temporary data
directory, the client httpx in this process. Run from the repository root:
    .venv/bin/python -m benchmarks.bench_creatives
Environment: BENCH_CREATIVE_UPLOADS (default 300 uploads per figure).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from fastapi import File, UploadFile

from auctera.bootstrap import build
from auctera.config import Settings
from benchmarks.bench_api import UNLIMITED, baselines_first, env_int, serving

STORE = "/bench/store"
TRIVIAL = "/bench/trivial"
SIZE = 150 * 1024


def serve(data_dir: str, port: int) -> None:
    """The subprocess: the real app plus the baseline routes, under uvicorn."""
    import uvicorn

    from auctera.app import create_app, tuned_for_serving

    app = tuned_for_serving(create_app(Settings(data_dir=Path(data_dir), log_level="warning", log_json=True)))
    sink = Path(data_dir) / "baseline"
    sink.mkdir(exist_ok=True)

    @app.api.post(STORE, include_in_schema=False)
    async def store(file: UploadFile = File(...)) -> Any:
        data = await file.read()
        path = sink / "upload.bin"
        with open(path, "wb") as out:  # the same durable write the asset store does
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return {"success": True, "size": len(data)}

    @app.api.get(TRIVIAL, include_in_schema=False)
    async def trivial() -> Any:
        return {"success": True}

    baselines_first(app)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def noisy_jpeg(size: int, seed: int = 7) -> bytes:
    """A 600x500 JPEG (the 2x of 300x250) of just under `size` bytes: smoothed noise, the highest
    quality that fits, so it neither compresses away nor looks like no real banner."""
    import io
    import random

    from PIL import Image

    rng = random.Random(seed)
    small = Image.frombytes("RGB", (150, 125), bytes(rng.getrandbits(8) for _ in range(150 * 125 * 3)))
    image = small.resize((600, 500), Image.Resampling.BICUBIC)
    for quality in range(98, 10, -2):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        if out.tell() <= size:
            return out.getvalue()
    raise RuntimeError("cannot make a JPEG that small")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(count: int, call: Any) -> list[float]:
    out = []
    for _ in range(count):
        began = time.perf_counter()
        call()
        out.append((time.perf_counter() - began) * 1000)
    return out


def main() -> None:
    uploads = env_int("BENCH_CREATIVE_UPLOADS", 300)
    image = noisy_jpeg(SIZE)
    with tempfile.TemporaryDirectory(prefix="bench-creatives-") as scratch:
        data_dir = Path(scratch) / "data"
        container = build(Settings(data_dir=data_dir, log_level="warning"))
        try:
            made = container.accounts.create_account("Bench", "advertiser", rate_limit_per_minute=UNLIMITED)
        finally:
            container.close()
        headers = {"Authorization": f"Bearer {made.api_key}"}
        files = {"file": ("banner_300x250.jpg", image, "image/jpeg")}
        with (
            serving("benchmarks.bench_creatives", data_dir) as (port, _),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client,
        ):

            def upload_and_audit() -> None:
                answer = client.post("/v2/creatives/upload", files=files, data={"type": "image"})
                asset = answer.raise_for_status().json()
                assert asset["cdn_url"], asset
                audit = client.get("/v2/creatives/audit", params={"asset_id": asset["asset_id"]})
                assert audit.raise_for_status().json()["status"] == "approved", audit.text

            def baseline() -> None:
                client.post(STORE, files=files).raise_for_status()
                client.get(TRIVIAL).raise_for_status()

            timed(20, upload_and_audit)  # warm-up
            timed(20, baseline)
            base = timed(uploads, baseline)
            real = timed(uploads, upload_and_audit)
    size = f"{len(image) / 1024:.0f} KB"
    print(f"(c1) upload and audit of a {size} JPEG (600x500), concurrency 1, latency in ms")
    print("                                                      p50      p99   requests")
    print(
        f"    baseline: multipart POST that stores the bytes  {statistics.median(base):8.2f} "
        f"{percentile(base, 0.99):8.2f} {len(base):>9,}   (+ a trivial GET)"
    )
    p50 = statistics.median(real)
    print(
        f"    upload + audit                                  {p50:8.2f} {percentile(real, 0.99):8.2f} "
        f"{len(real):>9,}   ({p50 / statistics.median(base):.1f}x the baseline)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
