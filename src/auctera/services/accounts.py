"""Accounts and their credentials: API keys, the signing secret, OAuth2 client credentials."""

from __future__ import annotations

import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pycountry

from auctera.domain import ids as idfmt
from auctera.domain.accounts import (
    CLIENT_SECRET_PREFIX,
    KEY_PREFIX,
    Account,
    AccountKind,
    ApiKey,
    OAuthClient,
    Principal,
    fraud_threshold,
    hash_secret,
)
from auctera.domain.attribution import AttributionModel
from auctera.domain.campaigns import UNSET, Unset, pick
from auctera.errors import NotFound, ValidationFailed
from auctera.services.auth import may_manage_credentials
from auctera.services.clock import Clock, Ids
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class NewAccount:
    """Everything shown once at creation: secrets are not retrievable later (but the signing secret)."""

    account: Account
    api_key: str
    key: ApiKey
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    secret: str


@dataclass(frozen=True, slots=True)
class NewClientSecret:
    client: OAuthClient
    secret: str


ATTRIBUTION_MODELS = frozenset(m.value for m in AttributionModel)
# Far above any real client (the benchmarks' "unlimited" is this), far below where the limiter's
# arithmetic breaks down (an interval of 60 s / limit rounds to 0) or a BIGINT column overflows.
MAX_RATE_LIMIT_PER_MINUTE = 1_000_000_000


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """What an account may change about itself; UNSET: leave as it is."""

    # Conversions scoring above it are rejected; exact (`domain.accounts.fraud_threshold`).
    fraud_threshold: Decimal | Unset | None = UNSET
    attribution_model: str | Unset | None = UNSET  # the journey report's default model


def new_signing_secret() -> str:
    return "auc_ss_" + secrets.token_urlsafe(32)


def new_key_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)  # 256 random bits


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)


