"""Sponsored clicks: each one verified, screened, charged in a write transaction, logged, redirected.

(i) `GET /sp/click?t=<token>` on a line item with no cap in reach, so every click is charged
    (ledger row, six period rows, the prepaid balance; the clicks reaching the event loop together
    in one transaction, docs/spend.md), against, in the same server and run, the
    affiliate click redirect `GET /click` (no charge: one journal append) and a trivial raw-ASGI
    302 route. requests/s, p50, p99. Visitors as in bench_tracking: browsers from 200,000
    addresses (X-Forwarded-For), so the clicks are clean, not IVT. After the run the ledger must
    equal the period counters and the balance drawn, and hold one row per charged click event.

The server is `auctera.app.create_app` in a uvicorn subprocess (one worker, SQLite) on a free
loopback port over a temporary data directory. Run from the repository root:
    .venv/bin/python -m benchmarks.bench_spend
Environment: BENCH_SECONDS (default 3: one round), BENCH_CONNECTIONS (default 16).
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

try:
    import auctera  # noqa: F401
except ModuleNotFoundError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from sqlalchemy import func, select

from auctera.bootstrap import build
from auctera.config import Settings
from auctera.domain.click_tokens import ClickToken, Placement
from auctera.store.tables import spend_ledger, spend_periods
from benchmarks import fixtures
from benchmarks.bench_api import env_float, env_int, serving
from benchmarks.bench_tracking import BASE, BROWSER, TRIVIAL_REDIRECT, Measured, Server, Visitors, prepare

PRICE = 370_000  # 0.37 a click
ESPRESSO = fixtures.Product(
    "sku-1", "Espresso machine", "199.00", "https://shop.example.com/p/espresso-machine"
)
BALANCE = 10**15  # prepaid, and far from running out: every click draws it down


def sponsored(data_dir: Path) -> dict[str, Any]:
    """A retail-media line item promoting one product, made through the services, and a click token."""
    container = build(Settings(data_dir=data_dir, log_level="warning", tracking_url=BASE))
    try:
        advertiser = container.accounts.create_account("Bench advertiser", "advertiser")
        retailer_account = container.accounts.create_account("Bench retailer", "publisher")
        owner = fixtures.principal(container, advertiser.api_key)
        container.spend.set_balance(advertiser.account.id, BALANCE)
        # A total of a billion: like the line item's caps below, never in reach in a run.
        campaign_id = fixtures.retail_campaign(
            container,
            owner,
            budget=10**9,
            pacing="asap",
            bidding={"strategy": "manual_cpc", "target_amount": Decimal(PRICE) / 1_000_000},
        )
        retailer_id = fixtures.retailer(
            container,
            fixtures.principal(container, retailer_account.api_key),
            [ESPRESSO],
            domain="shop.example.com",
        )
        line_item_id, (product_id,) = fixtures.line_item(
            container,
            owner,
            campaign_id,
            retailer_id,
            [ESPRESSO.sku],
            name="Bench line item",
            start_date=date(2024, 1, 1),
            budget_micros=10**15,
            monthly_pacing_micros=10**15,
            daily_pacing_micros=10**15,
            target_bid_micros=PRICE,
        )
        token = ClickToken(
            container.ids.next_id(),
            line_item_id,
            campaign_id,
            product_id,
            retailer_account.account.id,
            PRICE,
            Placement.RETAIL,
            container.clock(),
        )
        click = container.sponsored_links.urls(token).click.removeprefix(BASE)
    finally:
        container.close()  # frees the node slot for the server
    return {"sponsored": click, "advertiser": advertiser.account.id}


def check(data_dir: Path, advertiser_id: int) -> str:
    """The ledger against the period counters, the balance and the event log, once the server stopped."""
    container = build(Settings(data_dir=data_dir, log_level="warning"), migrate=False)
    try:
        with container.engine.connect() as conn:
            rows, ledger = conn.execute(select(func.count(), func.sum(spend_ledger.c.amount_micros))).one()
            totals = (
                conn.execute(select(spend_periods.c.spent_micros).where(spend_periods.c.period == "total"))
                .scalars()
                .all()
            )
        balance = container.spend.balance(advertiser_id)
        if balance is None:
            raise SystemExit("FAILED: the advertiser is no longer prepaid")
        ((charged,),) = container.events.query(
            "SELECT count(*) FROM events WHERE type = 'click' AND cost_micros > 0"
        )
    finally:
        container.close()
    counters = sorted(set(totals))
    ok = counters == [ledger] and BALANCE - balance == ledger and rows == charged == ledger // PRICE
    summary = (
        f"{rows:,} ledger rows = {charged:,} charged click events, ledger {ledger / 1e6:,.2f}"
        f" = line item and campaign totals {', '.join(f'{c / 1e6:,.2f}' for c in counters)}"
        f" = balance drawn {(BALANCE - balance) / 1e6:,.2f}"
    )
    if not ok:
        raise SystemExit(f"FAILED: {summary}")
    return summary + ": equal"


def main() -> None:
    seconds = env_float("BENCH_SECONDS", 3.0)
    connections = env_int("BENCH_CONNECTIONS", 16)
    visitors = Visitors()
    load1, load5, _ = os.getloadavg()
    print(f"    (load average before the run: {load1:.2f} over 1 min, {load5:.2f} over 5 min)")
    with tempfile.TemporaryDirectory(prefix="bench-spend-") as scratch:
        data_dir = Path(scratch) / "data"
        data = prepare(data_dir) | sponsored(data_dir)
        with serving("benchmarks.bench_spend", data_dir) as (port, pid):
            srv = Server(port, pid)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                sample = client.get(data["sponsored"], headers=BROWSER, follow_redirects=False)
                assert sample.status_code == 302, sample.text
            routes = {
                "trivial": visitors.requests(TRIVIAL_REDIRECT),
                "click": visitors.requests(data["click"]),
                "sponsored": visitors.requests(data["sponsored"]),
            }
            m = Measured(srv, routes, seconds, connections, expect=302)
            print(m.header("(i) sponsored click, charged"))
            print(m.line(f"baseline: raw-ASGI 302 ({TRIVIAL_REDIRECT})", "trivial"))
            print(m.line("baseline: GET /click (affiliate, not charged)", "click"))
            print(m.line("GET /sp/click?t=.. (charged, group commit)", "sponsored"))
            print(f"        against the 302: {m.ratios('sponsored', 'trivial')}")
            print(f"        against /click:  {m.ratios('sponsored', 'click')}")
        print(f"    after the run: {check(data_dir, data['advertiser'])}")


def serve(data_dir: str, port: int) -> None:
    from benchmarks.bench_tracking import serve as serve_tracking

    serve_tracking(data_dir, port)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
