"""/v2/account (who am I), /v2/accounts (the network operator's account admin), /v2/keys."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import BeforeValidator, Field, WithJsonSchema

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.json_body import json_number
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import Count, DecimalJSONRoute, Exact, Number, _Write, number
from auctera.domain import ids as idfmt
from auctera.domain.accounts import (
    FRAUD_THRESHOLD_PLACES,
    Account,
    ApiKey,
    OAuthClient,
    Principal,
    parse_account_id,
    render_account_id,
)
from auctera.domain.attribution import AttributionModel
from auctera.domain.budgets import CENT_MICROS
from auctera.domain.campaigns import UNSET
from auctera.domain.money import from_micros, to_micros
from auctera.errors import Forbidden, NotFound, ValidationFailed
from auctera.services.accounts import MAX_RATE_LIMIT_PER_MINUTE, AccountSettings, NewClientSecret

router = IndexedRouter(prefix="/v2", tags=["accounts"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]


class AccountCreate(_Write):
    name: str = Field(min_length=1, max_length=255)
    kind: Literal["advertiser", "publisher", "network"]
    timezone: str = "UTC"
    currency: str = Field(default="USD", min_length=3, max_length=3)
    rate_limit_per_minute: Count | None = Field(
        default=None, ge=1, le=MAX_RATE_LIMIT_PER_MINUTE, description="Per key; null: the server's default"
    )


class KeyCreate(_Write):
    name: str = Field(default="default", min_length=1, max_length=255)


class KeyRotate(_Write):
    grace_seconds: Count | None = Field(default=None, ge=0, le=30 * 86400)


def account_json(a: Account) -> dict[str, Any]:
    return {
        "id": render_account_id(a.kind, a.id),
        "name": a.name,
        "kind": a.kind.value,
        "timezone": a.timezone,
        "currency": a.currency,
        "rate_limit_per_minute": a.rate_limit_per_minute,
        "fraud_threshold": _threshold_json(a.fraud_threshold),
        "attribution_model": a.attribution_model,
        "created_at": a.created_at.isoformat(),
    }


def _threshold_json(value: float | None) -> Number | None:
    """The stored threshold in plain digits, as /v2 writes numbers (0.0001, never 1e-04): its
    shortest repr is the decimal it was set as (`domain.accounts.fraud_threshold`)."""
    if value is None:
        return None
    return number(Decimal(repr(value)) + 0)  # + 0: a -0.0 stored before it was refused is 0


def key_json(k: ApiKey) -> dict[str, Any]:
    return {
        "id": idfmt.render("key", k.id),
        "name": k.name,
        "hint": k.hint,
        "created_at": k.created_at.isoformat(),
        "expires_at": k.expires_at.isoformat() if k.expires_at else None,
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


def client_json(c: OAuthClient) -> dict[str, Any]:
    until = c.previous_secret_until
    return {
        "client_id": c.client_id,
        "created_at": c.created_at.isoformat(),
        # Set by a rotation: when the replaced secret (and the tokens issued before) stop working.
        "previous_secret_valid_until": until.isoformat() if until else None,
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    }


def _require_network(caller: Principal) -> None:
    if not caller.is_network:
        raise Forbidden("only the network operator's keys may manage accounts")


@router.get("/account", summary="The calling account")
def get_own_account(request: Request, caller: Caller) -> dict[str, Any]:
    return account_json(container_of(request).accounts.get_account(caller.account_id))


# A JSON number read exactly (0.12345678901234567 is not rounded to a float's neighbour); the
# service refuses more than FRAUD_THRESHOLD_PLACES decimal places. A number, never text: so says
# the schema too (Pydantic's for a Decimal would offer a string).
Threshold = Annotated[
    Decimal,
    Field(ge=0, le=1),
    BeforeValidator(json_number),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1}),
]


class AccountSettingsIn(_Write):
    fraud_threshold: Threshold | None = Field(
        default=None,
        description=(
            f"0 to 1, at most {FRAUD_THRESHOLD_PLACES} decimal places (0.9525): conversions scoring"
            " above it are rejected; null: the default"
        ),
    )
    attribution_model: AttributionModel | None = Field(
        default=None, description="The default model of /v2/reports/mta; null: last_click"
    )

    def settings(self) -> AccountSettings:
        """Only the fields the request names (null restores a default)."""
        given = self.model_fields_set
        model = self.attribution_model.value if self.attribution_model is not None else None
        return AccountSettings(
            fraud_threshold=self.fraud_threshold if "fraud_threshold" in given else UNSET,
            attribution_model=model if "attribution_model" in given else UNSET,
        )


class SecretRotate(_Write):
    grace_seconds: Count | None = Field(default=None, ge=0, le=30 * 86400)


@router.patch("/account", summary="Change the calling account's settings")
def update_own_account(request: Request, body: AccountSettingsIn, caller: Caller) -> dict[str, Any]:
    return account_json(container_of(request).accounts.update_settings(caller.account_id, body.settings()))


@router.post(
    "/account/signing-secret/rotate",
    summary="A new postback signing secret (api_secret); the old one passes for the grace period",
)
def rotate_signing_secret(
    request: Request, caller: Caller, body: SecretRotate | None = None
) -> dict[str, Any]:
    grace = None if body is None or body.grace_seconds is None else timedelta(seconds=body.grace_seconds)
    account = container_of(request).accounts.rotate_signing_secret(caller.account_id, grace, by=caller)
    until = account.previous_signing_secret_until
    return {
        "success": True,
        "api_secret": account.signing_secret,
        "previous_secret_valid_until": until.isoformat() if until else None,
    }


@router.post("/accounts", status_code=201, summary="Create an account (network operator)")
def create_account(request: Request, body: AccountCreate, caller: Caller) -> dict[str, Any]:
    _require_network(caller)
    new = container_of(request).accounts.create_account(
        body.name,
        body.kind,
        timezone=body.timezone,
        currency=body.currency,
        rate_limit_per_minute=body.rate_limit_per_minute,
    )
    return {
        "success": True,
        "account": account_json(new.account),
        "api_key": new.api_key,
        "api_secret": new.account.signing_secret,
        "client_id": new.client_id,
        "client_secret": new.client_secret,
    }


@router.get("/accounts", summary="List accounts (network operator)")
def list_accounts(request: Request, caller: Caller) -> dict[str, Any]:
    _require_network(caller)
    return {"data": [account_json(a) for a in container_of(request).accounts.list_accounts()]}


@router.get("/accounts/{account_id}", summary="One account (your own, or any for the network operator)")
def get_account(request: Request, account_id: str, caller: Caller) -> dict[str, Any]:
    wanted = parse_account_id(account_id)
    if wanted is None or (wanted != caller.account_id and not caller.is_network):
        raise NotFound("account not found", field="account_id")
    return account_json(container_of(request).accounts.get_account(wanted))


def _key_id(text: str) -> int:
    value = idfmt.parse("key", text)
    if value is None:
        raise NotFound("key not found", field="key_id")
    return value


@router.get("/keys", summary="The calling account's API keys (never the secrets)")
def list_keys(request: Request, caller: Caller) -> dict[str, Any]:
    return {"data": [key_json(k) for k in container_of(request).accounts.list_keys(caller.account_id)]}


@router.post("/keys", status_code=201, summary="Create an API key; the key is shown once")
def create_key(request: Request, caller: Caller, body: KeyCreate | None = None) -> dict[str, Any]:
    name = (body or KeyCreate()).name
    new = container_of(request).accounts.create_key(caller.account_id, name, by=caller)
    return {"success": True, "key": key_json(new.key), "api_key": new.secret}


@router.post(
    "/keys/{key_id}/rotate", status_code=201, summary="Replace a key; the old one works for a grace period"
)
def rotate_key(
    request: Request, key_id: str, caller: Caller, body: KeyRotate | None = None
) -> dict[str, Any]:
    c = container_of(request)
    grace = None if body is None or body.grace_seconds is None else timedelta(seconds=body.grace_seconds)
    new = c.accounts.rotate_key(caller.account_id, _key_id(key_id), grace, by=caller)
    c.auth.forget()
    return {"success": True, "key": key_json(new.key), "api_key": new.secret}


@router.delete("/keys/{key_id}", summary="Revoke a key now (idempotent)")
def revoke_key(request: Request, key_id: str, caller: Caller) -> dict[str, Any]:
    c = container_of(request)
    key = c.accounts.revoke_key(caller.account_id, _key_id(key_id), by=caller)
    c.auth.forget()
    return {"success": True, "key": key_json(key), "status": "revoked"}


# --- OAuth2 clients: the retail-media surface's credentials (docs/auth.md) ------------------------


def _new_client_json(new: NewClientSecret) -> dict[str, Any]:
    return {
        "success": True,
        "client": client_json(new.client),
        "client_id": new.client.client_id,
        "client_secret": new.secret,
    }


@router.get("/keys/clients", summary="The calling account's OAuth2 clients (never the secrets)")
def list_clients(request: Request, caller: Caller) -> dict[str, Any]:
    clients = container_of(request).accounts.list_clients(caller.account_id)
    return {"data": [client_json(c) for c in clients]}


@router.post("/keys/clients", status_code=201, summary="Create an OAuth2 client; the secret is shown once")
def create_client(request: Request, caller: Caller) -> dict[str, Any]:
    return _new_client_json(container_of(request).accounts.create_client(caller.account_id, by=caller))


@router.post(
    "/keys/clients/{client_id}/rotate",
    status_code=201,
    summary="A new client secret; the old one and its tokens work for a grace period",
)
def rotate_client(
    request: Request, client_id: str, caller: Caller, body: KeyRotate | None = None
) -> dict[str, Any]:
    c = container_of(request)
    grace = None if body is None or body.grace_seconds is None else timedelta(seconds=body.grace_seconds)
    new = c.accounts.rotate_client(caller.account_id, client_id, grace, by=caller)
    c.auth.forget()
    return _new_client_json(new)


@router.delete("/keys/clients/{client_id}", summary="Revoke an OAuth2 client and its tokens now (idempotent)")
def revoke_client(request: Request, client_id: str, caller: Caller) -> dict[str, Any]:
    c = container_of(request)
    client = c.accounts.revoke_client(caller.account_id, client_id, by=caller)
    c.auth.forget()
    return {"success": True, "client": client_json(client), "status": "revoked"}


# --- prepaid balances (docs/spend.md) -----------------------------------------------------------


class BalanceIn(_Write):
    """Exactly one of `balance` (set it; null: invoiced, never runs out) and `add` (top up)."""

    balance: Exact | None = Field(default=None, description="The new prepaid balance; null: invoiced")
    add: Exact | None = Field(default=None, description="An amount to add to the prepaid balance")


def _balance_json(account: Account, micros: int | None) -> dict[str, Any]:
    shown = None
    if micros is not None:  # whole cents with two places, finer amounts exactly
        shown = f"{from_micros(micros):.2f}" if micros % CENT_MICROS == 0 else str(from_micros(micros))
    rendered = render_account_id(account.kind, account.id)
    return {"account_id": rendered, "balance": shown, "currency": account.currency}


def _micros(amount: Decimal, field: str) -> int:
    try:
        return to_micros(amount)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field=field) from None


def _balance_owner(request: Request, account_id: str, caller: Principal) -> Account:
    wanted = parse_account_id(account_id)
    if wanted is None or (wanted != caller.account_id and not caller.is_network):
        raise NotFound("account not found", field="account_id")
    return container_of(request).accounts.get_account(wanted)


@router.get("/accounts/{account_id}/balance", summary="A prepaid balance (yours, or any for the network)")
def get_balance(request: Request, account_id: str, caller: Caller) -> dict[str, Any]:
    account = _balance_owner(request, account_id, caller)
    return _balance_json(account, container_of(request).spend.balance(account.id))


@router.patch("/accounts/{account_id}/balance", summary="Set or top up a prepaid balance (network operator)")
def update_balance(request: Request, account_id: str, body: BalanceIn, caller: Caller) -> dict[str, Any]:
    account = _balance_owner(request, account_id, caller)
    _require_network(caller)
    spend = container_of(request).spend
    given = body.model_fields_set
    if len(given) != 1:
        raise ValidationFailed("send exactly one of balance and add")
    if "add" in given:
        if body.add is None:
            raise ValidationFailed("add needs an amount", field="add")
        return _balance_json(account, spend.add_balance(account.id, _micros(body.add, "add")))
    micros = None if body.balance is None else _micros(body.balance, "balance")
    return _balance_json(account, spend.set_balance(account.id, micros))
