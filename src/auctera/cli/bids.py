"""`auctera bids ...` and `auctera partners ...`: bid management from the command line.

    auctera bids upload --account adv_… bids.csv
    auctera bids list --account adv_… --campaign 123 [--country DE] [--offset 0 --limit 100]
    auctera bids work [--until-idle] [--threads 8]     # the bid sync worker, its own process
    auctera bids sync                                   # apply what is pending, then exit
    auctera bids status [--account adv_…]               # operations per status, the stuck ones
    auctera partners simulate --port 9100 [--token T] [--faults faults.json]

The CSV (UTF-8) has the JSON upload's fields as columns: adSetId, campaign.id (or campaignId),
country, sourceId, optimalBidUsd, delete; an empty cell is null. A sheet that cannot be read as
bids (a row with more or fewer cells than the header, a cell that is not a number) is refused in
one line naming its line, exit 2. The upload is checked whole, as the API does: when a bid is
rejected, nothing is stored, the rejected rows are listed and it exits 1.
"""

from __future__ import annotations

import csv
import io
import re
import signal
import threading
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from auctera.api.compat.bids import translate
from auctera.cli.common import (
    DataDir,
    bounded_seconds,
    container_for,
    emit,
    err,
    fail,
    progress,
    read_text,
)
from auctera.domain.accounts import Principal, parse_account_id
from auctera.domain.bids import BidFilter
from auctera.errors import AucteraError
from auctera.jobs.bid_sync import sync_worker
from auctera.services.bid_sync import BidSyncStatus
from auctera.services.bids import BidService

bids_app = typer.Typer(help="Bids on ad networks (seed 001): upload, list, sync.", no_args_is_help=True)
partners_app = typer.Typer(help="Ad-network partners: the simulated network.", no_args_is_help=True)

MAX_ERRORS_SHOWN = 50
_BOOLEANS = {"": False, "false": False, "0": False, "no": False, "true": True, "1": True, "yes": True}

AccountOpt = Annotated[str, typer.Option("--account", help="The account whose bids these are (adv_…).")]


def _principal(service_account: Any) -> Principal:
    a = service_account
    return Principal(a.id, a.kind, a.timezone, a.currency, a.rate_limit_per_minute, "cli")


def _cell(value: str | None) -> str | None:
    return None if value is None or value.strip() == "" else value.strip()


def _number(value: str | None, line: int, column: str) -> Decimal | int | None:
    text = _cell(value)
    if text is None:
        return None
    try:
        return int(text) if text.lstrip("-").isdigit() else Decimal(text)
    except InvalidOperation:
        raise fail(f"line {line}, {column}: not a number: {text!r}") from None


KNOWN_COLUMNS = {"adSetId", "campaign.id", "campaignId", "country", "sourceId", "optimalBidUsd", "delete"}


def csv_rows(text: str, progress: Progress) -> tuple[list[dict[str, Any]], list[int]]:
    """The CSV's rows as the JSON upload's objects (numbers exact, empty cells null), and the line
    of the file each starts on (blank lines and line breaks inside quoted cells counted)."""
    task = progress.add_task("reading the CSV", total=None)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return [], []
    unknown = set(header) - KNOWN_COLUMNS
    if unknown:
        raise fail(f"unknown columns {', '.join(sorted(unknown))}; use {', '.join(sorted(KNOWN_COLUMNS))}")
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not cells:  # a blank line
            continue
        # A row of more cells than the header has columns is shifted (an unquoted comma: 1,25 for
        # 1.25 is two cells), one of fewer lost some: either way the values are not under the
        # columns they were meant for, and taking them as they fall would store other bids.
        if len(cells) != len(header):
            raise fail(
                f"line {line}: {len(cells)} cells for the header's {len(header)} columns "
                "(a comma inside a value must be quoted; write decimals with a point: 1.25)"
            )
        record = dict(zip(header, cells, strict=True))
        delete = (_cell(record.get("delete")) or "").lower()
        if delete not in _BOOLEANS:
            raise fail(f"line {line}, delete: write true or false, not {delete!r}")
        campaign = record.get("campaign.id") if "campaign.id" in record else record.get("campaignId")
        rows.append(
            {
                "adSetId": _number(record.get("adSetId"), line, "adSetId"),
                "campaign": {"id": _number(campaign, line, "campaign.id")},
                "country": _cell(record.get("country")),
                "sourceId": _cell(record.get("sourceId")),
                "optimalBidUsd": _number(record.get("optimalBidUsd"), line, "optimalBidUsd"),
                "delete": _BOOLEANS[delete],
            }
        )
        lines.append(line)
        if len(rows) % 10_000 == 0:
            progress.update(task, description=f"read {len(rows):,} bids")
    progress.update(task, description=f"read {len(rows):,} bids", total=len(rows), completed=len(rows))
    return rows, lines