class AccountService:
    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock, *, rotation_grace: timedelta) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._grace = rotation_grace

    def create_account(
        self,
        name: str,
        kind: str,
        *,
        timezone: str = "UTC",
        currency: str = "USD",
        rate_limit_per_minute: int | None = None,
    ) -> NewAccount:
        name = name.strip()
        if not name or len(name) > 255:
            raise ValidationFailed("name must be 1-255 characters", field="name")
        try:
            account_kind = AccountKind(kind)
        except ValueError:
            raise ValidationFailed(
                f"kind must be one of {', '.join(k.value for k in AccountKind)}", field="kind"
            ) from None
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            raise ValidationFailed(f"unknown time zone {timezone!r}", field="timezone") from None
        if pycountry.currencies.get(alpha_3=currency.upper()) is None:
            raise ValidationFailed(f"unknown currency {currency!r}", field="currency")
        if rate_limit_per_minute is not None and not 1 <= rate_limit_per_minute <= MAX_RATE_LIMIT_PER_MINUTE:
            raise ValidationFailed(
                f"rate limit must be 1 to {MAX_RATE_LIMIT_PER_MINUTE:,} per minute",
                field="rate_limit_per_minute",
            )
        now = self._clock()
        account = Account(
            id=self._ids.next_id(),
            name=name,
            kind=account_kind,
            timezone=timezone,
            currency=currency.upper(),
            signing_secret=new_signing_secret(),
            rate_limit_per_minute=rate_limit_per_minute,
            created_at=now,
        )
        with self._uow() as uow:
            uow.accounts.add(account)
            new = self._add_key(uow, account.id, "default", now)
            client = self._add_client(uow, account.id, now)
            uow.commit()
        return NewAccount(account, new.secret, new.key, client.client.client_id, client.secret)

    def get_account(self, account_id: int) -> Account:
        with self._uow(read_only=True) as uow:
            account = uow.accounts.get(account_id)
        if account is None:
            raise NotFound("account not found", field="account_id")
        return account

    def list_accounts(self) -> list[Account]:
        with self._uow(read_only=True) as uow:
            return uow.accounts.list()

    def update_settings(self, account_id: int, settings: AccountSettings) -> Account:
        """Change the settings given (UNSET leaves one as it is; None restores its default)."""
        model = settings.attribution_model
        threshold: float | Unset | None
        if isinstance(settings.fraud_threshold, Decimal):
            try:
                threshold = fraud_threshold(settings.fraud_threshold)
            except ValueError as exc:
                raise ValidationFailed(f"fraud_threshold {exc}", field="fraud_threshold") from None
        else:
            threshold = settings.fraud_threshold
        if isinstance(model, str) and model not in ATTRIBUTION_MODELS:
            allowed = ", ".join(sorted(ATTRIBUTION_MODELS))
            raise ValidationFailed(f"attribution_model must be one of {allowed}", field="attribution_model")
        with self._uow() as uow:
            account = uow.accounts.get(account_id)
            if account is None:
                raise NotFound("account not found", field="account_id")
            account.fraud_threshold = pick(threshold, account.fraud_threshold)
            account.attribution_model = pick(model, account.attribution_model)
            uow.accounts.update(account)
            uow.commit()
        return account

    def rotate_signing_secret(
        self, account_id: int, grace: timedelta | None = None, *, by: Principal | None = None
    ) -> Account:
        """A new postback signing secret; postbacks signed with the old one pass for the grace
        period (the server accepts either while the sender switches over). The secret is a
        credential: a key being retired may not replace it (`may_manage_credentials`)."""
        now = self._clock()
        with self._uow() as uow:
            if by is not None:
                may_manage_credentials(uow, by)
            account = uow.accounts.get(account_id)
            if account is None:
                raise NotFound("account not found", field="account_id")
            account.previous_signing_secret = account.signing_secret
            account.previous_signing_secret_until = now + (self._grace if grace is None else grace)
            account.signing_secret = new_signing_secret()
            uow.accounts.update(account)
            uow.commit()
        return account

    # --- API keys -------------------------------------------------------------------------

    def _add_key(self, uow: UnitOfWork, account_id: int, name: str, now: datetime) -> NewKey:
        secret = new_key_secret()
        key = ApiKey(
            id=self._ids.next_id(),
            account_id=account_id,
            name=name,
            key_hash=hash_secret(secret),
            hint=secret[: len(KEY_PREFIX) + 4],
            created_at=now,
            expires_at=None,
            revoked_at=None,
        )
        uow.api_keys.add(key)
        return NewKey(key, secret)

    # `by`: the API credential asking (`may_manage_credentials`); None for the operator's CLI.

    def create_key(self, account_id: int, name: str = "default", *, by: Principal | None = None) -> NewKey:
        with self._uow() as uow:
            if by is not None:
                may_manage_credentials(uow, by)
            if uow.accounts.get(account_id) is None:
                raise NotFound("account not found", field="account_id")
            new = self._add_key(uow, account_id, name, self._clock())
            uow.commit()
        return new

    def list_keys(self, account_id: int) -> list[ApiKey]:
        with self._uow(read_only=True) as uow:
            return uow.api_keys.list_for_account(account_id)

    def _owned_key(self, uow: UnitOfWork, account_id: int, key_id: int) -> ApiKey:
        key = uow.api_keys.get(key_id)
        if key is None or key.account_id != account_id:
            raise NotFound(f"key {idfmt.render('key', key_id)} not found", field="key_id")
        return key

    def revoke_key(self, account_id: int, key_id: int, *, by: Principal | None = None) -> ApiKey:
        """Idempotent: revoking a revoked key keeps its first revocation time."""
        with self._uow() as uow:
            key = self._owned_key(uow, account_id, key_id)
            if by is not None:
                may_manage_credentials(uow, by)
            if key.revoked_at is None:
                key.revoked_at = self._clock()
                uow.api_keys.update(key)
            uow.commit()
        return key

    def rotate_key(
        self, account_id: int, key_id: int, grace: timedelta | None = None, *, by: Principal | None = None
    ) -> NewKey:
        """Issue a replacement; the old key keeps working for the grace period, then expires."""
        now = self._clock()
        with self._uow() as uow:
            old = self._owned_key(uow, account_id, key_id)
            if by is not None:
                may_manage_credentials(uow, by)
            if not old.usable_at(now):
                raise ValidationFailed("cannot rotate a revoked or expired key", field="key_id")
            expires = now + (self._grace if grace is None else grace)
            old.expires_at = expires if old.expires_at is None else min(old.expires_at, expires)
            uow.api_keys.update(old)
            new = self._add_key(uow, account_id, old.name, now)
            uow.commit()
        return new

    # --- OAuth2 clients (the retail-media surface's credentials) ----------------------------------

    def _add_client(self, uow: UnitOfWork, account_id: int, now: datetime) -> NewClientSecret:
        secret = new_client_secret()
        client = OAuthClient("auc_ci_" + secrets.token_hex(12), account_id, hash_secret(secret), now)
        uow.oauth.add_client(OAuthClient(client.client_id, account_id, client.secret_hash, now))
        return NewClientSecret(client, secret)

    def _owned_client(self, uow: UnitOfWork, account_id: int, client_id: str) -> OAuthClient:
        client = uow.oauth.get_client(client_id)
        if client is None or client.account_id != account_id:
            raise NotFound("client not found", field="client_id")
        return client

    def list_clients(self, account_id: int) -> list[OAuthClient]:
        with self._uow(read_only=True) as uow:
            return uow.oauth.clients_of(account_id)

    def create_client(self, account_id: int, *, by: Principal | None = None) -> NewClientSecret:
        """Another client of the account (after revoking one, say); the secret is shown once."""
        with self._uow() as uow:
            if by is not None:
                may_manage_credentials(uow, by)
            if uow.accounts.get(account_id) is None:
                raise NotFound("account not found", field="account_id")
            new = self._add_client(uow, account_id, self._clock())
            uow.commit()
        return new

    def revoke_client(self, account_id: int, client_id: str, *, by: Principal | None = None) -> OAuthClient:
        """At once: no token is issued to it again and the ones it had end now. Idempotent."""
        now = self._clock()
        with self._uow() as uow:
            client = self._owned_client(uow, account_id, client_id)
            if by is not None:
                may_manage_credentials(uow, by)
            if client.revoked_at is None:
                client.revoked_at = now
                clients = uow.oauth
                clients.update_client(client)
                clients.end_tokens(client_id, now)
            uow.commit()
        return client

    def rotate_client(
        self,
        account_id: int,
        client_id: str,
        grace: timedelta | None = None,
        *,
        by: Principal | None = None,
    ) -> NewClientSecret:
        """A new secret for the same client_id. The old secret, and every token issued before,
        keep working for the grace period and no longer."""
        now = self._clock()
        with self._uow() as uow:
            client = self._owned_client(uow, account_id, client_id)
            if by is not None:
                may_manage_credentials(uow, by)
            if client.revoked_at is not None:
                raise ValidationFailed("cannot rotate a revoked client", field="client_id")
            until = now + (self._grace if grace is None else grace)
            secret = new_client_secret()
            client.previous_secret_hash, client.previous_secret_until = client.secret_hash, until
            client.secret_hash = hash_secret(secret)
            clients = uow.oauth
            clients.update_client(client)
            # Tokens do not record the secret they were issued for: each ends by the grace's end.
            clients.end_tokens(client_id, until)
            uow.commit()
        return NewClientSecret(client, secret)
