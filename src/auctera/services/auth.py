"""Authentication: every scheme the surfaces use (Bearer key, X-API-KEY, X-Token, OAuth2
client credentials) resolves to the one key store and yields a Principal."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from auctera.domain.accounts import (
    KEY_PREFIX,
    TOKEN_PREFIX,
    AccessToken,
    Account,
    Principal,
    hash_secret,
)
from auctera.errors import Forbidden, Unauthorized
from auctera.services.clock import Clock
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory

MISSING = "missing credential"  # each surface says which one it takes (`api.auth.Scheme`)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    valid_until: datetime | None  # the credential's own expiry
    cached_until: float  # monotonic


def may_manage_credentials(uow: UnitOfWork, caller: Principal) -> None:
    """Only an API key with no end date creates, rotates or revokes keys and clients: a key
    being retired (rotated, in its grace period) or an access token could otherwise mint a
    credential that outlives it, undoing the rotation."""
    kind, _, key_id = caller.credential_id.partition(":")
    if kind != "key":
        raise Forbidden("an OAuth2 access token may not manage credentials: use an API key")
    key = uow.api_keys.get(int(key_id))
    if key is None or key.expires_at is not None:
        raise Forbidden(
            "this API key is being retired (it was rotated): only its replacement may create, "
            "rotate or revoke keys and clients"
        )


def _principal(account: Account, credential_id: str) -> Principal:
    return Principal(
        account_id=account.id,
        kind=account.kind,
        timezone=account.timezone,
        currency=account.currency,
        rate_limit_per_minute=account.rate_limit_per_minute,
        credential_id=credential_id,
    )


class AuthService:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, *, token_ttl: timedelta, cache_seconds: float
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._token_ttl = token_ttl
        self._cache_seconds = cache_seconds
        # Credential hash -> principal. Bounded by the number of live credentials; a revoked
        # key stops working within `cache_seconds` on every process.
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def authenticate(self, credential: str | None) -> Principal:
        """An API key or an OAuth2 access token, as presented by any scheme."""
        if not credential:
            raise Unauthorized(MISSING)
        digest = hash_secret(credential)
        principal = self._from_cache(digest)
        if principal is not None:
            return principal
        now = self._clock()
        if credential.startswith(TOKEN_PREFIX):
            principal, valid_until = self._load_token(digest, now)
        elif credential.startswith(KEY_PREFIX):
            principal, valid_until = self._load_key(digest, now)
        else:
            raise Unauthorized("invalid API key")
        with self._lock:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[digest] = _Cached(principal, valid_until, time.monotonic() + self._cache_seconds)
        return principal

    def cached(self, credential: str | None) -> Principal | None:
        """`authenticate` when the answer is in memory (no I/O: safe on an event loop); None when
        the credential has to be looked up, by `authenticate`."""
        if not credential:
            raise Unauthorized(MISSING)
        return self._from_cache(hash_secret(credential))

    def _from_cache(self, digest: str) -> Principal | None:
        hit = self._cache.get(digest)
        if hit is None or hit.cached_until <= time.monotonic():
            return None
        if hit.valid_until is None or self._clock() < hit.valid_until:
            return hit.principal
        raise Unauthorized("API key expired")

    def _load_key(self, digest: str, now: datetime) -> tuple[Principal, datetime | None]:
        with self._uow(read_only=True) as uow:
            key = uow.api_keys.by_hash(digest)  # an indexed lookup by the hash: no secret compared
            if key is None:
                raise Unauthorized("invalid API key")
            if not key.usable_at(now):
                raise Unauthorized("API key revoked or expired")
            account = uow.accounts.get(key.account_id)
        if account is None:
            raise Unauthorized("invalid API key")
        valid_until = key.expires_at
        if key.revoked_at is not None:
            valid_until = key.revoked_at if valid_until is None else min(valid_until, key.revoked_at)
        return _principal(account, f"key:{key.id}"), valid_until

    def _load_token(self, digest: str, now: datetime) -> tuple[Principal, datetime | None]:
        with self._uow(read_only=True) as uow:
            token = uow.oauth.token_by_hash(digest)
            if token is None:
                raise Unauthorized("invalid access token")
            if now >= token.expires_at:
                raise Unauthorized("access token expired")
            # Revoking the client ends its tokens too (they are also expired then): checked here
            # so no token outlives its client whatever wrote the revocation.
            client = uow.oauth.get_client(token.client_id)
            if client is None or client.revoked_at is not None:
                raise Unauthorized("access token revoked")
            account = uow.accounts.get(token.account_id)
        if account is None:
            raise Unauthorized("invalid access token")
        return _principal(account, f"client:{token.client_id}"), token.expires_at

    def issue_token(self, client_id: str, client_secret: str) -> IssuedToken:
        """OAuth2 client-credentials grant. A secret replaced by a rotation is accepted until
        its grace period ends, and its tokens end then too."""
        now = self._clock()
        given = hash_secret(client_secret)
        with self._uow() as uow:
            clients = uow.oauth
            client = clients.get_client(client_id)
            # Compare even when the client is unknown, so timing does not reveal client ids.
            current = hmac.compare_digest(
                client.secret_hash if client else hash_secret(secrets.token_hex(16)), given
            )
            until = client.previous_secret_until if client else None
            previous = (
                client is not None
                and client.previous_secret_hash is not None
                and until is not None
                and hmac.compare_digest(client.previous_secret_hash, given)
                # Its last second gives no token: one would answer `expires_in: 0`, dead on arrival.
                and until - now >= timedelta(seconds=1)
            )
            if client is None or client.revoked_at is not None or not (current or previous):
                raise Unauthorized("invalid client credentials", code="invalid_client")
            expires = now + self._token_ttl
            if not current and until is not None:
                expires = min(expires, until)
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            clients.purge_tokens(before=now)
            clients.add_token(AccessToken(hash_secret(token), client.account_id, client.client_id, expires))
            uow.commit()
        return IssuedToken(token, int((expires - now).total_seconds()))

    def forget(self) -> None:
        """Drop cached credentials (after a revocation in this process)."""
        with self._lock:
            self._cache.clear()
