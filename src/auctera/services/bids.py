"""Bid management (seed 001): the hierarchy (networks, their campaigns and ad sets) and the bids.

An upload is checked whole before anything is written: when one bid breaks a rule, every
rejected bid is reported and none is stored (the CSV upload and the API behave alike). Accepted
bids are stored `pending`, each with the operation the bid sync saga applies on the partner.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from urllib.parse import urlsplit

from auctera.domain.accounts import Principal
from auctera.domain.bids import (
    MAX_NAME,
    AdSet,
    Bid,
    BidFilter,
    BidRow,
    BidStatus,
    ChangedBid,
    Delta,
    Dimension,
    ExactValue,
    Hierarchy,
    Network,
    NetworkCampaign,
    NewBid,
    OperationKind,
    PartnerKind,
    Reason,
    StoredBid,
    UploadRules,
    UploadWrites,
    check_bid,
    dimension_key,
    exact_value,
    filter_problem,
    micros_of,
    network_problem,
)
from auctera.errors import AucteraError, Conflict, NotFound
from auctera.services.clock import Clock, Ids
from auctera.services.outbound import Resolver, internal_host, resolve_host
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory

MAX_PAGE_LIMIT = 1000
DEFAULT_PAGE_LIMIT = 100
MAX_OFFSET = 2**63 - 1  # SQL's OFFSET is a 64-bit integer
# Read per uploaded row: module globals are quicker than the enums' attributes.
_PENDING = BidStatus.PENDING
_UPDATE, _DELETE = OperationKind.UPDATE, OperationKind.DELETE


_ALLOW_PRIVATE = "the operator may allow such networks with AUCTERA_PARTNER_ALLOW_PRIVATE=true"


class PartnerTargets:
    """Where a bid network may be called: not on a private, loopback, link-local or reserved
    address (the rule publisher postbacks follow: domain/webhooks.forbidden_address), else any
    tenant could make the bid sync call the operator's internal services with its token. Checked
    when a network is saved and again before every call (DNS may have changed since). A network
    the operator registered (`trusted`), or every network when the operator allows private
    targets (AUCTERA_PARTNER_ALLOW_PRIVATE), may be anywhere."""

    def __init__(self, resolve: Resolver = resolve_host, *, allow_private: bool = False) -> None:
        self._resolve = resolve
        self.allow_private = allow_private

    def refused(self, network: Network, *, must_resolve: bool) -> str | None:
        """Why `network` may not be called at its baseUrl, else None. A host that does not
        resolve is refused when `must_resolve` (a call), accepted otherwise (it may, later)."""
        if self.allow_private or network.trusted or network.base_url is None:
            return None
        host = urlsplit(network.base_url).hostname or ""
        why = internal_host(host, self._resolve, must_resolve=must_resolve, allowed_by=_ALLOW_PRIVATE)
        return None if why is None else f"baseUrl: {why}"


@dataclass(frozen=True)
class Rejection:
    index: int  # the row's position in the upload, from 0
    row: BidRow
    campaign: NetworkCampaign | None
    network: Network | None
    delta: Delta
    message: str


@dataclass(frozen=True)
class UploadResult:
    upload_id: int | None  # None: rejected, nothing stored
    accepted: int
    rejections: list[Rejection]


class BidService:
    def __init__(
        self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock, targets: PartnerTargets | None = None
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._targets = targets or PartnerTargets()

    # --- networks -----------------------------------------------------------------------------

    def create_network(self, principal: Principal, draft: Network, *, trusted: bool = False) -> Network:
        """`draft` as the caller described it; its id, owner and times are set here. `trusted`:
        the operator registers it (the demo, code on the host; never an API call), so its
        baseUrl may be on an internal address."""
        now = self._clock()
        network = replace(
            draft,
            id=self._ids.next_id(),
            account_id=principal.account_id,
            created_at=now,
            updated_at=now,
            trusted=trusted,
        )
        self._check_network(network)
        with self._uow() as uow:
            if not uow.bids.add_network(network):
                raise Conflict(f"a network named {network.name!r} exists already", field="name")
            uow.commit()
        return network

    def networks(self, principal: Principal) -> list[Network]:
        with self._uow(read_only=True) as uow:
            return uow.bids.networks(None, account_id=principal.account_id)

    def _check_network(self, network: Network) -> None:
        _check_network(network)
        refused = self._targets.refused(network, must_resolve=False)
        if refused is not None:
            raise AucteraError(refused, field="baseUrl", code="validation_error")

    def network(self, principal: Principal, network_id: int) -> Network:
        with self._uow(read_only=True) as uow:
            return _network_of(uow, principal, network_id)

    def update_network(
        self, principal: Principal, network_id: int, change: Callable[[Network], Network]
    ) -> Network:
        with self._uow() as uow:
            current = _network_of(uow, principal, network_id)
            network = replace(change(current), id=current.id, account_id=current.account_id)
            network = replace(
                network,
                created_at=current.created_at,
                updated_at=self._clock(),
                # The operator vouched for its baseUrl, not for one a tenant puts in its place.
                trusted=current.trusted and network.base_url == current.base_url,
            )
            self._check_network(network)
            if not uow.bids.update_network(network):
                raise Conflict(f"a network named {network.name!r} exists already", field="name")
            uow.commit()
        return network

    # --- network campaigns --------------------------------------------------------------------

    def create_campaign(
        self, principal: Principal, network_id: int, draft: NetworkCampaign
    ) -> NetworkCampaign:
        now = self._clock()
        campaign = replace(
            draft,
            id=self._ids.next_id(),
            account_id=principal.account_id,
            network_id=network_id,
            created_at=now,
            updated_at=now,
        )
        with self._uow() as uow:
            _check_own_platform(_network_of(uow, principal, network_id), campaign)
            _check_campaign(uow, principal, campaign)
            if not uow.bids.add_campaign(campaign):
                raise _linked_already("campaign", campaign.campaign_id, "ownCampaignId")
            uow.commit()
        return campaign

    def campaigns(self, principal: Principal, network_id: int) -> list[NetworkCampaign]:
        with self._uow(read_only=True) as uow:
            _network_of(uow, principal, network_id)
            return uow.bids.campaigns(None, account_id=principal.account_id, network_id=network_id)

    def campaign(self, principal: Principal, campaign_id: int) -> NetworkCampaign:
        with self._uow(read_only=True) as uow:
            return _campaign_of(uow, principal, campaign_id)

    def update_campaign(
        self, principal: Principal, campaign_id: int, change: Callable[[NetworkCampaign], NetworkCampaign]
    ) -> NetworkCampaign:
        with self._uow() as uow:
            current = _campaign_of(uow, principal, campaign_id)
            campaign = replace(
                change(current),
                id=current.id,
                account_id=current.account_id,
                network_id=current.network_id,
                created_at=current.created_at,
                updated_at=self._clock(),
            )
            _check_own_platform(_network_of(uow, principal, campaign.network_id), campaign)
            _check_campaign(uow, principal, campaign)
            if not uow.bids.update_campaign(campaign):
                raise _linked_already("campaign", campaign.campaign_id, "ownCampaignId")
            uow.commit()
        return campaign

    # --- ad sets ------------------------------------------------------------------------------

    def create_ad_set(self, principal: Principal, campaign_id: int, draft: AdSet) -> AdSet:
        now = self._clock()
        with self._uow() as uow:
            campaign = _campaign_of(uow, principal, campaign_id)
            ad_set = replace(
                draft,
                id=self._ids.next_id(),
                account_id=principal.account_id,
                network_id=campaign.network_id,
                network_campaign_id=campaign.id,
                created_at=now,
                updated_at=now,
            )
            _check_ad_set(uow, principal, ad_set)
            if not uow.bids.add_ad_set(ad_set):
                raise _linked_already("line item", ad_set.line_item_id, "ownLineItemId")
            uow.commit()
        return ad_set

    def ad_sets(self, principal: Principal, campaign_id: int) -> list[AdSet]:
        with self._uow(read_only=True) as uow:
            _campaign_of(uow, principal, campaign_id)
            return uow.bids.ad_sets(None, account_id=principal.account_id, campaign_id=campaign_id)

    def ad_set(self, principal: Principal, ad_set_id: int) -> AdSet:
        with self._uow(read_only=True) as uow:
            return _ad_set_of(uow, principal, ad_set_id)

    def update_ad_set(self, principal: Principal, ad_set_id: int, change: Callable[[AdSet], AdSet]) -> AdSet:
        with self._uow() as uow:
            current = _ad_set_of(uow, principal, ad_set_id)
            ad_set = replace(
                change(current),
                id=current.id,
                account_id=current.account_id,
                network_id=current.network_id,
                network_campaign_id=current.network_campaign_id,
                created_at=current.created_at,
                updated_at=self._clock(),
            )
            _check_ad_set(uow, principal, ad_set)
            if not uow.bids.update_ad_set(ad_set):
                raise _linked_already("line item", ad_set.line_item_id, "ownLineItemId")
            uow.commit()
        return ad_set

    # --- bids ---------------------------------------------------------------------------------

    def bids(self, principal: Principal, found: BidFilter, *, offset: int, limit: int) -> list[Bid]:
        """The account's bids matching one of the eligible filter combinations, oldest first."""
        problem = filter_problem(found)
        if problem is not None:
            raise AucteraError(problem, field="filter", code="invalid_filter")
        if not 0 <= offset <= MAX_OFFSET:
            raise AucteraError(f"page.offset must be from 0 to {MAX_OFFSET}", field="page.offset")
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise AucteraError(f"page.limit must be from 1 to {MAX_PAGE_LIMIT}", field="page.limit")
        with self._uow(read_only=True) as uow:
            return uow.bids.bids(found, account_id=principal.account_id, offset=offset, limit=limit)

    def upload(self, principal: Principal, rows: Sequence[BidRow]) -> UploadResult:
        """Checks every row against the hierarchy and the stored bids; stores them all (pending),
        or none when any is rejected."""
        with paused_collector():
            return self._upload(principal, rows)

    def _upload(self, principal: Principal, rows: Sequence[BidRow]) -> UploadResult:
        with self._uow() as uow:
            account_id = principal.account_id
            campaigns = {
                c.id: c
                for c in uow.bids.campaigns(
                    sorted({r.campaign_id for r in rows}), account_id=account_id, for_update=True
                )
            }
            network_ids = sorted({c.network_id for c in campaigns.values()})
            networks = {n.id: n for n in uow.bids.networks(network_ids, account_id=account_id)}
            wanted_ad_sets = sorted({r.ad_set_id for r in rows if r.ad_set_id is not None})
            ad_sets = {a.id: a for a in uow.bids.ad_sets(wanted_ad_sets, account_id=account_id)}
            existing = uow.bids.stored_bids(list(campaigns))

            # Most rows pass the quick test of their campaign's rules; the others go through
            # check_bid, which names the reason (or accepts them after all).
            rules = {
                c.id: (UploadRules(networks[c.network_id], c), c.network_id)
                for c in campaigns.values()
                if c.network_id in networks
            }
            campaign_of_ad_set = {a.id: a.network_campaign_id for a in ad_sets.values()}
            exact: dict[Decimal, ExactValue | None] = {}  # an upload's values repeat
            writes = _Writes(self._ids.next_id)
            rejections: list[Rejection] = []
            seen: set[Dimension] = set()
            for index, row in enumerate(rows):
                campaign_id, ad_set_id, country, source_id, value, delete = row
                key = dimension_key(campaign_id, ad_set_id, country, source_id)
                stored = existing.get(key)
                found = rules.get(campaign_id)
                if found is not None and key not in seen:
                    value_of = None
                    if not delete and value is not None:
                        value_of = exact.get(value)
                        if value_of is None:
                            value_of = exact[value] = exact_value(value)
                    ad_set_found = ad_set_id is None or campaign_of_ad_set.get(ad_set_id) == campaign_id
                    if found[0].accepts(row, ad_set_found, stored, value_of):
                        seen.add(key)
                        if not rejections:
                            writes.add(row, found[1], stored, None if value_of is None else value_of.micros)
                        continue
                campaign = campaigns.get(campaign_id)
                network = networks.get(campaign.network_id) if campaign is not None else None
                ad_set = ad_sets.get(ad_set_id) if ad_set_id is not None else None
                if ad_set is not None and ad_set.network_campaign_id != campaign_id:
                    ad_set = None  # another campaign's ad set is not found in this one
                verdict = check_bid(row, Hierarchy(campaign, network, ad_set, stored))
                message = verdict.message
                if message is None and key in seen:
                    message = Reason.DUPLICATE.value
                seen.add(key)
                if message is not None:
                    rejections.append(Rejection(index, row, campaign, network, verdict.delta, message))
                elif not rejections:
                    assert network is not None
                    micros = None if delete or value is None else micros_of(value)
                    writes.add(row, network.id, stored, micros)
            if rejections:
                return UploadResult(None, 0, rejections)
            upload_id = self._ids.next_id()
            uow.bids.save_upload(
                UploadWrites(upload_id, account_id, self._clock(), writes.created, writes.changed)
            )
            # A pending change not yet sent is replaced by this one (the bid sync sends only a bid's
            # latest operation); one already in a partner batch settles there first.
            if writes.replaced:
                uow.bids.supersede(writes.replaced)
            uow.commit()
        return UploadResult(upload_id, len(writes.created) + len(writes.changed), [])


