"""What every `auctera` command shares: the --data-dir option, the container it opens, JSON on
stdout for tools, messages on stderr for people."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.errors import AucteraError

err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="State, event journal, uploads and exports [AUCTERA_DATA_DIR]."),
]


# The port of the simulated ad network `auctera demo` starts and its bids go to (cli/demo.py).
DEMO_PARTNER_PORT = 9100


def fail(message: str) -> typer.Exit:
    """A one-line error on stderr; raise what it returns (exit status 2, as click's usage errors)."""
    err.print(f"[red]error[/red]: {message}", soft_wrap=True)  # one line, however long
    return typer.Exit(2)


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Click's usage errors (a value of the wrong type or out of range, a missing option or
    argument, an unknown command) as `fail` writes its errors: one line on stderr naming the
    command and the option, exit status 2, instead of a usage line, a hint and a boxed message."""
    try:
        yield
    except typer.TyperException as exc:  # the base of click's exceptions in typer's own click
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as typer shows it
            raise
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        err.print(f"[red]error[/red]: {escape(where + exc.format_message())}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


class OneLineErrorsGroup(TyperGroup):
    """The root `auctera` group. Every usage error, however deep the subcommand, is raised while
    the root group makes its context or invokes its subcommand, so catching it here covers every
    command, through the console script and through CliRunner alike; --help is untouched."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    """The flag wins, else AUCTERA_DATA_DIR, else ./data. The directory is created, owner-only
    (0700: it holds the database, with signing and webhook secrets, in clear); one that exists
    keeps the permissions its operator gave it."""
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(**overrides)
    prepare_data_dir(settings.data_dir)
    return settings


def prepare_data_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise fail(f"--data-dir: {path} is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--data-dir: cannot create {path}: {exc.strerror}") from None


def bounded_seconds(low: float, high: float) -> Any:
    """A click callback: a finite number of seconds from `low` to `high` (click's FloatRange lets
    nan and inf through), so timedelta() and the workers never see a negative or absurd one."""

    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise typer.BadParameter(f"must be from {low:g} to {high:g} seconds, got {value:g}")
        return value

    return check


@contextmanager
def container_for(data_dir: Path | None) -> Iterator[Container]:
    container = build(settings_for(data_dir))
    try:
        yield container
    except AucteraError as exc:
        raise fail(exc.message + (f" ({exc.field})" if exc.field else "")) from None
    finally:
        container.close()


def emit(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")
