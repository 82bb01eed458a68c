"""Short-lived in-process caches for reads the hot paths make on every request."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from auctera.domain.accounts import Account
from auctera.domain.campaigns import Campaign
from auctera.domain.catalog import Product
from auctera.domain.programs import Application, ApprovalStatus, CommissionType, Program
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class ProgramTerms:
    """What the commission engine needs of a program: its standard segment and every commission
    type of every segment."""

    standard_segment_id: int | None  # None: the campaign has no program settings
    types: tuple[CommissionType, ...] = ()


class TimedCache(Generic[K, V]):
    """`get(key, load)`: the value loaded at most `seconds` ago, else `load(key)`. Bounded: the
    entries loaded longest ago go first."""

    def __init__(self, seconds: float, size: int = 65_536) -> None:
        self._seconds = seconds
        self._size = size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[K], V]) -> V:
        now = time.monotonic()
        held = self._items.get(key)  # one C call, atomic: only writers take the lock
        if held is not None and now - held[0] < self._seconds:
            return held[1]
        value = load(key)
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class CachedLookups:
    """Accounts and campaigns as the hot paths read them (the click redirect, postbacks), each at
    most `seconds` old: a paused campaign, a new payout or a rotated signing secret applies
    within that delay. One per process, shared by the services that need it."""

    def __init__(self, uow: UnitOfWorkFactory, seconds: float) -> None:
        self._uow = uow
        self._accounts: TimedCache[int, Account | None] = TimedCache(seconds)
        self._campaigns: TimedCache[int, Campaign | None] = TimedCache(seconds)
        self._commissions: TimedCache[int, ProgramTerms] = TimedCache(seconds)
        self._applications: TimedCache[tuple[int, int, int | None], Application | None] = TimedCache(seconds)
        self._approved: TimedCache[tuple[int, int], bool] = TimedCache(seconds)
        self._program_sites: TimedCache[int, tuple[str, ...]] = TimedCache(seconds)
        self._products: TimedCache[int, Product | None] = TimedCache(seconds)

    def account(self, account_id: int) -> Account | None:
        return self._accounts.get(account_id, self._load_account)

    def campaign(self, campaign_id: int) -> Campaign | None:
        return self._campaigns.get(campaign_id, self._load_campaign)

    def commissions(self, program_id: int) -> ProgramTerms:
        """The program's commission types, all segments (none without program settings)."""
        return self._commissions.get(program_id, self._load_commissions)

    def application(self, program_id: int, publisher_id: int, channel_id: int | None) -> Application | None:
        """The channel's application to the program (`channel_id` None: the publisher-wide one)."""
        return self._applications.get((program_id, publisher_id, channel_id), self._load_application)

    def _load_commissions(self, program_id: int) -> ProgramTerms:
        with self._uow(read_only=True) as uow:
            standard = uow.programs.standard_segment(program_id)
            if standard is None:
                return ProgramTerms(None)
            return ProgramTerms(standard.id, tuple(uow.programs.commissions([program_id])))

    def approved(self, program_id: int, publisher_id: int) -> bool:
        """Whether any application of the publisher to the program (publisher-wide or for any
        of its channels) is approved: what a private offer's links without `ch=` need."""
        return self._approved.get((program_id, publisher_id), self._load_approved)

    def program_sites(self, program_id: int) -> tuple[str, ...]:
        """Where a program's deep links may land besides its landing page: the program's URL and
        the domains of the catalogs it offers (empty without program settings)."""
        return self._program_sites.get(program_id, self._load_program_sites)

    def product(self, product_id: int) -> Product | None:
        return self._products.get(product_id, self._load_product)

    def _load_approved(self, key: tuple[int, int]) -> bool:
        program_id, publisher_id = key
        with self._uow(read_only=True) as uow:
            return bool(
                uow.channels.applications(
                    publisher_id=publisher_id,
                    program_ids=[program_id],
                    status=ApprovalStatus.APPROVED,
                    limit=1,
                )
            )

    def _load_program_sites(self, program_id: int) -> tuple[str, ...]:
        with self._uow(read_only=True) as uow:
            program = uow.programs.get(program_id)
            return () if program is None else program_sites(uow, program)

    def _load_product(self, product_id: int) -> Product | None:
        with self._uow(read_only=True) as uow:
            return uow.products.get(product_id)

    def _load_application(self, key: tuple[int, int, int | None]) -> Application | None:
        program_id, publisher_id, channel_id = key
        with self._uow(read_only=True) as uow:
            return uow.channels.application_for(program_id, publisher_id=publisher_id, channel_id=channel_id)

    def _load_account(self, account_id: int) -> Account | None:
        with self._uow(read_only=True) as uow:
            return uow.accounts.get(account_id)

    def _load_campaign(self, campaign_id: int) -> Campaign | None:
        with self._uow(read_only=True) as uow:
            return uow.campaigns.get(campaign_id)


def program_sites(uow: UnitOfWork, program: Program) -> tuple[str, ...]:
    """Where a program's deep links (`url=`) may land besides its campaign's landing page: the
    program's URL and the domains of the advertiser's own catalogs it offers. The click handler
    and the product feeds' links (which must never hold one it refuses) both read this."""
    feeds = (uow.retailers.get(r, account_id=program.account_id) for r in program.feed_ids)
    domains = tuple(r.domain for r in feeds if r is not None)
    return ((program.program_url,) if program.program_url else ()) + domains