def _at_line(exc: AucteraError, lines: list[int]) -> str:
    """A shape error of upload row [i] (`[3].country: ...`) said as the CSV line it came from."""
    field = exc.field or ""
    found = re.match(r"\[(\d+)\]\.?", field)
    if found is None or not exc.message.startswith(field) or int(found[1]) >= len(lines):
        return exc.message
    column = field[found.end() :]
    where = f"line {lines[int(found[1])]}" + (f", {column}" if column else "")
    return where + exc.message[len(field) :]


@bids_app.command("upload")
def bids_upload(
    account: AccountOpt,
    file: Annotated[Path, typer.Argument(help="The bids, a CSV with the JSON upload's columns.")],
    data_dir: DataDir = None,
) -> None:
    """Upload bids from a CSV: all stored (pending) or, when any is rejected, none."""
    account_id = parse_account_id(account)
    if account_id is None:
        raise fail(f"not an account id: {account!r}")
    text = read_text(file)  # UTF-8 or refused, before anything is opened
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with container_for(data_dir) as c, progress(*columns) as shown:
        principal = _principal(c.accounts.get_account(account_id))
        try:
            raw, lines = csv_rows(text, shown)
        except csv.Error as exc:  # a quote left open at the end of the file
            raise fail(f"{file}: not a CSV: {exc}") from None
        try:
            rows = translate.upload_rows(raw)
        except AucteraError as exc:
            raise fail(_at_line(exc, lines)) from None
        shown.add_task(f"validating and storing {len(rows):,} bids", total=None)
        result = BidService(c.uow, c.ids, c.clock).upload(principal, rows)
    if result.rejections:
        _show_rejections(result.rejections, lines)
        emit(translate.rejected_json(result.rejections, len(rows)))
        raise typer.Exit(1)
    emit({"uploadId": result.upload_id, "accepted": result.accepted, "status": "pending"})


def _show_rejections(rejections: list[Any], lines: list[int]) -> None:
    table = Table(
        "line", "campaign", "ad set", "country", "source", "reason", title="bids rejected: none stored"
    )
    for r in rejections[:MAX_ERRORS_SHOWN]:
        row = r.row
        table.add_row(
            str(lines[r.index]),
            str(row.campaign_id),
            str(row.ad_set_id or ""),
            row.country,
            Text(row.source_id or ""),  # the sheet's text, not markup
            Text(r.message),
        )
    err.print(table)
    if len(rejections) > MAX_ERRORS_SHOWN:
        err.print(f"... and {len(rejections) - MAX_ERRORS_SHOWN} more (all are in the JSON report)")


@bids_app.command("list")
def bids_list(
    account: AccountOpt,
    network: Annotated[int | None, typer.Option("--network", help="Network id.")] = None,
    campaign: Annotated[int | None, typer.Option("--campaign", help="Network campaign id.")] = None,
    ad_set: Annotated[int | None, typer.Option("--ad-set", help="Ad set id.")] = None,
    country: Annotated[str | None, typer.Option("--country", help="ISO 3166-1 alpha-2.")] = None,
    source_id: Annotated[str | None, typer.Option("--source-id")] = None,
    offset: Annotated[int, typer.Option("--offset")] = 0,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    data_dir: DataDir = None,
) -> None:
    """The bids with the status of their latest operation, as the API lists them."""
    account_id = parse_account_id(account)
    if account_id is None:
        raise fail(f"not an account id: {account!r}")
    found = BidFilter(network, campaign, ad_set, country.upper() if country else None, source_id)
    with container_for(data_dir) as c:
        principal = _principal(c.accounts.get_account(account_id))
        bids = BidService(c.uow, c.ids, c.clock).bids(principal, found, offset=offset, limit=limit)
    emit({"data": [translate.bid_json(b) for b in bids]})


