"""The real app on a temporary data dir, and accounts to call it with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp, create_app
from auctera.config import Settings


@pytest.fixture
def app(tmp_path: Path) -> Iterator[RootApp]:
    application = create_app(Settings(data_dir=tmp_path / "data", log_json=True))
    yield application
    application.container.close()


@pytest.fixture
def client(app: RootApp) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
