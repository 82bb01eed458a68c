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
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import compress, repeat
from typing import Any

import numpy as np
from datasketches import compact_theta_sketch, theta_intersection, theta_union, update_theta_sketch

from auctera.domain.identifiers import EMPTY_SHA256, GMAIL_DOMAINS, IdentifierType, hashed, sha256_hex
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


def email_digests(joined: bytes, count: int) -> tuple[bytes, list[int]]:
    """`member_key("email", ...)` over `count` UTF-8 values at once, `joined` by newlines (none
    holds one): the 32-byte SHA-256 digests, end to end (in no particular order), of every plain
    address (one `_PLAIN_EMAIL` accepts; Gmail ones with Gmail's rule applied), and the indexes of
    the others, in order, which take `member_key` (it decides and explains).

    Trimming and lower-casing are done on the whole run: `split()` with no separator trims each
    value while it splits, which is each value exactly when every value holds one `@` (then no
    value is empty or split in two). The checks then run over the results joined (numpy, a few
    passes in C) instead of one regex call per value: ASCII only, no whitespace inside, exactly
    one `@` with something before it, a domain of non-empty dot-separated labels, at most 64
    characters in all (a shorter bound than 254 and the local part's 64: longer ones take the full
    path). Whatever they do not prove plain goes to the full path, so both always agree
    (tests/domain/test_audiences.py)."""
    lowered = joined.lower()
    emails = lowered.split()
    if len(emails) != count or lowered.translate(None, _NOT_AT_OR_NL) != b"@\n" * (count - 1) + b"@":
        emails = list(map(bytes.strip, lowered.split(b"\n"), repeat(b" ")))  # one by one
    shapes = _plain(np.frombuffer(b"\n".join(emails), np.uint8), count) if count else None
    if shapes is None:
        return b"", list(range(count))
    plain, gmail = shapes
    if plain.all():
        return b"".join(map(_DIGEST, map(hashlib.sha256, emails))), []  # no bytecode per email
    digests = [b"".join(map(_DIGEST, map(hashlib.sha256, compress(emails, plain.tolist()))))]
    others = np.flatnonzero(~plain & ~gmail).tolist()
    for index in np.flatnonzero(gmail).tolist():  # Gmail's rule: no dots, no +tag before the @
        local, _, domain = emails[index].partition(b"@")
        local = local.partition(b"+")[0].replace(b".", b"")
        if local:
            digests.append(hashlib.sha256(local + b"@" + domain).digest())
        else:
            others.append(index)  # nothing left: the full path explains
    return b"".join(digests), sorted(others)


_NOT_AT_OR_NL = bytes(b for b in range(256) if b not in b"@\n")
_DIGEST = type(hashlib.sha256()).digest
_AT, _DOT, _NL = ord("@"), ord("."), ord("\n")
_GMAIL = [np.frombuffer(d.encode(), np.uint8) for d in GMAIL_DOMAINS]