def _sync(data_dir: Path | None, lease_seconds: float | None, threads: int | None, until_idle: bool) -> None:
    with container_for(data_dir) as c:
        worker, partners = sync_worker(
            c.uow, c.ids, c.clock, c.settings, lease_seconds=lease_seconds, threads=threads
        )
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            worker.run(stop, until_idle=until_idle)
        finally:
            partners.close()
    emit({"steps": worker.steps, "settled": worker.settled})


LeaseOpt = Annotated[
    float | None,
    typer.Option(
        "--lease-seconds",
        callback=bounded_seconds(1, 86400),
        help="How long a claimed batch is left to this worker (default 4x timeout).",
    ),
]
ThreadsOpt = Annotated[  # the range of the setting (config.py)
    int | None,
    typer.Option("--threads", min=1, max=256, help="Batch steps in flight [AUCTERA_BID_SYNC_THREADS]."),
]


@bids_app.command("work")
def bids_work(
    lease_seconds: LeaseOpt = None,
    threads: ThreadsOpt = None,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Exit once no bid is pending.")] = False,
    data_dir: DataDir = None,
) -> None:
    """The bid sync worker, its own process: applies pending bids on their networks until stopped
    (SIGTERM or Ctrl-C finish the steps in flight; a SIGKILL loses nothing, see docs/api-bids.md)."""
    _sync(data_dir, lease_seconds, threads, until_idle)


@bids_app.command("sync")
def bids_sync(lease_seconds: LeaseOpt = None, threads: ThreadsOpt = None, data_dir: DataDir = None) -> None:
    """Apply every pending bid on its network now, then exit (`work --until-idle`)."""
    _sync(data_dir, lease_seconds, threads, True)


@bids_app.command("status")
def bids_status(
    account: Annotated[str | None, typer.Option("--account", help="Only this account's (adv_…).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Stuck operations shown at most.")] = 100,
    data_dir: DataDir = None,
) -> None:
    """Bid operations per status, and the stuck ones: pending past the settle bound."""
    account_id = None
    if account is not None:
        account_id = parse_account_id(account)
        if account_id is None:
            raise fail(f"not an account id: {account!r}")
    with container_for(data_dir) as c:
        if account_id is not None:
            c.accounts.get_account(account_id)  # an unknown account is refused, as upload and list do
        status = BidSyncStatus(c.uow, c.clock, timedelta(seconds=c.settings.bid_settle_seconds))
        counts = status.counts(account_id)
        stuck = status.stuck(account_id, limit=limit)
    emit({"operations": counts, "stuck": [translate.stuck_json(o, b) for o, b in stuck]})


@partners_app.command("simulate")
def partners_simulate(
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 9100,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    token: Annotated[
        str | None, typer.Option("--token", help="Require 'Authorization: Bearer TOKEN'.")
    ] = None,
    faults: Annotated[
        Path | None, typer.Option("--faults", help="A JSON list of faults to inject (see docs/api-bids.md).")
    ] = None,
) -> None:
    """Run the simulated ad network (the JSON bid protocol, bids in memory, injected faults)."""
    from auctera.partners.simulated import Fault, serve

    injected = []
    if faults is not None:
        try:
            injected = [Fault.from_json(item) for item in orjson.loads(read_text(faults))]
        except (ValueError, TypeError) as exc:
            raise fail(f"cannot use {faults}: {exc}") from None
    err.print(f"simulated ad network on http://{host}:{port} ({len(injected)} faults)")
    serve(port, host, injected, token)
