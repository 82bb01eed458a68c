"""Accounts, API keys and the authenticated principal."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from auctera.domain.ids import from_decimal, parse, render


class AccountKind(StrEnum):
    ADVERTISER = "advertiser"
    PUBLISHER = "publisher"
    NETWORK = "network"  # the operator: creates accounts, reviews campaigns, sees everything


@dataclass(slots=True)
class Account:
    id: int
    name: str
    kind: AccountKind
    timezone: str  # IANA name; day and month boundaries are taken in it
    currency: str  # ISO 4217
    signing_secret: str  # shared secret for HMAC-signed postbacks; the one secret we must keep readable
    rate_limit_per_minute: int | None  # None: the platform default
    created_at: datetime
    fraud_threshold: float | None = None  # conversions scoring above it are rejected; None: default
    # After a rotation, postbacks signed with the replaced secret pass until the grace ends.
    previous_signing_secret: str | None = None
    previous_signing_secret_until: datetime | None = None
    attribution_model: str | None = None  # the journey report's default model; None: last_click

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a postback may be signed with right now: the current one first."""
        until = self.previous_signing_secret_until
        if self.previous_signing_secret and until is not None and now < until:
            return [self.signing_secret, self.previous_signing_secret]
        return [self.signing_secret]


# A fraud threshold is a score from 0 to 1 in steps of 0.0001 (docs/fraud.md): finer means
# nothing for a score built from a dozen signals' confidences, and a value of at most four places
# is held exactly by the float column it is stored in (shortest repr gives back its digits).
FRAUD_THRESHOLD_PLACES = 4
_THRESHOLD_STEP = Decimal(1).scaleb(-FRAUD_THRESHOLD_PLACES)


def fraud_threshold(value: Decimal) -> float:
    """`value` as the threshold stored, -0 as 0; ValueError, saying why, outside 0 to 1 or past
    four decimal places (5e-324 is not a threshold anyone means: refused, not rounded)."""
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise ValueError("must be a number from 0 to 1")
    if value != value.quantize(_THRESHOLD_STEP):  # trailing zeros (0.50000) are fine
        raise ValueError(f"must have at most {FRAUD_THRESHOLD_PLACES} decimal places, e.g. 0.8 or 0.9525")
    return float(value.copy_abs())


KEY_PREFIX = "auc_sk_"  # recognisable by secret scanners
TOKEN_PREFIX = "auc_at_"  # OAuth2 access tokens
CLIENT_SECRET_PREFIX = "auc_cs_"


@dataclass(slots=True)
class ApiKey:
    id: int
    account_id: int
    name: str
    key_hash: str  # sha256 hex of the whole key: 256 random bits need no slow hash
    hint: str  # first characters, to tell keys apart in listings
    created_at: datetime
    expires_at: datetime | None  # set when rotated (grace period) or for short-lived keys
    revoked_at: datetime | None

    def usable_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(slots=True)
class OAuthClient:
    client_id: str
    account_id: int
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    # After a rotation the replaced secret still authenticates until its grace period ends.
    previous_secret_hash: str | None = None
    previous_secret_until: datetime | None = None


@dataclass(slots=True)
class AccessToken:
    token_hash: str
    account_id: int
    client_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from any of the auth schemes to one account."""

    account_id: int
    kind: AccountKind
    timezone: str
    currency: str
    rate_limit_per_minute: int | None
    credential_id: str  # the key or token the limits are counted against

    @property
    def is_network(self) -> bool:
        return self.kind is AccountKind.NETWORK


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# /v2 renders an account id with a prefix telling its kind: adv_…, pub_…, net_….
ACCOUNT_PREFIXES = {AccountKind.ADVERTISER: "adv", AccountKind.PUBLISHER: "pub", AccountKind.NETWORK: "net"}


def render_account_id(kind: AccountKind, account_id: int) -> str:
    return render(ACCOUNT_PREFIXES[kind], account_id)


def parse_account_id(text: str) -> int | None:
    """Any account rendering (adv_/pub_/net_) or a bare integer; None when neither."""
    if text.isdigit():
        return from_decimal(text)
    for prefix in ACCOUNT_PREFIXES.values():
        value = parse(prefix, text)
        if value is not None:
            return value
    return None
