"""Publisher postbacks (outbound webhooks): macros, the retry schedule, URL and address checks and
the Standard Webhooks signature. Pure: no I/O (resolving a host is the service's job)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

from auctera.domain import ids as idfmt
from auctera.domain.money import from_micros

POSTBACK_PREFIX = "pb"
DELIVERY_PREFIX = "msg"  # the outbox row's id: also the `webhook-id` receivers deduplicate on
SECRET_PREFIX = "whsec_"
REVERSAL_EVENT = "reversal"
EVENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # a conversion event type, or `reversal`
METHODS = ("GET", "POST")
MAX_URL = 2048

MACROS = (
    "click_id",
    "payout",
    "currency",
    "geo",
    "offer_id",
    "transaction_id",
    "event",
    "status",
    "sub_id1",
    "sub_id2",
    "sub_id3",
    "sub_id4",
    "sub_id5",
)
_MACRO = re.compile(r"\{([a-z_0-9]+)\}")

# Retries: exponential from 5 s, doubling, capped at one hour per wait, with full jitter on the
# upper half; a delivery still failing 72 h after it was queued is dead-lettered.
FIRST_RETRY = timedelta(seconds=5)
MAX_WAIT = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=72)
MAX_RETRY_AFTER = timedelta(hours=6)
KEPT_ATTEMPTS = 20  # the delivery log keeps each delivery's last attempts


class PostbackStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class PublisherPostback:
    id: int
    account_id: int  # the publisher
    event: str
    url: str
    method: str
    offer_id: int | None  # None: every offer
    status: PostbackStatus
    secret: str  # whsec_<base64>
    created_at: datetime
    updated_at: datetime

    def matches(self, event: str, offer_id: int) -> bool:
        return (
            self.status is PostbackStatus.ACTIVE
            and self.event == event
            and (self.offer_id is None or self.offer_id == offer_id)
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "status_code": self.status_code,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One postback to send: a row of the outbox, its payload a fixed snapshot."""

    id: int
    postback_id: int
    account_id: int
    transaction_id: int
    method: str
    url: str  # macros already resolved
    payload: dict[str, str]
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    secret: str = ""
    delivered_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    last_latency_ms: float | None = None
    log: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def webhook_id(self) -> str:
        return idfmt.render(DELIVERY_PREFIX, self.id)


def new_secret(raw: bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(raw).decode()


def check_event(event: str) -> str | None:
    """Why `event` is not a postback event, else None."""
    if not EVENT.match(event):
        return (
            "event must be a conversion event type (1-64 lowercase letters, digits, underscores) or reversal"
        )
    return None


def check_url_shape(url: str) -> str | None:
    """Why `url` cannot be a postback target (before resolving its host), else None."""
    if len(url) > MAX_URL:
        return f"url is longer than {MAX_URL} characters"
    if any(c <= " " or c == "\x7f" for c in url):  # urlsplit drops CR/LF and tabs silently
        return "url must not hold spaces or control characters (percent-encode them)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "url is not a valid URL"
    if port == 0:
        return "url has port 0"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must be an absolute http(s) URL"
    if parts.username or parts.password:
        return "url must not carry credentials"
    unknown = sorted(set(_MACRO.findall(url)) - set(MACROS))
    if unknown:
        return f"unknown macros {unknown}; known: {list(MACROS)}"
    return None


def forbidden_address(address: str) -> bool:
    """Whether a target at `address` is refused unless the operator allows private targets:
    private, loopback, link-local, multicast, reserved or unspecified."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def macro_values(
    *,
    click_id: str,
    payout_micros: int,
    currency: str,
    geo: str | None,
    offer_id: str,
    transaction_id: str,
    event: str,
    status: str,
    attrs: Mapping[str, Any],
) -> dict[str, str]:
    values = {
        "click_id": click_id,
        "payout": str(from_micros(payout_micros)),
        "currency": currency,
        "geo": geo or "",
        "offer_id": offer_id,
        "transaction_id": transaction_id,
        "event": event,
        "status": status,
    }
    for n in range(1, 6):
        values[f"sub_id{n}"] = str(attrs.get(f"sub_id{n}") or "")
    return values


def render_url(template: str, values: Mapping[str, str]) -> str:
    """`template` with each macro replaced by its URL-encoded value."""
    return _MACRO.sub(lambda m: quote(values.get(m.group(1), m.group(0)), safe=""), template)


def next_attempt(
    attempts: int,
    created_at: datetime,
    now: datetime,
    rng: random.Random,
    retry_after: float | None = None,
    first: timedelta = FIRST_RETRY,
) -> datetime | None:
    """When to try again after `attempts` failed attempts, or None once past the 72 hours."""
    wait = min(first * (2 ** min(max(attempts - 1, 0), 30)), MAX_WAIT)
    wait = wait / 2 + wait / 2 * rng.random()  # jitter: spreads receivers' recoveries
    if retry_after is not None:
        wait = max(wait, min(timedelta(seconds=max(retry_after, 0.0)), MAX_RETRY_AFTER))
    at = now + wait
    return None if at - created_at > GIVE_UP_AFTER else at


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header of the Standard Webhooks scheme (v1, HMAC-SHA256)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
