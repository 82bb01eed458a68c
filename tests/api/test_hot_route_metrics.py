"""/metrics counts the raw hot routes (click, pixels, sponsored links, SmartLink, health) and
FastAPI's own pages (/docs, /openapi.json) by method, route and status, like every API route;
with several worker processes the counts add up across them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from .conftest import Api

Key = tuple[str, str, str]


def _requests_total(text: str) -> dict[Key, float]:
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "auctera_http_requests_total"
    }


def test_hot_routes_and_docs_are_counted_by_route_and_status(client: TestClient, acme: Api) -> None:
    campaign_id = acme.create(destination_url="https://shop.example.com/")
    body = {"name": "Dynamic", "variables": {"cta": ["Buy now"]}, "campaign_id": campaign_id}
    template = acme.call("POST", "/v2/creatives/dco", body).json()["dco_template_id"]
    served = acme.call("GET", f"/v2/creatives/dco/{template}/serve").json()
    click_path = f"{urlsplit(served['click_url']).path}?{urlsplit(served['click_url']).query}"
    before = _requests_total(client.get("/metrics").text)

    for _ in range(2):
        assert client.get(click_path, follow_redirects=False).status_code == 302
    assert client.get("/click?c=zz", follow_redirects=False).status_code == 404
    assert client.post(click_path).status_code == 405
    assert client.get("/imp?c=zz").status_code == 404
    assert client.get("/sp/click?t=not-a-token").status_code == 400
    assert client.get("/s/123").status_code == 404
    assert client.get("/s/456").status_code == 404
    assert client.get("/healthz").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/v2/campaigns/cmp_abc").status_code == 401  # raw, through the middleware

    after = _requests_total(client.get("/metrics").text)
    delta = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert delta == {
        ("GET", "/click", "302"): 2,
        ("GET", "/click", "404"): 1,
        ("POST", "/click", "405"): 1,
        ("GET", "/imp", "404"): 1,
        ("GET", "/sp/click", "400"): 1,
        ("GET", "/s/{path}", "404"): 2,  # one series per route, never per raw path
        ("GET", "/healthz", "200"): 1,
        ("GET", "/docs", "200"): 1,
        ("GET", "/openapi.json", "200"): 1,
        ("GET", "/v2/campaigns/{campaign_id}", "401"): 1,  # counted once, by its middleware
        ("GET", "/metrics", "200"): 1,  # the first scrape
    }


def test_hot_route_counts_add_up_across_worker_processes(tmp_path: Path) -> None:
    """Each worker writes its hot-route counts to its files (every few seconds, and when it stops);
    a scrape answered by any worker sums them."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    worker = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from starlette.testclient import TestClient
        from auctera.app import create_app
        from auctera.config import Settings
        with TestClient(create_app(Settings(data_dir=Path(sys.argv[1]), log_level="warning"))) as c:
            for _ in range(3):
                assert c.get("/click?c=zz").status_code == 404
        """
    )
    for i in range(2):
        subprocess.run([sys.executable, "-c", worker, str(tmp_path / f"data{i}")], env=env, check=True)
    scrape = (
        "from starlette.testclient import TestClient\nfrom auctera.api.observability import metrics_app\n"
    )
    scrape += 'print(TestClient(metrics_app()).get("/").text)'
    out = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, capture_output=True, text=True)
    assert _requests_total(out.stdout)["GET", "/click", "404"] == 6
