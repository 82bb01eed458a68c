"""Request ids, access log, HTTPS policy and metrics, through real FastAPI apps.

Most tests use a small app wired like the real one (error handlers, auth dependency, middleware)
with a fake credential store; the last ones run against `create_app`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from fastapi import Depends, FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from auctera.api.auth import bearer_principal
from auctera.api.errors import install_error_handlers
from auctera.api.middleware import install_middleware, route_template
from auctera.api.observability import configure_logging, metrics_app
from auctera.config import Settings
from auctera.counters.rate_limit import InProcessRateLimiter
from auctera.domain.accounts import AccountKind, Principal, render_account_id
from auctera.errors import NotFound, Unauthorized

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


class FakeAuth:
    """Credential -> principal, like AuthService.authenticate (and nothing cached: every request
    takes the lookup path, through the threadpool)."""

    def __init__(self, limits: dict[str, int | None]) -> None:
        self.principals = {
            key: Principal(
                account_id=n + 1,
                kind=AccountKind.ADVERTISER,
                timezone="UTC",
                currency="USD",
                rate_limit_per_minute=limit,
                credential_id=f"key:{n + 1}",
            )
            for n, (key, limit) in enumerate(limits.items())
        }

    def cached(self, credential: str | None) -> Principal | None:
        return None

    def authenticate(self, credential: str | None) -> Principal:
        if credential not in self.principals:
            raise Unauthorized("invalid API key")
        return self.principals[credential]


def small_app(
    tmp_path: Path,
    *,
    limits: dict[str, int | None] | None = None,
    limiter: InProcessRateLimiter | None = None,
    **settings: Any,
) -> FastAPI:
    """An app wired like create_app's FastAPI part, with a fake credential store."""
    config = Settings(data_dir=tmp_path, **settings)
    configure_logging(config)
    app = FastAPI()
    app.state.container = SimpleNamespace(
        settings=config,
        auth=FakeAuth(limits if limits is not None else {"good-key": None}),
        rate_limiter=InProcessRateLimiter() if limiter is None else limiter,
    )
    install_error_handlers(app)

    @app.get("/v2/things/{thing_id}")
    def get_thing(thing_id: str, principal: Principal = Depends(bearer_principal)) -> dict[str, Any]:
        structlog.get_logger("test.handler").info("fetching thing", thing_id=thing_id)
        if thing_id == "missing":
            raise NotFound("no such thing")
        return {"id": thing_id, "account_id": principal.account_id}

    @app.get("/open")
    async def open_route() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    sub = FastAPI()

    @sub.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.mount("/sub", sub)
    install_middleware(app, app.state.container)
    return app


AUTH = {"Authorization": "Bearer good-key"}


# --- request ids -----------------------------------------------------------------------------------


def test_a_request_id_is_generated_for_every_response(tmp_path: Path) -> None:
    client = TestClient(small_app(tmp_path))
    ids = {
        client.get(path, headers=AUTH).headers["x-request-id"] for path in ("/open", "/v2/things/1", "/nope")
    }
    assert len(ids) == 3
    assert all(GENERATED_ID.fullmatch(i) for i in ids)
    unauthorized = client.get("/v2/things/1")
    assert unauthorized.status_code == 401
    assert GENERATED_ID.fullmatch(unauthorized.headers["x-request-id"])