_collector_lock = threading.Lock()
_collector_pauses = 0  # uploads under way
_collector_was_enabled = False


@contextmanager
def paused_collector() -> Iterator[None]:
    """Holds off Python's cyclic garbage collector while an upload's rows are in memory. Each of
    its full passes walks every live object, and 100k rows (their parsed JSON, their tuples) make
    it pass often: a quarter to a third of an upload's time. What an upload allocates is freed
    by reference counting; a cycle made meanwhile anywhere in the process waits for the collector,
    which resumes as it was when the last upload under way ends."""
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()


class _Writes:
    """An upload's accepted rows as the tuples storage takes, ids drawn as they are accepted."""

    def __init__(self, next_id: Callable[[], int]) -> None:
        self._next_id = next_id
        self.created: list[NewBid] = []
        self.changed: list[ChangedBid] = []
        self.replaced: list[int] = []  # the operations the changed bids had pending

    def add(self, row: BidRow, network_id: int, stored: StoredBid | None, micros: int | None) -> None:
        operation_id = self._next_id()
        if stored is None:
            assert micros is not None
            bid_id = self._next_id()
            self.created.append(
                (
                    bid_id,
                    operation_id,
                    network_id,
                    row.campaign_id,
                    row.ad_set_id,
                    row.country,
                    row.source_id,
                    micros,
                )
            )
            return
        kind = _DELETE if row.delete else _UPDATE
        self.changed.append((stored.id, operation_id, network_id, kind, stored.value_micros, micros))
        if stored.status is _PENDING:
            self.replaced.append(stored.operation_id)


