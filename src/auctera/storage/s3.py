"""The object store on an S3-compatible service (AWS S3, MinIO, Ceph RGW, Cloudflare R2, ...), so
that several machines share exports and creative assets.

Credentials come from boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and
~/.aws, web identity, the instance or task role): nothing of ours holds a secret. Large files go
up in parts (multipart upload, read from the file part by part: memory stays flat); a failed
upload is aborted by s3transfer, and a bucket lifecycle rule should abort the parts a killed
process leaves (docs/operations.md). Failures become `StorageUnavailable`, its message naming
the S3 error code but no host, since it reaches API callers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from auctera.services.ports import StorageUnavailable, StoredObject
from auctera.storage.keys import checked

log = logging.getLogger(__name__)

CHUNK = 1 << 20
PART_SIZE = 16 * 2**20  # S3 takes at most 10,000 parts: up to 160 GB a file
_MISSING = {"NoSuchKey", "404", "NotFound"}


def s3_client(
    endpoint_url: str | None,
    region: str | None,
    addressing_style: Literal["auto", "path", "virtual"] = "auto",
) -> Any:
    """A client of boto3's default session (the standard credentials chain). Thread-safe."""
    config = Config(
        s3={"addressing_style": addressing_style},
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class S3Store:
    def __init__(self, client: Any, bucket: str, prefix: str = "", *, part_size: int = PART_SIZE) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self._transfer = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size, max_concurrency=4
        )

    def _key(self, key: str) -> str:
        return self.prefix + checked(key)

    def put(self, key: str, data: bytes) -> None:
        name = self._key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=name, Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("store", name, exc) from exc

    def put_file(self, key: str, source: Path) -> int:
        name = self._key(key)
        size = source.stat().st_size
        try:
            self._client.upload_file(str(source), self.bucket, name, Config=self._transfer)
        except (BotoCoreError, ClientError, Boto3Error) as exc:
            raise _unavailable("store", name, exc) from exc
        source.unlink()
        return size

    def get(self, key: str) -> bytes | None:
        found = self.read(key)
        if found is None:
            return None
        return b"".join(found.chunks)

    def read(self, key: str) -> StoredObject | None:
        name = self._key(key)
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise _unavailable("read", name, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("read", name, exc) from exc
        return StoredObject(int(answer["ContentLength"]), _chunks(answer["Body"]))

    def delete(self, key: str) -> None:
        name = self._key(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=name)  # no error when not there
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("delete", name, exc) from exc


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(action: str, name: str, exc: Exception) -> StorageUnavailable:
    log.warning("object store: could not %s %s: %s", action, name, exc)
    return StorageUnavailable(
        f"the object store could not {action} the file ({_reason(exc)}): try again later"
    )


def _reason(exc: BaseException) -> str:
    """S3's error code (boto3's transfers wrap it in an S3UploadFailedError), else the error's kind."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return _code(seen)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
