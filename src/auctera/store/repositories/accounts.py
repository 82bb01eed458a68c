"""Accounts, API keys and OAuth2 clients/tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from auctera.domain.accounts import AccessToken, Account, AccountKind, ApiKey, OAuthClient
from auctera.store.tables import accounts, api_keys, oauth_clients, oauth_tokens


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        kind=AccountKind(row.kind),
        timezone=row.timezone,
        currency=row.currency,
        signing_secret=row.signing_secret,
        rate_limit_per_minute=row.rate_limit_per_minute,
        created_at=row.created_at,
        fraud_threshold=row.fraud_threshold,
        previous_signing_secret=row.previous_signing_secret,
        previous_signing_secret_until=row.previous_signing_secret_until,
        attribution_model=row.attribution_model,
    )


class SqlAccountRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, account: Account) -> None:
        values = {f: getattr(account, f) for f in Account.__slots__}
        values["kind"] = account.kind.value
        self._conn.execute(insert(accounts).values(**values))

    def get(self, account_id: int) -> Account | None:
        row = self._conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
        return _account(row) if row else None

    def list(self) -> list[Account]:
        return [_account(r) for r in self._conn.execute(select(accounts).order_by(accounts.c.id))]

    def update(self, account: Account) -> None:
        values = {f: getattr(account, f) for f in Account.__slots__ if f != "id"}
        values["kind"] = account.kind.value
        self._conn.execute(update(accounts).where(accounts.c.id == account.id).values(**values))


def _key(row: Any) -> ApiKey:
    return ApiKey(**{f: getattr(row, f) for f in ApiKey.__slots__})


class SqlApiKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, key: ApiKey) -> None:
        self._conn.execute(insert(api_keys).values(**{f: getattr(key, f) for f in ApiKey.__slots__}))

    def get(self, key_id: int) -> ApiKey | None:
        row = self._conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _key(row) if row else None

    def by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
        return _key(row) if row else None

    def list_for_account(self, account_id: int) -> list[ApiKey]:
        rows = self._conn.execute(
            select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id)
        )
        return [_key(r) for r in rows]

    def update(self, key: ApiKey) -> None:
        self._conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key.id)
            .values(name=key.name, expires_at=key.expires_at, revoked_at=key.revoked_at)
        )


def _client(row: Any) -> OAuthClient:
    return OAuthClient(**{f: getattr(row, f) for f in OAuthClient.__slots__})


class SqlOAuthRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_client(self, client: OAuthClient) -> None:
        self._conn.execute(
            insert(oauth_clients).values(**{f: getattr(client, f) for f in OAuthClient.__slots__})
        )

    def get_client(self, client_id: str) -> OAuthClient | None:
        row = self._conn.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id)).first()
        return _client(row) if row else None

    def clients_of(self, account_id: int) -> list[OAuthClient]:
        rows = self._conn.execute(
            select(oauth_clients)
            .where(oauth_clients.c.account_id == account_id)
            .order_by(oauth_clients.c.created_at, oauth_clients.c.client_id)
        )
        return [_client(r) for r in rows]

    def update_client(self, client: OAuthClient) -> None:
        self._conn.execute(
            update(oauth_clients)
            .where(oauth_clients.c.client_id == client.client_id)
            .values(
                secret_hash=client.secret_hash,
                revoked_at=client.revoked_at,
                previous_secret_hash=client.previous_secret_hash,
                previous_secret_until=client.previous_secret_until,
            )
        )

    def end_tokens(self, client_id: str, at: datetime) -> None:
        self._conn.execute(
            update(oauth_tokens)
            .where(oauth_tokens.c.client_id == client_id, oauth_tokens.c.expires_at > at)
            .values(expires_at=at)
        )

    def add_token(self, token: AccessToken) -> None:
        self._conn.execute(
            insert(oauth_tokens).values(**{f: getattr(token, f) for f in AccessToken.__slots__})
        )

    def token_by_hash(self, token_hash: str) -> AccessToken | None:
        row = self._conn.execute(select(oauth_tokens).where(oauth_tokens.c.token_hash == token_hash)).first()
        return AccessToken(**{f: getattr(row, f) for f in AccessToken.__slots__}) if row else None

    def purge_tokens(self, before: datetime) -> int:
        result = self._conn.execute(delete(oauth_tokens).where(oauth_tokens.c.expires_at < before))
        return int(result.rowcount or 0)