def _plain(a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Per value, whether it is plain, and whether it would be but for being a Gmail address;
    `a`: n lower-cased, trimmed values joined by newlines. None when a newline inside a value
    makes them impossible to tell apart."""
    if not len(a):
        return np.zeros(n, bool), np.zeros(n, bool)
    seps = np.flatnonzero(a == _NL)
    if len(seps) != n - 1:
        return None
    starts = np.concatenate(([0], seps + 1))
    ends = np.concatenate((seps, [len(a)]))
    plain = ends - starts <= 64

    def spoil(positions: np.ndarray) -> None:  # the values holding these bytes
        plain[np.searchsorted(seps, positions)] = False

    if np.count_nonzero(a <= 32) != n - 1 or (a >= 128).any():  # whitespace, control, not ASCII
        spoil(np.flatnonzero(((a <= 32) & (a != _NL)) | (a >= 128)))
    at = np.flatnonzero(a == _AT)
    if len(at) == n and (at > starts).all() and (at < ends).all():  # the common case: one each
        first = at
    else:
        owner = np.searchsorted(seps, at)
        plain &= np.bincount(owner, minlength=n) == 1
        first = np.zeros(n, np.int64)
        first[owner[::-1]] = at[::-1]  # each value's first @: its only one where still plain
    plain &= (first > starts) & (first + 1 < ends)  # something before and after the @
    plain &= (a[np.minimum(first + 1, len(a) - 1)] != _DOT) & (a[ends - 1] != _DOT)  # empty labels
    dot = a == _DOT
    double = dot[:-1] & dot[1:]
    if double.any():  # an empty label (or two dots in a local part)
        spoil(np.flatnonzero(double) + 1)
    dots = np.flatnonzero(dot)
    if not len(dots):
        return np.zeros(n, bool), np.zeros(n, bool)
    last = np.searchsorted(dots, ends) - 1  # each value's last dot, which must be in its domain
    plain &= (last >= 0) & (dots[last.clip(0)] > first)
    gmail = np.zeros(n, bool)
    for domain in _GMAIL:  # Gmail addresses have a rule of their own
        same = np.flatnonzero(plain & (ends - first - 1 == len(domain)))
        gmail[same[(a[first[same, None] + np.arange(1, len(domain) + 1)] == domain).all(1)]] = True
    return plain & ~gmail, gmail


def hash_digests(joined: bytes, count: int) -> tuple[bytes, list[int]]:
    """Like `email_digests`, for `email_sha256` / `phone_sha256` values: all of them in bulk
    when every one is 64 hex digits (trimmed) and none the hash of "", else none."""
    hexes = list(map(bytes.strip, joined.split(b"\n"), repeat(b" ")))
    run = b"".join(hexes)
    everyone = list(range(count))
    if len(run) != 64 * len(hexes) or not run.isalnum() or set(map(len, hexes)) != {64}:
        return b"", everyone
    try:
        digests = bytes.fromhex(run.decode("ascii"))
    except ValueError:
        return b"", everyone
    empty = digests.find(_EMPTY_DIGEST)
    while empty != -1:
        if empty % 32 == 0:
            return b"", everyone
        empty = digests.find(_EMPTY_DIGEST, empty + 1)
    return digests, []


_EMPTY_DIGEST = bytes.fromhex(EMPTY_SHA256)


def uid_key(uid: str) -> str:
    return "u:" + uid


def is_hash_key(key: str) -> bool:
    """Keys the event log can link to visitors (hashed emails and phones)."""
    return key.startswith(("e:", "p:"))


# --- staged member keys -----------------------------------------------------------------------
# A sync job's valid identifiers wait for the worker as fixed-size records: a kind byte (`e`,
# `p`, `m`) and 32 bytes, the raw SHA-256 digest (or a MAID's 16 bytes, zero-padded). Half the
# size of hex keys, and a run of digests becomes records without a Python object per key.

RECORD = 33
_KEY_KINDS = {"e": 0x65, "p": 0x70, "m": 0x6D}


def pack_digests(kind: str, digests: bytes) -> bytes:
    """Records of one kind (`e` or `p`) from digests 32 bytes each, end to end."""
    rows = np.empty((len(digests) // 32, RECORD), np.uint8)
    rows[:, 0] = _KEY_KINDS[kind]
    rows[:, 1:] = np.frombuffer(digests, np.uint8).reshape(-1, 32)
    return rows.tobytes()


def pack_keys(keys: Iterable[str]) -> bytes:
    """Records from member keys (`e:<sha256>`, `p:<sha256>`, `m:<uuid>`)."""
    out = bytearray()
    for key in keys:
        body = bytes.fromhex(key[2:].replace("-", ""))
        out += bytes((_KEY_KINDS[key[0]],)) + body.ljust(32, b"\0")
    return bytes(out)


def unpack_keys(records: bytes) -> list[str]:
    """The member keys of records written by `pack_digests` / `pack_keys`."""
    text = records.hex()
    keys = []
    for start in range(0, len(text), 2 * RECORD):
        kind = chr(int(text[start : start + 2], 16))
        body = text[start + 2 : start + 2 * RECORD]
        if kind == "m":
            body = f"{body[:8]}-{body[8:12]}-{body[12:16]}-{body[16:20]}-{body[20:32]}"
        keys.append(f"{kind}:{body}")
    return keys


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
    percentage = round(share * 100, 1)
    # The bounds to the figure's one decimal, outward so that they still hold; exact: the figure.
    low_pct, high_pct = (
        (percentage, percentage) if exact else (math.floor(low * 1000) / 10, math.ceil(high * 1000) / 10)
    )
    return Overlap(
        percentage=percentage,
        unique_users=round(total),
        common_users=round(common.get_estimate()),
        exact=exact,
        percentage_low=low_pct,
        percentage_high=high_pct,
        unique_low=round(union.get_lower_bound(STD_DEVS)),
        unique_high=round(union.get_upper_bound(STD_DEVS)),
    )
