"""Ports: what services need from the outside world, as Protocols.

Adapters in `store/`, `events/` and `counters/` implement them; `bootstrap.py` wires them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from auctera.domain.accounts import AccessToken, Account, ApiKey, OAuthClient
from auctera.domain.campaigns import Campaign, CampaignStatus, CampaignType
from auctera.domain.compliance import BlockedDomain
from auctera.domain.conversions import Conversion
from auctera.domain.events import DailyTotals, Event, Totals
from auctera.domain.fraud import RangeHit


class EventStore(Protocol):
    """Append-only event log with analytical queries.

    `append` returns only once the event has reached the operating system (it survives
    a kill -9 of the process); it is fsynced to disk within `fsync_interval` seconds.
    """

    def append(self, event: Event) -> None: ...

    def append_many(self, events: Iterable[Event]) -> None: ...

    def campaign_totals(
        self,
        account_id: int,
        campaign_ids: Sequence[int] | None,
        start: datetime,
        end: datetime,
    ) -> dict[int, Totals]:
        """Totals per campaign for events with start <= at < end (UTC instants)."""
        ...

    def campaign_totals_windows(
        self,
        account_id: int,
        campaign_ids: Sequence[int] | None,
        windows: Mapping[str, tuple[datetime, datetime]],
    ) -> dict[str, dict[int, Totals]]:
        """`campaign_totals` for each named (start, end) window, computed together in one pass:
        a list page asks for today, the period and lifetime at once."""
        ...

    def daily_totals(
        self,
        account_id: int | None,
        start: date,
        end: date,
        tz: str,
        *,
        campaign_id: int | None = None,
        publisher_id: int | None = None,
        by_campaign: bool = True,
    ) -> list[DailyTotals]:
        """Per-day (in time zone `tz`, inclusive range) totals, per campaign unless by_campaign=False.

        account_id None means every account (the network operator's view).
        """
        ...

    def find_event(self, event_id: int, around: datetime) -> Event | None:
        """The event with this id, written close to `around` (within minutes): ids are
        Snowflakes, so the caller knows when one was issued."""
        ...

    def existing_ids(self, event_ids: Sequence[int], start: datetime, end: datetime) -> set[int]:
        """Which of `event_ids` are in the log among events with start <= at <= end."""
        ...

    def identity_touches(
        self, account_id: int, hashes: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, Event]]:
        """(hash, touch): the clicks and impressions (not IVT), start <= at < end, of every visitor
        the account's events have seen with one of `hashes` (hashed emails or phones); oldest first."""
        ...

    def sync(self) -> None:
        """Force everything appended so far to disk (fsync)."""
        ...

    def close(self) -> None: ...

    def touchpoints(self, account_id: int, uid: str, start: datetime, end: datetime) -> list[Event]:
        """The clicks and impressions (not IVT) of visitor `uid` in the account, start <= at < end,
        oldest first: one visitor's journey for multi-touch attribution."""
        ...

    def paths(
        self, account_id: int, start: datetime, end: datetime
    ) -> Iterable[tuple[str, list[tuple[int, str, datetime]], bool]]:
        """Every visitor's paths in the account, start <= at < end: (uid, [(campaign_id, type, at),
        ...] in time order, converted). Touches are cut into one path per conversion; those after
        the last one make a non-converting path. Streamed: an account can have millions."""
        ...


class AccountRepository(Protocol):
    def add(self, account: Account) -> None: ...

    def get(self, account_id: int) -> Account | None: ...

    def list(self) -> list[Account]: ...

    def update(self, account: Account) -> None: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...

    def get(self, key_id: int) -> ApiKey | None: ...

    def by_hash(self, key_hash: str) -> ApiKey | None: ...

    def list_for_account(self, account_id: int) -> list[ApiKey]: ...

    def update(self, key: ApiKey) -> None: ...


class OAuthRepository(Protocol):
    def add_client(self, client: OAuthClient) -> None: ...

    def get_client(self, client_id: str) -> OAuthClient | None: ...

    def add_token(self, token: AccessToken) -> None: ...

    def token_by_hash(self, token_hash: str) -> AccessToken | None: ...

    def purge_tokens(self, before: datetime) -> int: ...


class ConversionRepository(Protocol):
    def add(self, conversion: Conversion, dedup_key: str) -> bool:
        """Insert unless a conversion with the same dedup key or idempotency key exists in the
        account (then nothing is written and False is returned)."""
        ...

    def get(
        self, conversion_id: int, *, account_id: int | None = None, for_update: bool = False
    ) -> Conversion | None: ...

    def by_keys(self, account_id: int, dedup_key: str, idempotency_key: str | None) -> Conversion | None:
        """The conversion with this dedup key, or else this idempotency key."""
        ...

    def update(self, conversion: Conversion) -> None: ...

    def unlogged(self, limit: int) -> list[Conversion]:
        """Conversions whose event may not have reached the event log yet, oldest first."""
        ...

    def mark_logged(self, conversion_ids: Sequence[int]) -> None: ...


class FxRateRepository(Protocol):
    def get(self, base: str, quote: str) -> Decimal | None: ...

    def set(self, base: str, quote: str, rate: Decimal, at: datetime) -> None: ...

    def list(self) -> list[tuple[str, str, Decimal, datetime]]: ...


class UnitOfWork(Protocol):
    """One transaction. `with uow:` commits on success when `commit()` was called, rolls back otherwise."""

    accounts: AccountRepository
    api_keys: ApiKeyRepository
    oauth: OAuthRepository
    campaigns: CampaignRepository
    blocklist: BlocklistRepository
    conversions: ConversionRepository
    fx_rates: FxRateRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix seconds when the current window resets
    retry_after: int  # seconds to wait when not allowed


class RateLimiter(Protocol):
    def hit(self, key: str, limit_per_minute: int) -> RateDecision:
        """Count one request for `key` and say whether it is within the limit."""
        ...


class CampaignRepository(Protocol):
    def add(self, campaign: Campaign) -> None: ...

    def get(
        self, campaign_id: int, *, account_id: int | None = None, for_update: bool = False
    ) -> Campaign | None:
        """The campaign, when it belongs to `account_id` (None: any account, the network's view).

        `for_update` locks the row until the transaction ends (PostgreSQL), so concurrent
        writes to one campaign serialise instead of overwriting each other.
        """
        ...

    def update(self, campaign: Campaign) -> None: ...

    def page(
        self,
        *,
        account_id: int | None,
        status: CampaignStatus | None,
        include_archived: bool,
        type: CampaignType | None,
        before_id: int | None,
        limit: int,
    ) -> list[Campaign]:
        """Newest first (id descending), ids below `before_id`: keyset pagination on an index."""
        ...

    def open_offers(self, geo: str | None, before_id: int | None, limit: int) -> list[Campaign]:
        """Up to `limit` active, public affiliate campaigns with ids below `before_id`, newest
        first, restricted to those allowing country `geo` (worldwide ones always do)."""
        ...

    def pending_review_ids(self, limit: int) -> list[int]: ...

    def live_mentioning(self, needles: Sequence[str]) -> list[Campaign]:
        """Active and paused campaigns whose destination URL contains any of `needles`, ignoring
        case (a coarse filter: callers check the host themselves)."""
        ...


class BlocklistRepository(Protocol):
    def add(self, entry: BlockedDomain) -> bool:
        """False when the domain is already listed (the first entry is kept)."""
        ...

    def get(self, domain: str) -> BlockedDomain | None: ...

    def remove(self, domain: str) -> bool: ...

    def list(self) -> list[BlockedDomain]: ...

    def matching(self, domains: Sequence[str]) -> frozenset[str]:
        """Which of `domains` are listed."""
        ...


# --- the fraud filters' lookups (adapters in ivt/ and counters/) ------------------------------


class CrawlerMatcher(Protocol):
    def is_crawler(self, user_agent: str) -> bool:
        """True when the UA is a known bot, crawler, HTTP library or headless browser. Must be
        memoised: it is called on every click."""
        ...


class IpRangeLookup(Protocol):
    def lookup(self, ip: str) -> RangeHit | None:
        """The most specific imported range holding `ip` (IPv4 or IPv6 text), or None."""
        ...


class VelocityCounter(Protocol):
    def hit(self, key: str, at: datetime, window: timedelta) -> int:
        """Record one hit on `key` at `at`; return the hits on `key` in (at - window, at], this one
        included."""
        ...

    def recent(self, key: str, last: int) -> list[float]:
        """The times (epoch seconds) of the newest `last` hits on `key` still in its window, oldest
        first."""
        ...