def _check_network(network: Network) -> None:
    problem = network_problem(network)
    if problem is not None:
        field, message = problem
        raise AucteraError(message, field=field, code="validation_error")


def _check_names(name: str, external_id: str | None) -> None:
    """A name and an external id fit their String(255) columns (PostgreSQL would refuse longer)."""
    if not name.strip():
        raise AucteraError("name must not be empty", field="name", code="validation_error")
    for field, value in (("name", name), ("externalId", external_id)):
        if value is not None and len(value) > MAX_NAME:
            raise AucteraError(
                f"{field} must be at most {MAX_NAME} characters", field=field, code="validation_error"
            )


def _check_campaign(uow: UnitOfWork, principal: Principal, campaign: NetworkCampaign) -> None:
    _check_names(campaign.name, campaign.external_id)
    if campaign.campaign_id is not None and (
        uow.campaigns.get(campaign.campaign_id, account_id=principal.account_id) is None
    ):
        raise NotFound(f"campaign {campaign.campaign_id} not found", field="ownCampaignId")


def _check_own_platform(network: Network, campaign: NetworkCampaign) -> None:
    """Our campaigns and line items have one bid, not one per country (partners/auctera)."""
    if network.kind is PartnerKind.AUCTERA and len(campaign.countries) != 1:
        raise AucteraError(
            "countries: a campaign of an auctera network has exactly one country"
            " (our campaigns have one bid)",
            field="countries",
            code="validation_error",
        )


