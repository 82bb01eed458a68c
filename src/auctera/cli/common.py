"""What every `auctera` command shares: the --data-dir option, the container it opens, JSON on
stdout for tools, messages on stderr for people."""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from typer.core import TyperGroup

from auctera.bootstrap import Container, build
from auctera.config import Settings
from auctera.errors import AucteraError
from auctera.store.deployment import OtherEventLog

err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="State, event journal, uploads and exports [AUCTERA_DATA_DIR]."),
]


# The port of the simulated ad network `auctera demo` starts and its bids go to (cli/demo.py).
DEMO_PARTNER_PORT = 9100


def fail(message: str) -> typer.Exit:
    """A one-line error on stderr; raise what it returns (exit status 2, as click's usage errors).
    The message is plain text: a '[' in what the user typed is shown, not taken for markup."""
    err.print(f"[red]error[/red]: {escape(message)}", soft_wrap=True)  # one line, however long
    return typer.Exit(2)


def progress(*columns: Any) -> Progress:
    """A progress display on stderr, shown only to a person at a terminal: to a pipe or a file it
    would show nothing but write a blank line when it stops, before the command's error line."""
    return Progress(*columns, console=err, transient=True, disable=not err.is_interactive)


def read_text(path: Path) -> str:
    """A file a command reads whole ('-': standard input), as docs/operations.md promises: UTF-8
    text (a byte-order mark is dropped), else refused in one line naming the file and the line,
    before anything is written. Never decoded with replacement characters: a list or a bid sheet
    that is not UTF-8 is not what its author thinks it is."""
    name = "standard input" if str(path) == "-" else str(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except FileNotFoundError:
        raise fail(f"no such file: {name}") from None
    except OSError as exc:  # a directory, no permission, an I/O error
        raise fail(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise fail(f"{name}: line {line} is not UTF-8 text (save the file as UTF-8)") from None


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


# The settings a command's own flag sets (the flag is named in an error, not the variable).
_SETTING_FLAGS = {"data_dir": "--data-dir"}
# Never echoed back in an error (stderr ends up in logs).
_SECRET_SETTINGS = {"click_token_secret", "database_url"}


def settings_error(exc: ValidationError, flags: Collection[str] = ()) -> str:
    """One line for a bad setting: the AUCTERA_* variable (or the flag) and what it may be, e.g.
    `AUCTERA_NODE_ID: should be less than or equal to 255, got '300'`, not pydantic's report
    naming the internal field over several lines."""
    first = exc.errors(include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ").removeprefix("Input ")
    if first["type"] == "bool_parsing":
        message = "should be true or false (also 1/0, yes/no, on/off)"
    if not first["loc"]:  # a check across settings: its message names the variables
        return message
    field = str(first["loc"][0])
    # A value given by a flag (`flags`: the fields the command set) is named as the flag.
    name = _SETTING_FLAGS.get(field, f"--{field}") if field in flags else f"AUCTERA_{field.upper()}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    given = "" if field in _SECRET_SETTINGS else f", got {first['input']!r}"
    return f"{name}: {message}{given}{more}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from AUCTERA_* variables (and a command's flags): a bad value is refused in one
    line, exit status 2, before anything is started or written (docs/operations.md)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise fail(settings_error(exc, flags=overrides.keys())) from None
    except SettingsError as exc:  # a value pydantic-settings could not even parse (JSON lists)
        raise fail(str(exc)) from None


def settings_for(data_dir: Path | None, **overrides: Any) -> Settings:
    """The flag wins, else AUCTERA_DATA_DIR, else ./data. The directory is created, owner-only
    (0700: it holds the database, with signing and webhook secrets, in clear); one that exists
    keeps the permissions its operator gave it."""
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = load_settings(**overrides)
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
    try:
        container = build(settings_for(data_dir))
    except OtherEventLog as exc:
        raise fail(str(exc)) from None
    try:
        yield container
    except AucteraError as exc:
        raise fail(exc.message + (f" ({exc.field})" if exc.field else "")) from None
    finally:
        container.close()


def emit(obj: Any) -> None:
    sys.stdout.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode() + "\n")
