"""Accounts, keys and auth through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auctera.domain.accounts import AccountKind, hash_secret
from auctera.domain.ids import IdGenerator
from auctera.errors import NotFound, Unauthorized, ValidationFailed
from auctera.services.accounts import AccountService
from auctera.services.auth import AuthService
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def uow(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    return uow_factory


@pytest.fixture
def accounts(uow: SqlUnitOfWorkFactory, clock: FrozenClock) -> AccountService:
    ids = IdGenerator(1, lambda: int(clock.now.timestamp() * 1000))
    return AccountService(uow, ids, clock, rotation_grace=timedelta(hours=24))


@pytest.fixture
def auth(uow: SqlUnitOfWorkFactory, clock: FrozenClock) -> AuthService:
    # No cache: every call sees the database, so the tests observe revocation at once.
    return AuthService(uow, clock, token_ttl=timedelta(hours=1), cache_seconds=0)


def test_create_account_returns_working_credentials(accounts: AccountService, auth: AuthService) -> None:
    new = accounts.create_account("Acme", "advertiser", timezone="Europe/Stockholm", currency="sek")
    assert new.account.kind is AccountKind.ADVERTISER
    assert new.account.currency == "SEK"
    assert new.api_key.startswith("auc_sk_") and len(new.api_key) >= 7 + 43  # 256 bits, base64url
    principal = auth.authenticate(new.api_key)
    assert principal.account_id == new.account.id
    assert principal.timezone == "Europe/Stockholm"


def test_keys_are_stored_only_as_hashes(accounts: AccountService, uow: SqlUnitOfWorkFactory) -> None:
    new = accounts.create_account("Acme", "publisher")
    with uow.engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM api_keys"))
        clients = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM oauth_clients"))
    assert new.api_key not in dump
    assert hash_secret(new.api_key) in dump
    assert new.client_secret not in clients


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "", "kind": "advertiser"}, "name"),
        ({"name": "x", "kind": "agency"}, "kind"),
        ({"name": "x", "kind": "advertiser", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "x", "kind": "advertiser", "currency": "XYZ"}, "currency"),
    ],
)
def test_invalid_accounts_name_the_field(
    accounts: AccountService, kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        accounts.create_account(**kwargs)
    assert info.value.field == field


def test_unknown_and_malformed_keys_are_rejected(accounts: AccountService, auth: AuthService) -> None:
    accounts.create_account("Acme", "advertiser")
    for bad in [None, "", "nonsense", "auc_sk_" + "A" * 43, "auc_at_whatever"]:
        with pytest.raises(Unauthorized):
            auth.authenticate(bad)


def test_revoked_key_stops_working_and_revoke_is_idempotent(
    accounts: AccountService, auth: AuthService
) -> None:
    new = accounts.create_account("Acme", "advertiser")
    first = accounts.revoke_key(new.account.id, new.key.id)
    second = accounts.revoke_key(new.account.id, new.key.id)
    assert first.revoked_at == second.revoked_at
    with pytest.raises(Unauthorized):
        auth.authenticate(new.api_key)


def test_rotation_keeps_the_old_key_for_the_grace_period(
    accounts: AccountService, auth: AuthService, clock: FrozenClock
) -> None:
    new = accounts.create_account("Acme", "advertiser")
    rotated = accounts.rotate_key(new.account.id, new.key.id, timedelta(minutes=10))
    assert rotated.secret != new.api_key
    assert auth.authenticate(new.api_key).account_id == new.account.id  # still in grace
    assert auth.authenticate(rotated.secret).account_id == new.account.id
    clock.now += timedelta(minutes=10, seconds=1)
    with pytest.raises(Unauthorized):
        auth.authenticate(new.api_key)
    assert auth.authenticate(rotated.secret).account_id == new.account.id
    names = {k.name for k in accounts.list_keys(new.account.id)}
    assert names == {"default"}


def test_keys_of_another_account_are_not_found(accounts: AccountService) -> None:
    a = accounts.create_account("A", "advertiser")
    b = accounts.create_account("B", "advertiser")
    with pytest.raises(NotFound):
        accounts.revoke_key(b.account.id, a.key.id)
    with pytest.raises(NotFound):
        accounts.rotate_key(b.account.id, a.key.id)


def test_oauth_client_credentials(accounts: AccountService, auth: AuthService, clock: FrozenClock) -> None:
    new = accounts.create_account("Retailer", "publisher")
    issued = auth.issue_token(new.client_id, new.client_secret)
    assert issued.expires_in == 3600
    assert auth.authenticate(issued.access_token).account_id == new.account.id
    with pytest.raises(Unauthorized):
        auth.issue_token(new.client_id, "auc_cs_wrong")
    with pytest.raises(Unauthorized):
        auth.issue_token("auc_ci_unknown", new.client_secret)
    clock.now += timedelta(hours=1, seconds=1)
    with pytest.raises(Unauthorized):
        auth.authenticate(issued.access_token)


def test_cached_answers_from_memory_only(
    accounts: AccountService, uow: SqlUnitOfWorkFactory, clock: FrozenClock
) -> None:
    # What the async auth dependencies serve on the event loop; None sends them to `authenticate`.
    auth = AuthService(uow, clock, token_ttl=timedelta(hours=1), cache_seconds=60)
    new = accounts.create_account("Acme", "advertiser")
    rotated = accounts.rotate_key(new.account.id, new.key.id, timedelta(minutes=10))
    with pytest.raises(Unauthorized):
        auth.cached(None)
    with pytest.raises(Unauthorized):
        auth.cached("")
    assert auth.cached(new.api_key) is None  # never looked up
    assert auth.cached("auc_sk_unknown") is None
    principal = auth.authenticate(new.api_key)
    assert auth.cached(new.api_key) == principal
    # The key's own expiry holds even while it is cached.
    clock.now += timedelta(minutes=10, seconds=1)
    with pytest.raises(Unauthorized):
        auth.cached(new.api_key)
    with pytest.raises(Unauthorized):
        auth.authenticate(new.api_key)
    assert auth.authenticate(rotated.secret).account_id == new.account.id


def test_a_rotated_signing_secret_and_the_old_one_both_pass_during_the_grace(
    accounts: AccountService, clock: FrozenClock
) -> None:
    account = accounts.create_account("Acme", "advertiser").account
    old = account.signing_secret
    rotated = accounts.rotate_signing_secret(account.id, timedelta(minutes=10))
    assert rotated.signing_secrets(clock.now) == [rotated.signing_secret, old]
    assert accounts.get_account(account.id).signing_secrets(clock.now + timedelta(minutes=11)) == [
        rotated.signing_secret
    ]
