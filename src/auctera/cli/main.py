"""`auctera ...`: the command line. Output meant for tools is one JSON object on stdout."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from auctera.cli.audiences import audiences_app
from auctera.cli.bids import bids_app, partners_app
from auctera.cli.common import (
    DEMO_PARTNER_PORT,
    DataDir,
    OneLineErrorsGroup,
    container_for,
    emit,
    err,
    fail,
    load_settings,
    prepare_data_dir,
    settings_for,
)
from auctera.cli.exports import exports_app
from auctera.cli.feeds import feeds_app, retailers_app
from auctera.cli.fraud import fraud_app
from auctera.cli.webhooks import webhooks_app
from auctera.domain import ids as idfmt
from auctera.domain.accounts import parse_account_id, render_account_id
from auctera.domain.ids import from_decimal
from auctera.domain.money import plain

app = typer.Typer(
    help="Auctera: self-hosted performance-marketing engine.",
    no_args_is_help=True,
    cls=OneLineErrorsGroup,  # usage errors in one line, exit 2 (docs/operations.md)
)
accounts_app = typer.Typer(
    help="Accounts (advertisers, publishers, the network operator).", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys: create, list, revoke, rotate.", no_args_is_help=True)
clients_app = typer.Typer(
    help="OAuth2 clients (retail media's client_id/client_secret): create, list, revoke, rotate.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
blocklist_app = typer.Typer(help="The operator's blocklist of destination domains.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(clients_app, name="clients")
app.add_typer(db_app, name="db")
app.add_typer(blocklist_app, name="blocklist")
app.add_typer(fraud_app, name="fraud")
app.add_typer(feeds_app, name="feeds")
app.add_typer(retailers_app, name="retailers")
fx_app = typer.Typer(help="Exchange rates postbacks are converted with.", no_args_is_help=True)
app.add_typer(fx_app, name="fx")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(bids_app, name="bids")
app.add_typer(partners_app, name="partners")
app.add_typer(audiences_app, name="audiences")
app.add_typer(exports_app, name="exports")


def account_arg(text: str) -> int:
    value = parse_account_id(text)
    if value is None:
        raise fail(f"not an account id: {text!r}")
    return value


def key_arg(text: str) -> int:
    value = idfmt.parse("key", text) if not text.isdigit() else from_decimal(text)
    if value is None:
        raise fail(f"not a key id: {text!r}")
    return value


# --- accounts ---------------------------------------------------------------------------


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    kind: Annotated[str, typer.Option("--kind", help="advertiser | publisher | network")],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone for days and months.")] = "UTC",
    currency: Annotated[str, typer.Option("--currency", help="ISO 4217 currency.")] = "USD",
    rate_limit: Annotated[
        int | None, typer.Option("--rate-limit", help="Requests per minute per key.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an account; prints its credentials once, as JSON."""
    with container_for(data_dir) as c:
        new = c.accounts.create_account(
            name, kind, timezone=timezone, currency=currency, rate_limit_per_minute=rate_limit
        )
    emit(
        {
            "account_id": render_account_id(new.account.kind, new.account.id),
            "id": new.account.id,
            "name": new.account.name,
            "kind": new.account.kind.value,
            "timezone": new.account.timezone,
            "currency": new.account.currency,
            "api_key": new.api_key,
            "key_id": idfmt.render("key", new.key.id),
            "api_secret": new.account.signing_secret,
            "client_id": new.client_id,
            "client_secret": new.client_secret,
        }
    )


@accounts_app.command("list")
def accounts_list(data_dir: DataDir = None) -> None:
    """List accounts."""
    with container_for(data_dir) as c:
        rows = c.accounts.list_accounts()
    table = Table("account_id", "name", "kind", "timezone", "currency")
    for a in rows:
        table.add_row(render_account_id(a.kind, a.id), a.name, a.kind.value, a.timezone, a.currency)
    Console().print(table)


# --- keys --------------------------------------------------------------------------------

AccountOpt = Annotated[str, typer.Option("--account", help="Account id (adv_…, pub_…, net_…).")]
KeyOpt = Annotated[str, typer.Option("--key", help="Key id (key_…).")]
MAX_KEY_NAME = 255  # as the API's KeyCreate
MAX_GRACE_SECONDS = 30 * 86400  # as the API's KeyRotate and SecretRotate
GraceOpt = Annotated[
    int | None,
    typer.Option(
        "--grace-seconds",
        min=0,
        max=MAX_GRACE_SECONDS,
        help="How long the old credential (and what it issued) keeps working; default: a day.",
    ),
]


def _grace(seconds: int | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535)]


