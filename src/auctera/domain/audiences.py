"""Audiences: targetable segments of people, their members, and the sketches that size them.

A member is a *key*: `e:<email_sha256>`, `p:<phone_sha256>`, `m:<maid>` (from a CRM sync) or
`u:<uid>` (a visitor of the event log: pixel-event and lookalike audiences). Raw emails and
phones are normalised and hashed by `domain.identifiers` before they become keys; nothing here
sees a raw value afterwards.

Sizes and overlaps come from Apache DataSketches theta sketches (pure computation, like the
auction's numpy: no I/O). A sketch holds each member *as a user*: a CRM member the event log
saw with visitors counts as those visitors (`u:` keys), so a CRM list and the pixel or
lookalike audience built from the same people overlap. Up to `SKETCH_LG_K` nominal entries a
theta sketch keeps every hash: counts are exact, and the error bound is zero.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from datasketches import compact_theta_sketch, theta_intersection, theta_union, update_theta_sketch

from auctera.domain.identifiers import GMAIL_DOMAINS, IdentifierType, hashed, sha256_hex
from auctera.errors import ValidationFailed

MAX_NAME = 255
MAX_IDENTIFIERS = 1_000_000  # per sync call
MAX_OVERLAP_IDS = 10
MAX_TARGETED = 50  # audiences one campaign or line item includes plus excludes
SKETCH_LG_K = 14  # 16,384 nominal entries: exact below that, ~1.6% relative error (2 sd) above
STD_DEVS = 2  # the error bound's confidence: about 95%


class AudienceSource(StrEnum):
    CRM_SYNC = "crm_sync"
    PIXEL_EVENT = "pixel_event"
    LOOKALIKE_ML = "lookalike_ml"

    @property
    def label(self) -> str:
        """As the seed writes it: 'CRM Sync', 'Pixel Event', 'Lookalike ML'."""
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> AudienceSource:
        """Either spelling: `crm_sync` or `CRM Sync`."""
        wanted = text.strip().casefold().replace(" ", "_")
        for source in cls:
            if wanted == source.value:
                return source
        labels = ", ".join(f"'{s.label}'" for s in cls)
        raise ValidationFailed(f"source must be one of {labels}", field="source")


_LABELS = {
    AudienceSource.CRM_SYNC: "CRM Sync",
    AudienceSource.PIXEL_EVENT: "Pixel Event",
    AudienceSource.LOOKALIKE_ML: "Lookalike ML",
}


class AudienceStatus(StrEnum):
    READY = "ready"
    BUILDING = "building"
    FAILED = "failed"


class SyncAction(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class PixelEvent(StrEnum):
    IMPRESSION = "impression"
    CLICK = "click"
    CONVERSION = "conversion"


MAX_RULE_DAYS = 180


@dataclass(frozen=True, slots=True)
class PixelRule:
    """Visitors with an `event` in the last `within_days` days (on `campaign_ids`, when given)
    and, when `without` is set, no such later event: "cart abandoners, 7 days" is clicks
    without a conversion."""

    event: PixelEvent
    within_days: int
    campaign_ids: tuple[int, ...] = ()
    without: PixelEvent | None = None

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.within_days <= MAX_RULE_DAYS:
            found.append(f"rule.within_days must be 1-{MAX_RULE_DAYS}")
        if self.without is not None and self.without == self.event:
            found.append("rule.without must differ from rule.event")
        return found

    def as_json(self) -> dict[str, object]:
        return {
            "event": self.event.value,
            "within_days": self.within_days,
            "campaign_ids": [str(c) for c in self.campaign_ids],
            "without": None if self.without is None else self.without.value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PixelRule:
        without = data.get("without")
        return cls(
            event=PixelEvent(data["event"]),
            within_days=int(data["within_days"]),
            campaign_ids=tuple(int(c) for c in data.get("campaign_ids") or ()),
            without=None if without is None else PixelEvent(without),
        )


@dataclass(frozen=True, slots=True)
class Lookalike:
    seed_id: int
    percent_bp: int  # similarity_percentage in basis points: 1.5% is 150
    geo: tuple[str, ...]
    auc: float | None = None  # on the holdout, once built


MIN_PERCENT_BP = 100  # 1%
MAX_PERCENT_BP = 1000  # 10%


@dataclass(frozen=True, slots=True)
class Audience:
    id: int
    account_id: int
    name: str
    source: AudienceSource
    status: AudienceStatus
    size: int  # members
    matched: int  # members seen with at least one visitor (uids count as matched)
    created_at: datetime
    updated_at: datetime
    rule: PixelRule | None = None
    lookalike: Lookalike | None = None
    sketch: bytes | None = None
    error: str | None = None
    refreshed_at: datetime | None = None

    @property
    def match_rate(self) -> float | None:
        return round(self.matched / self.size, 4) if self.size else None

    @property
    def size_estimate(self) -> int:
        """Users, from the sketch (a member matched to two visitors is two); members without one."""
        if self.sketch is None:
            return self.size
        return round(float(compact_theta_sketch.deserialize(self.sketch).get_estimate()))


def name_problem(name: str) -> str | None:
    if not name.strip() or len(name) > MAX_NAME:
        return f"name must be 1-{MAX_NAME} characters"
    return None


@dataclass(frozen=True, slots=True)
class SyncJob:
    id: int
    account_id: int
    audience_id: int
    job_key: str
    action: SyncAction
    state: JobState
    received: int  # identifiers in the call
    malformed: int
    malformed_samples: tuple[dict[str, Any], ...]  # {"index", "type", "reason"}: never a value
    chunks: int
    applied: int  # chunks applied
    processed: int  # valid identifiers applied
    matched: int  # of those, seen with a visitor
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def progress(self) -> float:
        return (
            1.0
            if self.state is JobState.DONE
            else round(self.applied / self.chunks, 4)
            if self.chunks
            else 0.0
        )

    @property
    def estimated_match_rate(self) -> float | None:
        return round(self.matched / self.processed, 4) if self.processed else None


@dataclass(frozen=True, slots=True)
class Targets:
    """The audiences a campaign or line item includes (a visitor must be in one) and excludes."""

    include: tuple[int, ...] = ()
    exclude: tuple[int, ...] = ()

    def admits(self, member_of: frozenset[int]) -> bool:
        if self.include and member_of.isdisjoint(self.include):
            return False
        return member_of.isdisjoint(self.exclude)


# --- member keys ------------------------------------------------------------------------------

_PREFIX = {
    IdentifierType.EMAIL_SHA256: "e:",
    IdentifierType.PHONE_SHA256: "p:",
    IdentifierType.MAID: "m:",
}
# What `normalize_email` accepts, once trimmed and lower-cased, outside Gmail: one @, 1-64
# characters before it, dot-separated labels after it, no whitespace. Anything else (Gmail
# included) takes the full path, so both always agree (tests/domain/test_audiences.py).
_PLAIN_EMAIL = re.compile(r"[^\s@]{1,64}@[^\s.@]+(?:\.[^\s.@]+)+")
_GMAIL_SUFFIXES = tuple(f"@{d}" for d in GMAIL_DOMAINS)


def member_key(kind: str, value: str, default_region: str | None = None) -> str:
    """The key of one identifier as sent; raises InvalidIdentifier (never repeating the value)."""
    if kind == "email":  # the bulk of CRM lists: one regex instead of the stepwise checks
        email = value.strip().lower()
        if len(email) <= 254 and _PLAIN_EMAIL.fullmatch(email) and not email.endswith(_GMAIL_SUFFIXES):
            return "e:" + sha256_hex(email)
    stored, digest = hashed(kind, value, default_region=default_region)
    return _PREFIX[stored] + digest


def email_keys(raw: Sequence[str]) -> list[str | None]:
    """`member_key("email", ...)` over many at once, list-comprehension fast; None where the
    address needs the full path (Gmail, or a shape the quick check does not accept)."""
    plain, gmail, sha256 = _PLAIN_EMAIL.fullmatch, _GMAIL_SUFFIXES, hashlib.sha256
    emails = [e.strip().lower() for e in raw]
    return [
        "e:" + sha256(e.encode()).hexdigest()
        if len(e) <= 254 and plain(e) and not e.endswith(gmail)
        else None
        for e in emails
    ]


def uid_key(uid: str) -> str:
    return "u:" + uid


def is_hash_key(key: str) -> bool:
    """Keys the event log can link to visitors (hashed emails and phones)."""
    return key.startswith(("e:", "p:"))


# --- sketches ---------------------------------------------------------------------------------


def sketch_of(users: Iterable[str]) -> bytes:
    s = update_theta_sketch(SKETCH_LG_K)
    for user in users:
        s.update(user)
    return bytes(s.compact().serialize())


def merged(sketches: Sequence[bytes]) -> bytes:
    u = theta_union(SKETCH_LG_K)
    for raw in sketches:
        u.update(compact_theta_sketch.deserialize(raw))
    return bytes(u.get_result().serialize())


@dataclass(frozen=True, slots=True)
class Overlap:
    """Users in every audience, as a share of the users in any of them."""

    percentage: float
    unique_users: int  # in any of them
    common_users: int  # in all of them
    exact: bool
    percentage_low: float  # the bounds at STD_DEVS standard deviations
    percentage_high: float
    unique_low: int
    unique_high: int


def overlap(sketches: Sequence[bytes]) -> Overlap:
    parts = [compact_theta_sketch.deserialize(raw) for raw in sketches]
    u = theta_union(SKETCH_LG_K)
    i = theta_intersection()
    for part in parts:
        u.update(part)
        i.update(part)
    union, common = u.get_result(), i.get_result()
    exact = not union.is_estimation_mode() and not common.is_estimation_mode()
    total = union.get_estimate()
    if total <= 0:
        return Overlap(0.0, 0, 0, True, 0.0, 0.0, 0, 0)
    # Theta is shared: the intersection's retained hashes are a sample of the union's, so the
    # share's bounds are the intersection's bounds over the union's estimate.
    share = common.get_estimate() / total
    low = common.get_lower_bound(STD_DEVS) / union.get_upper_bound(STD_DEVS)
    high = min(common.get_upper_bound(STD_DEVS) / union.get_lower_bound(STD_DEVS), 1.0)
    if exact:
        low = high = share
    return Overlap(
        percentage=round(share * 100, 1),
        unique_users=round(total),
        common_users=round(common.get_estimate()),
        exact=exact,
        percentage_low=round(low * 100, 2),
        percentage_high=round(high * 100, 2),
        unique_low=round(union.get_lower_bound(STD_DEVS)),
        unique_high=round(union.get_upper_bound(STD_DEVS)),
    )
