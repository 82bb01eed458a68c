"""`auctera feeds ...` and `auctera retailers ...`: product catalogs from the command line.

    auctera retailers create --account adv_… --name "Acme Shop" --domain shop.example.com
    auctera feeds import ret_… products.csv [--format csv|tsv|json|jsonl|xml]

Both print one JSON object on stdout (what tools read). The import shows a progress bar (bytes of
the file read) and a table of the rows it rejected on stderr. What is wrong inside the feed does
not refuse the command: as over HTTP, the import is recorded with its report, and when it failed
the error that stopped it is one `error:` line and it exits 1 (docs/operations.md says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from auctera.api.v2.retailers import import_json, retailer_json
from auctera.cli.common import DataDir, container_for, emit, err, fail, progress
from auctera.domain import ids as idfmt
from auctera.domain.accounts import parse_account_id
from auctera.domain.catalog import FeedFormat, FeedImport, ImportStatus
from auctera.domain.ids import from_decimal
from auctera.feeds import detect_format

feeds_app = typer.Typer(help="Product feeds: import a retailer's catalog.", no_args_is_help=True)
retailers_app = typer.Typer(
    help="Retailers (retail sites and merchants, with product catalogs).", no_args_is_help=True
)

MAX_ERRORS_SHOWN = 50


class _Counted:
    """A file whose reads advance the progress bar (from whichever thread reads it)."""

    def __init__(self, file: BinaryIO, progress: Progress, task: Any) -> None:
        self._file = file
        self._progress = progress
        self._task = task

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._progress.advance(self._task, len(data))
        return data


@retailers_app.command("create")
def retailers_create(
    account: Annotated[
        str,
        typer.Option(
            "--account",
            help="The owner: a publisher (pub_…) for a retail site, an advertiser (adv_…) for a merchant.",
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    domain: Annotated[str, typer.Option("--domain", help="Web site host name, e.g. shop.example.com.")],
    data_dir: DataDir = None,
) -> None:
    """Create a retailer (a retail site or a merchant) in an account; prints it as JSON."""
    account_id = parse_account_id(account)
    if account_id is None:
        raise fail(f"not an account id: {account!r}")
    with container_for(data_dir) as c:
        retailer = c.catalog.create_retailer(None, name, domain, account_id=account_id)
    emit(retailer_json(retailer))


@feeds_app.command("import")
def feeds_import(
    retailer: Annotated[str, typer.Argument(help="The retailer (ret_…).")],
    file: Annotated[Path, typer.Argument(help="The feed: .csv, .tsv, .json, .jsonl or .xml.")],
    format: Annotated[
        FeedFormat | None, typer.Option("--format", help="When the file name does not tell.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Import a product feed: valid rows land, bad ones are listed, vanished products go out of stock."""
    retailer_id = idfmt.parse("ret", retailer) if not retailer.isdigit() else from_decimal(retailer)
    if retailer_id is None:
        raise fail(f"not a retailer id: {retailer!r}")
    fmt = format or detect_format(file.name)
    if fmt is None:
        raise fail(f"cannot tell the format of {file.name}: pass --format csv|tsv|json|jsonl|xml")
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with handle, container_for(data_dir) as c:
        with progress(*columns) as shown:
            task = shown.add_task(f"importing {file.name}", total=file.stat().st_size)

            def show(report: FeedImport) -> None:
                shown.update(
                    task, description=f"{report.rows_valid:,} products, {report.rows_invalid:,} rejected"
                )

            report = c.catalog.import_feed(
                None,
                retailer_id,
                _Counted(handle, shown, task),
                fmt,
                source=file.name,
                progress=show,  # type: ignore[arg-type]
            )
        if report.status is ImportStatus.SUCCEEDED:
            # No server worker here: the /v3 feed files are rendered now, before we exit.
            err.print("rendering the /v3 feed files of the programs offering this catalog...")
            programs = c.partner_programs.render_catalog_files(report.retailer_id)
            err.print(f"rendered the /v3 feed files (JSON, XML, CSV) of {programs} program(s)")
    _show_errors(report)
    emit(import_json(report))
    if report.status is ImportStatus.FAILED:
        raise typer.Exit(1)


def _show_errors(report: FeedImport) -> None:
    """The rejected rows as a table, then, when the import failed, the error that stopped it in one
    `error:` line (it is the report's last error), as every command says what went wrong."""
    rejected = list(report.errors)
    stopped = rejected.pop() if report.status is ImportStatus.FAILED and rejected else None
    if rejected:
        table = Table("line", "field", "reason", title=f"{report.rows_invalid:,} rows rejected")
        for e in rejected[:MAX_ERRORS_SHOWN]:
            table.add_row(str(e.line), e.field or "", Text(e.reason))  # the feed's values, not markup
        err.print(table)
        if len(rejected) > MAX_ERRORS_SHOWN:
            hidden = len(rejected) - MAX_ERRORS_SHOWN
            err.print(f"... and {hidden} more (the first {len(rejected):,} are in the JSON report)")
    if report.status is ImportStatus.FAILED:
        where = f"line {stopped.line}: " if stopped is not None and stopped.line else ""
        field = f"{stopped.field}: " if stopped is not None and stopped.field else ""
        reason = stopped.reason if stopped is not None else "stopped"
        import_id = idfmt.render("imp", report.id)
        err.print(
            f"[red]error[/red]: the import failed: {escape(where + field + reason)} "
            f"({import_id}, its report on stdout)",
            soft_wrap=True,
        )