@pytest.mark.parametrize("incoming", ["abc-123", "9f1c2e1a-6d3b-4a8e-9a43-2f4b8c1d0e77", "lb:a/b+c=d@x"])
def test_a_sane_incoming_request_id_is_echoed(tmp_path: Path, incoming: str) -> None:
    response = TestClient(small_app(tmp_path)).get("/open", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize("incoming", ["", "has space", "x" * 129, "new\\nline", "semi;colon", "é"])
def test_an_insane_incoming_request_id_is_replaced(tmp_path: Path, incoming: str) -> None:
    response = TestClient(small_app(tmp_path)).get("/open", headers={"X-Request-ID": incoming.encode()})
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


def test_the_request_id_is_on_every_log_line_of_the_request(tmp_path: Path) -> None:
    client = TestClient(small_app(tmp_path))
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = client.get("/v2/things/7", headers={**AUTH, "X-Request-ID": "req-7"})
    assert response.status_code == 200
    # One from the handler (run in a worker thread), one access line.
    assert [(e["event"], e["request_id"]) for e in logs] == [
        ("fetching thing", "req-7"),
        ("request", "req-7"),
    ]


# --- access log -----------------------------------------------------------------------------------


def test_one_access_line_per_request(tmp_path: Path) -> None:
    client = TestClient(small_app(tmp_path))
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = client.get("/v2/things/42?token=secret", headers=AUTH)
        client.get("/open")
    lines = [e for e in logs if e["event"] == "request"]
    assert len(lines) == 2
    first = lines[0]
    assert {k: first[k] for k in ("method", "path", "status", "account_id", "log_level")} == {
        "method": "GET",
        "path": "/v2/things/42",  # never the query string: it can carry credentials
        "status": 200,
        "account_id": render_account_id(AccountKind.ADVERTISER, 1),
        "log_level": "info",
    }
    assert first["request_id"] == response.headers["x-request-id"]
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
    assert "account_id" not in lines[1]  # not authenticated


def test_a_throttled_request_is_logged_with_its_account(tmp_path: Path) -> None:
    """The operator sees which account is being throttled."""
    client = TestClient(small_app(tmp_path, limits={"good-key": 1}))
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        assert client.get("/v2/things/1", headers=AUTH).status_code == 200
        assert client.get("/v2/things/1", headers=AUTH).status_code == 429
    lines = [e for e in logs if e["event"] == "request"]
    assert [(e["status"], e.get("account_id")) for e in lines] == [
        (200, render_account_id(AccountKind.ADVERTISER, 1)),
        (429, render_account_id(AccountKind.ADVERTISER, 1)),
    ]


def test_http_client_requests_are_not_logged_with_their_urls(tmp_path: Path) -> None:
    """httpx logs each request's full URL at info; a postback URL may carry a credential."""
    configure_logging(Settings(data_dir=tmp_path, log_level="debug"))
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)
    assert logging.getLogger("auctera").isEnabledFor(logging.DEBUG)


def test_server_errors_answer_in_the_envelope_with_the_request_id(tmp_path: Path) -> None:
    client = TestClient(small_app(tmp_path), raise_server_exceptions=False)
    with capture_logs() as logs:
        response = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-boom"
    # The server drops the connection after it: a keep-alive client is told not to reuse it.
    assert response.headers["connection"] == "close"
    assert response.json() == {
        "success": False,
        "error": {"code": "internal_error", "message": "internal server error", "field": None},
    }
    access = [e for e in logs if e["event"] == "request"]
    assert [(e["status"], e["log_level"]) for e in access] == [(500, "error")]


def test_server_errors_still_reach_the_server(tmp_path: Path) -> None:
    # Re-raised, so the ASGI server logs the traceback (and tests see the bug).
    with pytest.raises(RuntimeError, match="bug"):
        TestClient(small_app(tmp_path)).get("/boom")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.mark.usefixtures("restore_logging")
def test_logging_writes_json_lines_to_stdout_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path, log_json=True, log_level="info")
    configure_logging(settings)
    configure_logging(settings)  # idempotent: still one line per event
    structlog.get_logger("auctera.test").info("hello", answer=42)
    logging.getLogger("some.library").warning("from the standard library")
    structlog.get_logger("auctera.test").debug("below the level")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["event"], line["level"], line["logger"]) for line in lines] == [
        ("hello", "info", "auctera.test"),
        ("from the standard library", "warning", "some.library"),
    ]
    assert lines[0]["answer"] == 42
    assert lines[0]["timestamp"].endswith("Z")


@pytest.mark.usefixtures("restore_logging")
def test_logging_console_format_and_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(data_dir=tmp_path, log_json=False, log_level="debug"))
    structlog.get_logger("auctera.test").debug("for people", answer=42)
    out = capsys.readouterr().out
    assert "for people" in out
    assert "answer" in out
    assert not out.lstrip().startswith("{")
    with pytest.raises(ValueError):
        configure_logging(Settings(data_dir=tmp_path, log_level="chatty"))


# --- HTTPS policy ---------------------------------------------------------------------------------


def test_plain_http_is_refused_when_https_is_required(tmp_path: Path) -> None:
    limiter = InProcessRateLimiter()
    client = TestClient(small_app(tmp_path, require_https=True, limiter=limiter))
    response = client.get("/v2/things/1", headers={**AUTH, "X-Request-ID": "req-http"})
    assert response.status_code == 403
    assert response.json() == {
        "success": False,
        "error": {
            "code": "https_required",
            "message": "HTTPS is required: this API refuses plain-HTTP calls",
            "field": None,
        },
    }
    assert response.headers["x-request-id"] == "req-http"
    assert limiter.tracked_keys() == 0  # refused before auth: the call did not count against the quota


def test_https_passes_directly_or_behind_a_proxy(tmp_path: Path) -> None:
    app = small_app(tmp_path, require_https=True)
    assert TestClient(app, base_url="https://testserver").get("/v2/things/1", headers=AUTH).status_code == 200
    client = TestClient(app)  # plain HTTP between proxy and app
    for proto, status in [
        ("https", 200),
        ("HTTPS", 200),
        ("https, http", 200),
        ("http", 403),
        ("http, https", 403),
    ]:
        assert client.get("/open", headers={"X-Forwarded-Proto": proto}).status_code == status, proto


