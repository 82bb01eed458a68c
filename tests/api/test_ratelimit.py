"""Per-key quotas over HTTP: X-RateLimit-* on every counted response, 429 + Retry-After past it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.counters.rate_limit import InProcessRateLimiter

from .conftest import bearer
from .test_middleware import small_app

START = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _limits(response: httpx.Response) -> tuple[int, int, int]:
    headers = response.headers
    return (
        int(headers["x-ratelimit-limit"]),
        int(headers["x-ratelimit-remaining"]),
        int(headers["x-ratelimit-reset"]),
    )


def test_headers_on_every_counted_response_then_429(tmp_path: Path) -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(clock=clock, wall_clock=clock)
    client = TestClient(small_app(tmp_path, limits={"k": 3}, limiter=limiter))
    auth = bearer("k")
    ok = [client.get("/v2/things/1", headers=auth) for _ in range(2)]
    not_found = client.get("/v2/things/missing", headers=auth)  # any answer once auth has counted it
    assert [r.status_code for r in [*ok, not_found]] == [200, 200, 404]
    assert [_limits(r) for r in [*ok, not_found]] == [
        (3, 2, START + 20),
        (3, 1, START + 40),
        (3, 0, START + 60),
    ]

    limited = client.get("/v2/things/1", headers=auth)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "20"
    assert _limits(limited) == (3, 0, START + 60)
    assert limited.headers["x-request-id"]
    assert limited.json() == {
        "success": False,
        "error": {
            "code": "rate_limited",
            "message": "rate limit of 3 requests per minute exceeded; retry in 20s",
            "field": None,
        },
    }

    clock.now += 20
    assert client.get("/v2/things/1", headers=auth).status_code == 200


def test_limits_are_per_account_and_per_key(tmp_path: Path) -> None:
    # "low" and "high" set their own limits; "default" falls back to the platform's.
    limits: dict[str, int | None] = {"low": 1, "high": 5, "default": None}
    client = TestClient(small_app(tmp_path, limits=limits, default_rate_limit_per_minute=2))

    def statuses(key: str, n: int) -> list[int]:
        return [client.get("/v2/things/1", headers=bearer(key)).status_code for _ in range(n)]

    assert statuses("low", 2) == [200, 429]
    assert statuses("high", 6) == [200] * 5 + [429]
    assert statuses("default", 3) == [200, 200, 429]
    assert int(client.get("/v2/things/1", headers=bearer("high")).headers["x-ratelimit-limit"]) == 5


def test_no_rate_limit_headers_before_auth_counts(tmp_path: Path) -> None:
    client = TestClient(small_app(tmp_path))
    for response in (client.get("/v2/things/1"), client.get("/open")):
        assert "x-ratelimit-limit" not in response.headers
        assert "x-request-id" in response.headers


def test_real_app_quota_per_account(app: RootApp, client: TestClient) -> None:
    tight = app.container.accounts.create_account("Tight", "advertiser", rate_limit_per_minute=2)
    roomy = app.container.accounts.create_account("Roomy", "advertiser", rate_limit_per_minute=50)
    before = time.time()

    first, second, third = (client.get("/v2/account", headers=bearer(tight.api_key)) for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    limit, remaining, reset = _limits(first)
    assert (limit, remaining) == (2, 1)
    assert before < reset <= time.time() + 61  # epoch seconds, not milliseconds
    assert _limits(second)[:2] == (2, 0)
    assert _limits(third)[:2] == (2, 0)
    assert 1 <= int(third.headers["retry-after"]) <= 60

    roomy_auth = bearer(roomy.api_key)
    listed = client.get("/v2/campaigns", headers=roomy_auth)
    missing = client.get("/v2/campaigns/cmp_0000000000", headers=roomy_auth)
    assert [listed.status_code, missing.status_code] == [200, 404]
    assert [_limits(r)[:2] for r in (listed, missing)] == [(50, 49), (50, 48)]
