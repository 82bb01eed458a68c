"""`auctera fraud ...`: the operator's IP range lists for the invalid-traffic filters.

    auctera fraud import-ranges dc.txt --name hosting --kind datacenter
    auctera fraud list-ranges
    auctera fraud remove-ranges hosting

The list is UTF-8 text (a file that is not is refused, naming its first such line). Import prints
one JSON object on stdout (what tools read) and a table of the bad lines, if any, on stderr.
Running servers pick a new or changed list up within a few seconds, without a restart.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auctera.cli.common import DataDir, emit, err, fail, read_text, settings_for
from auctera.domain.fraud import RangeKind
from auctera.ivt.ip_ranges import RangeImportError, import_ranges, list_ranges, remove_ranges

fraud_app = typer.Typer(
    help="Invalid-traffic filters: data-centre and VPN IP range lists.", no_args_is_help=True
)

MAX_BAD_LINES_SHOWN = 50


def _data_dir(data_dir: Path | None) -> Path:
    return settings_for(data_dir).data_dir


@fraud_app.command("import-ranges")
def import_ranges_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="CIDRs, addresses or start-end ranges, one per line ('-' reads stdin).",
            allow_dash=True,
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="List name (replaces a list of that name).")],
    kind: Annotated[RangeKind, typer.Option("--kind", help="datacenter | vpn", case_sensitive=False)],
    data_dir: DataDir = None,
) -> None:
    """Import (or replace) an IP range list; bad lines are reported and skipped."""
    # Read whole and strictly UTF-8 first: a list that is not text is refused, not half-read with
    # replacement characters, and nothing (not even the data directory) is written before.
    lines = io.StringIO(read_text(file), newline=None)  # universal newlines, as open() reads
    try:
        result = import_ranges(_data_dir(data_dir), lines, name=name, kind=kind)
    except RangeImportError as exc:
        raise fail(str(exc)) from None
    if result.bad_lines:
        table = Table("line", "text", "error", title=f"{len(result.bad_lines)} bad lines skipped")
        for bad in result.bad_lines[:MAX_BAD_LINES_SHOWN]:
            table.add_row(str(bad.line), Text(bad.text), Text(bad.error))  # the file's text, not markup
        err.print(table)
        if len(result.bad_lines) > MAX_BAD_LINES_SHOWN:
            err.print(f"... and {len(result.bad_lines) - MAX_BAD_LINES_SHOWN} more")
    err.print(
        f"[green]imported[/green] {result.name} ({result.kind.value}): {result.accepted} entries, "
        f"{result.networks} networks after merging"
    )
    emit(
        {
            "name": result.name,
            "kind": result.kind.value,
            "path": str(result.path),
            "accepted": result.accepted,
            "networks": result.networks,
            "ipv4_addresses": result.ipv4_addresses,
            "replaced": result.replaced,
            "bad_lines": [{"line": b.line, "text": b.text, "error": b.error} for b in result.bad_lines],
        }
    )


@fraud_app.command("list-ranges")
def list_ranges_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of a table.")] = False,
    data_dir: DataDir = None,
) -> None:
    """The imported IP range lists."""
    lists = list_ranges(_data_dir(data_dir))
    if as_json:
        emit(
            {
                "data": [
                    {
                        "name": r.name,
                        "kind": r.kind.value,
                        "networks": r.networks,
                        "modified_at": r.modified_at.isoformat(),
                        "path": str(r.path),
                    }
                    for r in lists
                ]
            }
        )
        return
    table = Table("name", "kind", "networks", "modified_at")
    for r in lists:
        table.add_row(r.name, r.kind.value, str(r.networks), r.modified_at.isoformat(timespec="seconds"))
    Console().print(table)


@fraud_app.command("remove-ranges")
def remove_ranges_cmd(
    name: Annotated[str, typer.Argument(help="List name.")],
    data_dir: DataDir = None,
) -> None:
    """Delete an IP range list (idempotent)."""
    try:
        removed = remove_ranges(_data_dir(data_dir), name)
    except RangeImportError as exc:
        raise fail(str(exc)) from None
    emit({"name": name, "removed": removed})