def test_plain_http_is_fine_by_default(tmp_path: Path) -> None:
    assert TestClient(small_app(tmp_path)).get("/open").status_code == 200


# --- metrics --------------------------------------------------------------------------------------


def _requests_total(client: TestClient) -> dict[tuple[str, str, str], float]:
    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    counts: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(scrape.text):
        for sample in family.samples:
            if sample.name == "auctera_http_requests_total":
                labels = sample.labels
                counts[labels["method"], labels["route"], labels["status"]] = sample.value
    return counts


def test_metrics_count_requests_by_route_template(tmp_path: Path) -> None:
    app = small_app(tmp_path)
    app.mount("/metrics", metrics_app())
    client = TestClient(app)
    before = _requests_total(client)
    for n in range(3):
        client.get(f"/v2/things/{n}", headers=AUTH)
    client.get("/v2/things/9")  # 401
    client.get("/sub/items/5")
    client.get("/no/such/path/1234")
    client.request("BREW", "/open")
    after = _requests_total(client)

    def delta(key: tuple[str, str, str]) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert delta(("GET", "/v2/things/{thing_id}", "200")) == 3
    assert delta(("GET", "/v2/things/{thing_id}", "401")) == 1
    assert delta(("GET", "/sub/items/{item_id}", "200")) == 1
    assert delta(("GET", "<unmatched>", "404")) == 1
    assert delta(("OTHER", "/open", "405")) == 1
    assert not any("1234" in route for _, route, _ in after)


def test_route_template_of_a_mount_without_routes() -> None:
    from starlette.routing import Mount

    mount = Mount("/static", app=FastAPI())
    scope = {"route": mount, "root_path": "/static", "app_root_path": ""}
    assert route_template(scope) == "/static/{path}"
    assert route_template({"root_path": ""}) == "<unmatched>"


def test_metrics_add_up_across_worker_processes(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, each worker writes its own files and a scrape sums them."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    worker = "from auctera.api.observability import observe_request\n" + (
        "for _ in range(3): observe_request('GET', '/v2/campaigns', 200, 0.01)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True)
    scrape = textwrap.dedent(
        """
        from starlette.testclient import TestClient
        from auctera.api.observability import metrics_app, multiprocess_mode
        assert multiprocess_mode()
        print(TestClient(metrics_app()).get("/").text)
        """
    )
    out = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, capture_output=True, text=True)
    samples = {
        (s.name, s.labels.get("route")): s.value
        for family in text_string_to_metric_families(out.stdout)
        for s in family.samples
    }
    assert samples["auctera_http_requests_total", "/v2/campaigns"] == 6
    assert samples["auctera_http_request_duration_seconds_count", "/v2/campaigns"] == 6


# --- the real app ---------------------------------------------------------------------------------


def test_real_app_request_ids_and_metrics(client: TestClient) -> None:
    response = client.get("/v2/campaigns/cmp_abc", headers={"X-Request-ID": "real-1"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "real-1"
    assert GENERATED_ID.fullmatch(client.get("/v2/account").headers["x-request-id"])
    metrics = client.get("/metrics").text
    assert (
        'auctera_http_requests_total{method="GET",route="/v2/campaigns/{campaign_id}",status="401"}'
        in metrics
    )
    assert "cmp_abc" not in metrics


def test_real_app_https_policy_spares_healthz(tmp_path: Path) -> None:
    from auctera.app import create_app

    app = create_app(Settings(data_dir=tmp_path / "data", require_https=True))
    try:
        client = TestClient(app)
        assert client.get("/healthz").status_code == 200  # load balancers probe over plain HTTP
        assert client.get("/v2/account").json()["error"]["code"] == "https_required"
        # The routes served raw (api/raw_routes.py) keep the rule.
        assert client.get("/v2/campaigns/cmp_abc").json()["error"]["code"] == "https_required"
        assert client.post("/v2/conversions").json()["error"]["code"] == "https_required"
        # An OAuth2 client reads RFC 6749's error members, whatever refused it.
        token = client.post("/oauth2/token", data={"grant_type": "client_credentials"})
        assert token.status_code == 403
        assert token.json() == {
            "error": "invalid_request",
            "error_description": "https_required: HTTPS is required: this API refuses plain-HTTP calls",
        }
        forwarded = client.get("/v2/account", headers={"X-Forwarded-Proto": "https"})
        assert forwarded.status_code == 401  # through to auth
    finally:
        app.container.close()
