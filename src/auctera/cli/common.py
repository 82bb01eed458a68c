"""What every `auctera` command shares: the --data-dir option, the container it opens, JSON on
stdout for tools, messages on stderr for people."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.errors import AucteraError

err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="State, event journal, uploads and exports [AUCTERA_DATA_DIR]."),
]


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    """The flag wins, else AUCTERA_DATA_DIR, else ./data."""
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return Settings(**overrides)


@contextmanager
def container_for(data_dir: Path | None) -> Iterator[Container]:
    container = build(settings_for(data_dir))
    try:
        yield container
    except AucteraError as exc:
        err.print(f"[red]error[/red]: {exc.message}" + (f" ({exc.field})" if exc.field else ""))
        raise typer.Exit(2) from None
    finally:
        container.close()


def emit(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")
