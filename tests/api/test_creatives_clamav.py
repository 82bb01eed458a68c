"""The malware scan through a real ClamAV daemon (clamd from Debian's clamav-daemon), run on a
private database holding the EICAR signature, so no signature download is needed."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auctera.app import create_app
from auctera.config import Settings
from support.creatives import EICAR, banner

from .conftest import Api

CLAMD = shutil.which("clamd") or ("/usr/sbin/clamd" if Path("/usr/sbin/clamd").exists() else None)
pytestmark = pytest.mark.skipif(CLAMD is None, reason="clamd (Debian: clamav-daemon) is not installed")
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"


@pytest.fixture
def clamd(tmp_path: Path) -> Iterator[Path]:
    db = tmp_path / "clamdb"
    db.mkdir()
    (db / "eicar.hdb").write_text(f"{EICAR_MD5}:{len(EICAR)}:Eicar-Test-Signature\n")
    sock = tmp_path / "clamd.sock"
    conf = tmp_path / "clamd.conf"
    conf.write_text(
        f"LocalSocket {sock}\nDatabaseDirectory {db}\nForeground yes\nLogFile {tmp_path}/clamd.log\n"
    )
    assert CLAMD is not None
    daemon = subprocess.Popen([CLAMD, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert daemon.poll() is None, (tmp_path / "clamd.log").read_text()
            assert time.monotonic() < deadline, "clamd did not open its socket"
            time.sleep(0.05)
        yield sock
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _upload(api: Api, name: str, data: bytes) -> dict[str, str]:
    files = {"file": (name, data, "application/octet-stream")}
    response = api.client.post(
        "/v2/creatives/upload", files=files, data={"type": "image"}, headers=api.headers
    )
    assert response.status_code == 201, response.text
    audit = api.call("GET", "/v2/creatives/audit", asset_id=response.json()["asset_id"])
    return dict(audit.json())


def test_clamd_flags_what_it_knows_and_passes_the_rest(clamd: Path, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", clamav_socket=str(clamd)))
    with TestClient(app) as client:
        acme = Api(app, client)
        flagged = _upload(acme, "eicar.com", EICAR)
        assert (flagged["status"], flagged["malware_scan"]) == ("rejected", "infected")
        messages = [f["message"] for f in flagged["findings"]]
        assert any(m.startswith("matched clamav:Eicar-Test-Signature") for m in messages), messages
        assert "matched yara:EICAR_Test_File" in messages  # both scanners ran
        assert _upload(acme, "banner_300x250.jpg", banner())["malware_scan"] == "clean"
    app.container.close()


def test_an_unreachable_clamd_fails_closed(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", clamav_socket=str(tmp_path / "nobody.sock")))
    with TestClient(app) as client:
        result = _upload(Api(app, client), "banner_300x250.jpg", banner())
        assert (result["status"], result["malware_scan"]) == ("rejected", "error")
    app.container.close()
