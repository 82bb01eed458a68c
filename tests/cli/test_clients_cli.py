"""`auctera clients …`: the operator rotates and revokes an account's OAuth2 client from the host,
and the server's token endpoint agrees at once."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from auctera.app import create_app
from auctera.config import Settings

from .test_cli import run, run_json


def _token_status(data_dir: Path, client_id: str, client_secret: str) -> int:
    app = create_app(Settings(data_dir=data_dir))
    try:
        with TestClient(app) as client:
            form = {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            }
            return client.post("/oauth2/token", data=form).status_code
    finally:
        app.container.close()


def test_clients_list_rotate_revoke(tmp_path: Path) -> None:
    acc = run_json("accounts", "create", "--name", "Acme", "--kind", "advertiser", data_dir=tmp_path)
    listed = run_json("clients", "list", "--account", acc["account_id"], data_dir=tmp_path)["data"]
    assert [(c["client_id"], c["revoked_at"]) for c in listed] == [(acc["client_id"], None)]
    assert all("client_secret" not in c for c in listed)

    rotated = run_json(
        "clients", "rotate", "--account", acc["account_id"], "--client", acc["client_id"],
        "--grace-seconds", "0", data_dir=tmp_path,
    )  # fmt: skip
    assert rotated["client_id"] == acc["client_id"]
    assert rotated["client_secret"].startswith("auc_cs_") and rotated["client_secret"] != acc["client_secret"]
    assert _token_status(tmp_path, acc["client_id"], acc["client_secret"]) == 401
    assert _token_status(tmp_path, acc["client_id"], rotated["client_secret"]) == 200

    other = run_json("accounts", "create", "--name", "Other", "--kind", "advertiser", data_dir=tmp_path)
    foreign = run(
        "clients", "revoke", "--account", other["account_id"], "--client", acc["client_id"], data_dir=tmp_path
    )
    assert foreign.returncode != 0 and "not found" in foreign.stderr
    revoked = run_json(
        "clients", "revoke", "--account", acc["account_id"], "--client", acc["client_id"], data_dir=tmp_path
    )
    assert revoked["revoked_at"] is not None
    assert _token_status(tmp_path, acc["client_id"], rotated["client_secret"]) == 401

    created = run_json("clients", "create", "--account", acc["account_id"], data_dir=tmp_path)
    assert _token_status(tmp_path, created["client_id"], created["client_secret"]) == 200
