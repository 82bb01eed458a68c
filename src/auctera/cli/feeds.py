"""`auctera feeds ...` and `auctera retailers ...`: product catalogs from the command line.

    auctera retailers create --account adv_… --name "Acme Shop" --domain shop.example.com
    auctera feeds import ret_… products.csv [--format csv|tsv|json|jsonl|xml]

Both print one JSON object on stdout (what tools read). The import shows a progress bar (bytes of
the file read) and a table of the rows it rejected on stderr, and exits 1 when the import failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from auctera.api.v2.retailers import import_json, retailer_json
from auctera.cli.common import DataDir, container_for, emit, err, fail
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
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task(f"importing {file.name}", total=file.stat().st_size)

            def show(report: FeedImport) -> None:
                progress.update(
                    task, description=f"{report.rows_valid:,} products, {report.rows_invalid:,} rejected"
                )

            report = c.catalog.import_feed(
                None,
                retailer_id,
                _Counted(handle, progress, task),
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
    if not report.errors:
        return
    title = f"{report.rows_invalid:,} rows rejected" + (
        " - the import failed" if report.status is ImportStatus.FAILED else ""
    )
    table = Table("line", "field", "reason", title=title)
    for e in report.errors[:MAX_ERRORS_SHOWN]:
        table.add_row(str(e.line), e.field or "", e.reason)
    err.print(table)
    if len(report.errors) > MAX_ERRORS_SHOWN:
        hidden = len(report.errors) - MAX_ERRORS_SHOWN
        err.print(f"... and {hidden} more (the first {len(report.errors):,} are in the JSON report)")
