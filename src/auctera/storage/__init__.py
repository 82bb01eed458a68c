"""Object stores for the files every machine must see (report exports, creative assets): a
directory under the data dir, or an S3-compatible bucket (`AUCTERA_STORAGE_BACKEND=s3`)."""

from __future__ import annotations

from pathlib import Path

from auctera.config import Settings
from auctera.services.ports import ObjectStore
from auctera.storage.directory import DirectoryStore


def object_store(settings: Settings, area: str, directory: Path) -> ObjectStore:
    """The store of one area (`exports`, `creatives`): `directory` itself, or the bucket's
    `<s3_prefix><area>/` keys."""
    if settings.storage_backend == "directory":
        return DirectoryStore(directory)
    from auctera.storage.s3 import S3Store, s3_client  # boto3 is imported only when used

    assert settings.s3_bucket is not None  # checked by Settings
    client = s3_client(settings.s3_endpoint_url, settings.s3_region, settings.s3_addressing_style)
    return S3Store(client, settings.s3_bucket, f"{settings.s3_prefix}{area}/")