def _check_ad_set(uow: UnitOfWork, principal: Principal, ad_set: AdSet) -> None:
    _check_names(ad_set.name, ad_set.external_id)
    if ad_set.line_item_id is not None and (
        uow.line_items.get(ad_set.line_item_id, account_id=principal.account_id) is None
    ):
        raise NotFound(f"line item {ad_set.line_item_id} not found", field="ownLineItemId")


def _linked_already(what: str, own_id: int | None, field: str) -> Conflict:
    """One network campaign (ad set) per campaign (line item) of ours, kept by a unique index:
    two would each show a bid of their own while ours runs one."""
    return Conflict(
        f"{field}: {what} {own_id} is linked already to another "
        f"{'network campaign' if what == 'campaign' else 'ad set'}; a {what} of ours takes bids from one",
        field=field,
    )


def _network_of(uow: UnitOfWork, principal: Principal, network_id: int) -> Network:
    found = uow.bids.network(network_id, account_id=principal.account_id)
    if found is None:
        raise NotFound(f"network {network_id} not found", field="networkId")
    return found


def _campaign_of(uow: UnitOfWork, principal: Principal, campaign_id: int) -> NetworkCampaign:
    found = uow.bids.campaigns([campaign_id], account_id=principal.account_id)
    if not found:
        raise NotFound(f"campaign {campaign_id} not found", field="campaignId")
    return found[0]


def _ad_set_of(uow: UnitOfWork, principal: Principal, ad_set_id: int) -> AdSet:
    found = uow.bids.ad_sets([ad_set_id], account_id=principal.account_id)
    if not found:
        raise NotFound(f"ad set {ad_set_id} not found", field="adSetId")
    return found[0]
