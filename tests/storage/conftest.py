"""A real S3 API server on loopback (one per test process) and a fresh bucket per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.s3 import CREDENTIALS, REGION, S3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


def s3_options(s3: S3Server, bucket: str) -> dict[str, Any]:
    """Settings of an installation on the S3 backend, as docs/operations.md configures MinIO."""
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": s3.endpoint,
        "s3_bucket": bucket,
        "s3_region": REGION,
        "s3_prefix": "auctera/",
        "s3_addressing_style": "path",
    }