def _key_json(key: Any, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key_id": idfmt.render("key", key.id),
        "name": key.name,
        "hint": key.hint,
        "created_at": key.created_at.isoformat(),
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
    if secret is not None:
        out["api_key"] = secret
    return out


@keys_app.command("create")
def keys_create(
    account: AccountOpt,
    name: Annotated[str, typer.Option("--name")] = "default",
    data_dir: DataDir = None,
) -> None:
    """Create an API key; the key is shown once."""
    if not 1 <= len(name) <= MAX_KEY_NAME:
        raise fail(f"--name: must be 1 to {MAX_KEY_NAME} characters, got {len(name)}")
    with container_for(data_dir) as c:
        new = c.accounts.create_key(account_arg(account), name)
    emit(_key_json(new.key, new.secret))


@keys_app.command("list")
def keys_list(account: AccountOpt, data_dir: DataDir = None) -> None:
    """List an account's keys (never the keys themselves)."""
    with container_for(data_dir) as c:
        account_id = account_arg(account)
        c.accounts.get_account(account_id)  # an unknown account is an error, not an empty list
        keys = c.accounts.list_keys(account_id)
    emit({"data": [_key_json(k) for k in keys]})


@keys_app.command("revoke")
def keys_revoke(account: AccountOpt, key: KeyOpt, data_dir: DataDir = None) -> None:
    """Revoke a key at once (idempotent)."""
    with container_for(data_dir) as c:
        revoked = c.accounts.revoke_key(account_arg(account), key_arg(key))
    emit(_key_json(revoked))


@keys_app.command("rotate")
def keys_rotate(
    account: AccountOpt,
    key: KeyOpt,
    grace_seconds: GraceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Issue a replacement key; the old one expires after the grace period."""
    with container_for(data_dir) as c:
        grace = _grace(grace_seconds)
        new = c.accounts.rotate_key(account_arg(account), key_arg(key), grace)
    emit(_key_json(new.key, new.secret))


# --- OAuth2 clients ----------------------------------------------------------------------

ClientOpt = Annotated[str, typer.Option("--client", help="Client id (auc_ci_…).")]


def _client_json(client: Any, secret: str | None = None) -> dict[str, Any]:
    until = client.previous_secret_until
    out: dict[str, Any] = {
        "client_id": client.client_id,
        "created_at": client.created_at.isoformat(),
        "previous_secret_valid_until": until.isoformat() if until else None,
        "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None,
    }
    if secret is not None:
        out["client_secret"] = secret
    return out


@clients_app.command("list")
def clients_list(account: AccountOpt, data_dir: DataDir = None) -> None:
    """List an account's OAuth2 clients (never their secrets)."""
    with container_for(data_dir) as c:
        account_id = account_arg(account)
        c.accounts.get_account(account_id)  # an unknown account is an error, not an empty list
        clients = c.accounts.list_clients(account_id)
    emit({"data": [_client_json(client) for client in clients]})


@clients_app.command("create")
def clients_create(account: AccountOpt, data_dir: DataDir = None) -> None:
    """Create another OAuth2 client; the secret is shown once."""
    with container_for(data_dir) as c:
        new = c.accounts.create_client(account_arg(account))
    emit(_client_json(new.client, new.secret))


@clients_app.command("revoke")
def clients_revoke(account: AccountOpt, client: ClientOpt, data_dir: DataDir = None) -> None:
    """Revoke a client and end its access tokens (idempotent)."""
    with container_for(data_dir) as c:
        revoked = c.accounts.revoke_client(account_arg(account), client)
    emit(_client_json(revoked))


@clients_app.command("rotate")
def clients_rotate(
    account: AccountOpt,
    client: ClientOpt,
    grace_seconds: GraceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Issue a new client secret (same client_id); the old one ends after the grace period."""
    with container_for(data_dir) as c:
        grace = _grace(grace_seconds)
        new = c.accounts.rotate_client(account_arg(account), client, grace)
    emit(_client_json(new.client, new.secret))


@accounts_app.command("rotate-secret")
def accounts_rotate_secret(
    account: AccountOpt,
    grace_seconds: GraceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Issue a new postback signing secret (api_secret); the old one passes for the grace period."""
    with container_for(data_dir) as c:
        grace = _grace(grace_seconds)
        rotated = c.accounts.rotate_signing_secret(account_arg(account), grace)
    until = rotated.previous_signing_secret_until
    emit(
        {
            "account_id": render_account_id(rotated.kind, rotated.id),
            "api_secret": rotated.signing_secret,
            "previous_secret_valid_until": until.isoformat() if until else None,
        }
    )


@accounts_app.command("set-balance")
def accounts_set_balance(
    account: Annotated[str, typer.Argument(help="Account id (adv_…) or number.")],
    amount: Annotated[
        str, typer.Argument(help="Prepaid balance in the account's currency, e.g. 250.00; 'invoiced': none")
    ],
    data_dir: DataDir = None,
) -> None:
    """Set the prepaid balance auction spend draws down ('invoiced': no balance, never runs out)."""
    from auctera.domain.money import from_micros, to_micros

    micros: int | None = None
    if amount.lower() != "invoiced":
        try:
            micros = to_micros(amount)
        except ValueError as exc:
            raise fail(str(exc)) from None
    with container_for(data_dir) as c:
        account_id = account_arg(account)
        owner = c.accounts.get_account(account_id)
        balance = c.spend.set_balance(account_id, micros)
    shown = None
    if balance is not None:  # whole cents with two places, finer amounts exactly
        shown = f"{from_micros(balance):.2f}" if balance % 10_000 == 0 else str(from_micros(balance))
    emit(
        {"account_id": render_account_id(owner.kind, owner.id), "balance": shown, "currency": owner.currency}
    )


# --- exchange rates ------------------------------------------------------------------------

MIN_RATE = Decimal("0.000000001")
MAX_RATE = Decimal("1000000000")
MAX_RATE_DIGITS = 12
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


# `fx set EUR USD -1`: a negative rate reaches the rate check, which names it, rather than being
# taken for an unknown option (an option that is truly unknown is still refused, as extra).
@fx_app.command("set", context_settings={"ignore_unknown_options": True})
def fx_set(
    base: Annotated[str, typer.Argument(help="ISO 4217 code, e.g. EUR")],
    quote: Annotated[str, typer.Argument(help="ISO 4217 code, e.g. USD")],
    rate: Annotated[str, typer.Argument(help="1 BASE = RATE QUOTE, a decimal, e.g. 1.0842")],
    effective_from: Annotated[
        str | None,
        typer.Option("--from", help="The day (YYYY-MM-DD, UTC) it takes effect; default today. Not ahead."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Set the rate money in BASE is converted into QUOTE with, from a day on (today by default).
    Earlier rates are kept for the days before it: reports of those days do not change."""
    import pycountry

    codes = [base.upper(), quote.upper()]
    if any(pycountry.currencies.get(alpha_3=code) is None for code in codes) or codes[0] == codes[1]:
        raise fail(f"need two different ISO 4217 codes, got {base!r} and {quote!r}")
    try:
        value = Decimal(rate.strip())
    except InvalidOperation:
        value = Decimal(0)
    # Conversions multiply amounts by it: an absurd rate (1e999999) overflows them, and no
    # currency pair is anywhere near these bounds.
    digits = len(value.normalize().as_tuple().digits) if value.is_finite() else 0
    if not value.is_finite() or not MIN_RATE <= value <= MAX_RATE or digits > MAX_RATE_DIGITS:
        raise fail(
            f"the rate must be a decimal from {MIN_RATE:f} to {MAX_RATE} with at most "
            f"{MAX_RATE_DIGITS} significant digits, got {rate!r}"
        )
    with container_for(data_dir) as c:
        now = c.clock()
        today = now.astimezone(UTC).date()
        day = today if effective_from is None else _day(effective_from, "--from")
        if day > today:
            raise fail(f"--from {day} is ahead of today ({today}, UTC): set a rate once it takes effect")
        with c.uow() as uow:
            uow.fx_rates.set(codes[0], codes[1], value, now, day)
            uow.commit()
    # Shown as `fx list` shows it: plain digits, no trailing zeros, never 1E-9.
    emit({"base": codes[0], "quote": codes[1], "rate": plain(value), "from": day.isoformat()})


def _day(text: str, option: str) -> date:
    try:
        if _ISO_DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise fail(f"{option} must be a day as YYYY-MM-DD, got {text!r}")


@fx_app.command("list")
def fx_list(data_dir: DataDir = None) -> None:
    """The exchange rates set, one JSON object."""
    with container_for(data_dir) as c, c.uow(read_only=True) as uow:
        rates = uow.fx_rates.list()
    emit(
        {
            "rates": [
                {
                    "base": b,
                    "quote": q,
                    "from": day.isoformat(),
                    "rate": plain(r),
                    "updated_at": at.isoformat(),
                }
                for b, q, day, r, at in rates
            ]
        }
    )


# --- blocklist ---------------------------------------------------------------------------


@blocklist_app.command("add")
def blocklist_add(
    domain: Annotated[str, typer.Argument(help="Domain; its subdomains are blocked too.")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    data_dir: DataDir = None,
) -> None:
    """Block a destination domain; live campaigns sending traffic there are rejected at once."""
    with container_for(data_dir) as c:
        entry, rejected = c.campaigns.block_domain(domain, reason)
    emit({"domain": entry.domain, "reason": entry.reason, "campaigns_rejected": rejected})


@blocklist_app.command("remove")
def blocklist_remove(domain: str, data_dir: DataDir = None) -> None:
    """Unblock a domain (idempotent)."""
    with container_for(data_dir) as c:
        removed = c.campaigns.unblock_domain(domain)
    emit({"domain": domain, "removed": removed})


@blocklist_app.command("list")
def blocklist_list(data_dir: DataDir = None) -> None:
    """The blocked domains."""
    with container_for(data_dir) as c:
        entries = c.campaigns.blocked_domains()
    emit(
        {
            "data": [
                {"domain": e.domain, "reason": e.reason, "created_at": e.created_at.isoformat()}
                for e in entries
            ]
        }
    )


# --- db, serve, demo ---------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply pending migrations (the server also does this on start)."""
    from auctera.store.migrate import current_head, upgrade_url

    settings = settings_for(data_dir)  # creates the directory
    upgrade_url(settings.sqlalchemy_url)
    err.print(f"database at revision {current_head()}")


# How long uvicorn waits for a worker to answer its health check before replacing it.
WORKER_HEALTHCHECK_SECONDS = 30


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: PortOpt = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 1,
    data_dir: DataDir = None,
) -> None:
    """Run the HTTP server."""
    import uvicorn

    # Worker processes build their own Settings from the environment: pass ours down.
    if data_dir is not None:
        os.environ["AUCTERA_DATA_DIR"] = str(data_dir.resolve())
    # Tracking links point at this server unless the operator named a public tracking host.
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    os.environ.setdefault("AUCTERA_TRACKING_URL", f"http://{netloc}:{port}")
    settings = load_settings()  # a bad AUCTERA_* value: one line, exit 2, nothing started
    if workers > 1 and settings.node_id is not None:
        # Every worker would build its ids and hold its journal writer as that one node: ids could
        # collide and all but one worker fail to start. A worker cannot be given node_id + i
        # either: the operator hands out node ids per machine, and the next one is another's.
        raise fail(
            f"AUCTERA_NODE_ID={settings.node_id} with --workers {workers}: a node id is one process's, "
            "and each worker is a process; unset AUCTERA_NODE_ID so that the workers take free node "
            "slots in the data dir, or run one `auctera serve --workers 1` per node id"
        )
    prepare_data_dir(settings.data_dir)
    if workers > 1:
        # Prometheus multiprocess mode: the workers share a directory of counters, emptied on
        # each start (stale files from a previous run would be summed in).
        metrics_dir = Path(
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.data_dir / "metrics"))
        )
        metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
    # This process (with --workers N, uvicorn's supervisor: start, SIGTERM, restarts) logs as the
    # workers do, one JSON line on stdout each, not uvicorn's plain text on stderr: log_config=None
    # below keeps uvicorn from installing its own handlers over these.
    from auctera.api.observability import configure_logging

    configure_logging(settings)
    # Migrate once here, so workers starting together do not race on it.
    from auctera.store.database import make_engine
    from auctera.store.deployment import OtherEventLog, claim_event_log
    from auctera.store.migrate import upgrade

    engine = make_engine(settings.sqlalchemy_url)
    try:
        upgrade(engine)
        claim_event_log(engine, settings.events_dir)  # before any worker serves or sweeps
    except OtherEventLog as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    # One line however long the path (a log collector reads stderr too), taken as plain text.
    listening = f"Auctera listening on http://{netloc}:{port} (data in {settings.data_dir})"
    err.print(listening, soft_wrap=True, markup=False)
    uvicorn.run(
        "auctera.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # logging configured above (and by each worker's app, the same way)
        access_log=False,  # our middleware logs each request as JSON
        log_level=settings.log_level,
        proxy_headers=True,
        # A worker answers the health check once started; on a CPU-starved host starting takes
        # longer than uvicorn's default 5 s, and a worker killed then never starts (see cli/entry).
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


@app.command("demo")
def demo(
    data_dir: DataDir = None,
    partner: Annotated[
        bool,
        typer.Option(
            "--partner/--no-partner",
            help="Start the simulated ad network the demo's bids go to, in the background, "
            "unless it answers there already.",
        ),
    ] = True,
    partner_port: Annotated[
        int,
        typer.Option("--partner-port", min=1, max=65535, help="Its port on 127.0.0.1 (set on first load)."),
    ] = DEMO_PARTNER_PORT,
) -> None:
    """Load a realistic demo marketplace (idempotent: does nothing if demo data exists), and
    start the simulated ad network its bids are synced to."""
    from auctera.cli.demo import load_demo, start_simulated_partner

    with container_for(data_dir) as c:
        summary = load_demo(c, partner_port=partner_port)
        log = c.settings.data_dir / "simulated-partner.log"
    if partner:
        summary["simulated_partner"] = start_simulated_partner(log, partner_port)
    emit(summary)


if __name__ == "__main__":
    app()
