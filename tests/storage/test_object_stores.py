"""Both object stores answer the same: the directory under the data dir and an S3 bucket on a real
S3 API server. Large files go up in parts and read back in chunks; an unreachable store raises
`StorageUnavailable` (503 on every surface) without naming its host."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from auctera.config import Settings
from auctera.services.ports import ObjectStore, StorageUnavailable
from auctera.storage.directory import DirectoryStore
from auctera.storage.s3 import S3Store, s3_client
from support.s3 import REGION, S3Server, closed_port

PART = 5 * 2**20  # S3's smallest part


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "directory":
        return DirectoryStore(tmp_path / "store")
    s3: S3Server = request.getfixturevalue("s3")
    bucket: str = request.getfixturevalue("bucket")
    return S3Store(s3_client(s3.endpoint, REGION, "path"), bucket, "pre/fix/", part_size=PART)


def test_put_get_read_delete(store: ObjectStore) -> None:
    assert store.get("1/none.zip") is None and store.read("1/none.zip") is None
    store.put("ast_a.jpg", b"first")
    store.put("ast_a.jpg", b"second")  # replaced
    assert store.get("ast_a.jpg") == b"second"
    found = store.read("ast_a.jpg")
    assert found is not None and found.size == 6 and b"".join(found.chunks) == b"second"
    store.delete("ast_a.jpg")
    store.delete("ast_a.jpg")  # nothing there: no error
    assert store.get("ast_a.jpg") is None


def test_a_large_file_goes_up_in_parts_and_comes_back_in_chunks(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "export.zip"
    with open(source, "wb") as out:
        for _ in range(12):
            out.write(os.urandom(2**20))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert store.put_file("42/7.zip", source) == 12 * 2**20
    assert not source.exists()  # handed over
    found = store.read("42/7.zip")
    assert found is not None and found.size == 12 * 2**20
    chunks = list(found.chunks)
    assert len(chunks) > 1 and max(map(len, chunks)) <= 2**20
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == digest


def test_the_large_file_is_a_multipart_object(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    store = S3Store(s3_client(s3.endpoint, REGION, "path"), bucket, "exports/", part_size=PART)
    source = tmp_path / "big.zip"
    source.write_bytes(os.urandom(11 * 2**20))
    store.put_file("1/2.zip", source)
    head = s3.client.head_object(Bucket=bucket, Key="exports/1/2.zip")
    assert head["ETag"].strip('"').endswith("-3")  # three parts of at most 5 MiB
    assert s3.keys(bucket) == ["exports/1/2.zip"]


@pytest.mark.parametrize("key", ["", "../x", ".hidden", "a//b", "a/../b", "a b", "a/b/c/d/e"])
def test_keys_cannot_escape(tmp_path: Path, key: str) -> None:
    unused = S3Store(s3_client(f"http://127.0.0.1:{closed_port()}", REGION), "bucket")  # refused first
    for store in (DirectoryStore(tmp_path), unused):
        with pytest.raises(ValueError, match="not an object key"):
            store.put(key, b"x")


def test_an_unreachable_store_raises_storage_unavailable(s3: S3Server) -> None:
    store = S3Store(s3_client(f"http://127.0.0.1:{closed_port()}", REGION, "path"), "bucket")
    with pytest.raises(StorageUnavailable) as raised:
        store.put("ast_a.jpg", b"x")
    assert raised.value.status_code == 503
    assert "EndpointConnectionError" in raised.value.message and "127.0.0.1" not in raised.value.message


def test_a_missing_bucket_raises_storage_unavailable(s3: S3Server, tmp_path: Path) -> None:
    store = S3Store(s3_client(s3.endpoint, REGION, "path"), "no-such-bucket")
    source = tmp_path / "f.zip"
    source.write_bytes(b"zip")
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        store.put_file("1/1.zip", source)
    assert source.exists()  # still there for the caller to clean up
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        store.read("1/1.zip")


def test_the_s3_backend_needs_a_bucket_and_a_clean_prefix(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="s3_bucket"):
        Settings(data_dir=tmp_path, storage_backend="s3")
    with pytest.raises(ValidationError, match="s3_prefix"):
        Settings(data_dir=tmp_path, storage_backend="s3", s3_bucket="b", s3_prefix="no-slash")
    assert (
        Settings(data_dir=tmp_path, storage_backend="s3", s3_bucket="b", s3_prefix="a/b/").s3_prefix == "a/b/"
    )
