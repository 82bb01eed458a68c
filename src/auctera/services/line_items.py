"""Retail-media line items: create, read, list, replace (PUT), and the products they promote.

A caller reaches only its own account's line items, campaigns and products: anything else is
"not found". Status, spend, remaining budget and today's daily cap are derived at read time in
the account's time zone (domain/line_items.py), never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from zoneinfo import ZoneInfo

from auctera.domain.accounts import Principal
from auctera.domain.budgets import NOTHING_SPENT, Spend, day_key, local_day, month_key
from auctera.domain.campaigns import Campaign, CampaignStatus, CampaignType
from auctera.domain.line_items import (
    Circumstances,
    LineItem,
    LineItemInvalid,
    LineItemSettings,
    LineItemState,
    LineItemStatus,
    Problem,
    derive_status,
    problems,
    replaced,
    requested_status,
    state_of,
)
from auctera.domain.money import convert_up
from auctera.errors import Conflict, NotFound
from auctera.services.clock import Clock, Ids
from auctera.services.fx import rates_to
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory

MAX_PRODUCTS_PER_CALL = 1_000
MAX_PROBLEMS = 10  # products named in one refusal: each its own error, pointing at it in the body


@dataclass(frozen=True, slots=True)
class LineItemWrite:
    """A POST or PUT: the writeable attributes, and the read-only ones the caller echoed back
    (checked against the line item: a write never moves it to another campaign or retailer)."""

    settings: LineItemSettings
    status: LineItemStatus | None = None
    target_retailer_id: int | None = None  # required on create
    campaign_id: int | None = None
    keep_bid_strategy: bool = False  # PUT without bidStrategy: it stays as it was


@dataclass(frozen=True, slots=True)
class RetailCampaign:
    campaign: Campaign
    spend: Spend


class LineItemService:
    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    def _today(self, principal: Principal) -> date:
        return local_day(self._clock(), ZoneInfo(principal.timezone))

    # --- line items --------------------------------------------------------------------------

    def create(self, principal: Principal, campaign_id: int, write: LineItemWrite) -> LineItemState:
        now = self._clock()
        today = self._today(principal)
        with self._uow() as uow:
            # Locked: line items of one campaign are created one at a time (unique names).
            campaign = self._campaign(uow, principal, campaign_id, for_update=True)
            if campaign.status is CampaignStatus.ARCHIVED:
                raise Conflict("the campaign is archived; it takes no new line items", field="campaignId")
            found = problems(write.settings)
            if write.campaign_id not in (None, campaign_id):
                found.append(
                    Problem("campaignId", "read-only", "campaignId must be the campaign in the path")
                )
            if write.target_retailer_id is None:
                found.append(Problem("targetRetailerId", "required", "targetRetailerId is required"))
            elif not uow.line_items.is_retail_site(write.target_retailer_id):
                # Only a publisher's retail site: a merchant's catalog (an advertiser's retailer,
                # D19) is private to its owner. Same answer as for an id that does not exist.
                found.append(Problem("targetRetailerId", "unknown-retailer", "no retail site has this id"))
            if uow.line_items.name_taken(campaign_id, write.settings.name):
                found.append(
                    Problem("name", "duplicate-name", "a line item of this campaign already has this name")
                )
            item = LineItem(
                id=self._ids.next_id(),
                account_id=principal.account_id,
                campaign_id=campaign_id,
                target_retailer_id=write.target_retailer_id or 0,
                settings=write.settings,
                user_status=LineItemStatus.ACTIVE,  # serves once it has products, unless paused
                created_at=now,
                updated_at=now,
            )
            balance = uow.line_items.balance(principal.account_id)
            shown = derive_status(item, Circumstances(today, False, NOTHING_SPENT, balance))
            item = replace(item, user_status=self._user_status(write.status, item, shown, found))
            if found:
                raise LineItemInvalid(found)
            uow.line_items.add(item)
            uow.commit()
        return state_of(item, Circumstances(today, False, NOTHING_SPENT, balance))

    def get(self, principal: Principal, line_item_id: int) -> LineItemState:
        today = self._today(principal)
        with self._uow(read_only=True) as uow:
            found = uow.line_items.read(line_item_id, account_id=principal.account_id, today=today)
        if found is None:
            raise NotFound(f"line item {line_item_id} not found", field="lineItemId")
        return state_of(*found)

    def list_line_items(
        self,
        principal: Principal,
        campaign_id: int,
        *,
        page_index: int,
        page_size: int,
        only_ids: Sequence[int] | None = None,
    ) -> tuple[list[LineItemState], int]:
        """One page (oldest first) and the number of line items across all pages."""
        today = self._today(principal)
        with self._uow(read_only=True) as uow:
            self._campaign(uow, principal, campaign_id)
            found, total = uow.line_items.read_page(
                campaign_id, today=today, offset=page_index * page_size, limit=page_size, only_ids=only_ids
            )
        return [state_of(item, circumstances) for item, circumstances in found], total

    def replace(self, principal: Principal, line_item_id: int, write: LineItemWrite) -> LineItemState:
        """PUT: every writeable attribute at once (the surface has set omitted ones to null)."""
        now = self._clock()
        today = self._today(principal)
        with self._uow() as uow:
            before = self._line_item(uow, principal, line_item_id, for_update=True)
            shown = self._state(uow, before, today).status
            if shown is LineItemStatus.ARCHIVED:
                raise Conflict("the line item is archived and can no longer change", field="status")
            settings = write.settings
            if write.keep_bid_strategy:
                settings = replace(settings, bid_strategy=before.settings.bid_strategy)
            currency = self._currency(uow, before)
            converted = _min_bids_in(uow, currency, uow.line_items.min_bids(before.id))
            # A product without a rate to compare cannot serve anyway (the auction says so).
            greatest = max((m for m in converted.values() if m is not None), default=None)
            found = problems(settings, min_bid_micros=greatest)
            if write.campaign_id not in (None, before.campaign_id):
                found.append(Problem("campaignId", "read-only", "campaignId cannot change"))
            if write.target_retailer_id not in (None, before.target_retailer_id):
                found.append(Problem("targetRetailerId", "read-only", "targetRetailerId cannot change"))
            if settings.name != before.settings.name and uow.line_items.name_taken(
                before.campaign_id, settings.name, other_than=before.id
            ):
                found.append(
                    Problem("name", "duplicate-name", "a line item of this campaign already has this name")
                )
            user_status = self._user_status(write.status, before, shown, found)
            if found:
                raise LineItemInvalid(found)
            after = replaced(before, settings, user_status, now)
            if after is not before:
                uow.line_items.update(after)
            state = self._state(uow, after, today)
            uow.commit()
        return state

    @staticmethod
    def _user_status(
        requested: LineItemStatus | None, item: LineItem, shown: LineItemStatus, found: list[Problem]
    ) -> LineItemStatus:
        try:
            return requested_status(requested, current=item.user_status, shown=shown)
        except LineItemInvalid as exc:
            found.extend(exc.problems)
            return item.user_status

    # --- promoted products -------------------------------------------------------------------

    def add_products(self, principal: Principal, line_item_id: int, refs: Sequence[str]) -> list[int]:
        """Promote the retailer's products named by `refs` (our product ids or the feed's ids);
        idempotent. Returns their product ids. A product whose minBid is above the line item's
        targetBid is refused: the line item could not serve it."""
        with self._uow() as uow:
            item = self._writable(uow, principal, line_item_id)
            named = self._refs(refs)
            # A line item made before targets had to be retail sites promotes nothing of a merchant's.
            found = (
                uow.line_items.find_products(item.target_retailer_id, named)
                if uow.line_items.is_retail_site(item.target_retailer_id)
                else {}
            )
            missing = [r for r in refs if r not in found]
            if missing:
                raise LineItemInvalid(
                    [
                        Problem(
                            _at(refs, r), "unknown-product", f"{r}: not a product of the line item's retailer"
                        )
                        for r in dict.fromkeys(missing[:MAX_PROBLEMS])
                    ]
                )
            target = item.settings.target_bid_micros
            currency = self._currency(uow, item)
            priced = [(min_bid, c) for _, min_bid, c in found.values() if min_bid is not None]
            converted = _min_bids_in(uow, currency, priced)
            unpriced = sorted({c for (_, c), m in converted.items() if m is None})
            if unpriced:
                raise LineItemInvalid(
                    [
                        Problem(
                            "data",
                            "no-exchange-rate",
                            f"no exchange rate from {', '.join(unpriced)} to {currency} to compare the "
                            "products' minBid with the line item's targetBid (`auctera fx set`)",
                        )
                    ]
                )
            too_low = [
                r
                for r, (_, min_bid, c) in found.items()
                if min_bid is not None and (converted[min_bid, c] or 0) > target
            ]
            if too_low:
                raise LineItemInvalid(
                    [
                        Problem(_at(refs, r), "bid-below-min-bid", f"{r}: its minBid is above the targetBid")
                        for r in too_low[:MAX_PROBLEMS]
                    ]
                )
            # Each product once, though named twice or by both of its ids: the answer lists them.
            ids = list(dict.fromkeys(found[r][0] for r in refs))
            uow.line_items.add_products(item.id, ids)
            uow.commit()
        return ids

    def remove_products(self, principal: Principal, line_item_id: int, refs: Sequence[str]) -> list[int]:
        """Stop promoting these products (unknown or not promoted ones are ignored: idempotent)."""
        with self._uow() as uow:
            item = self._writable(uow, principal, line_item_id)
            found = uow.line_items.find_products(item.target_retailer_id, self._refs(refs))
            ids = list(dict.fromkeys(pid for pid, _, _ in found.values()))
            uow.line_items.remove_products(item.id, ids)
            uow.commit()
        return ids

    def products(
        self, principal: Principal, line_item_id: int, *, offset: int, limit: int
    ) -> tuple[list[int], int]:
        """A page of the promoted product ids (ascending) and how many there are."""
        with self._uow(read_only=True) as uow:
            item = self._line_item(uow, principal, line_item_id)
            total = uow.line_items.product_counts([item.id]).get(item.id, 0)
            return uow.line_items.product_ids(item.id, offset=offset, limit=limit), total

    @staticmethod
    def _refs(refs: Sequence[str]) -> list[str]:
        # (Problems name a product by its place in the body, `/data/<index>/id`: `_at`.)
        if not refs:
            raise LineItemInvalid([Problem("data", "required", "name at least one product")])
        if len(refs) > MAX_PRODUCTS_PER_CALL:
            raise LineItemInvalid(
                [Problem("data", "too-many", f"at most {MAX_PRODUCTS_PER_CALL} products per call")]
            )
        return list(dict.fromkeys(refs))

    # --- the account's retail-media campaigns ------------------------------------------------

    def retail_campaigns(
        self,
        principal: Principal,
        *,
        page_index: int,
        page_size: int,
        only_ids: Sequence[int] | None = None,
    ) -> tuple[list[RetailCampaign], int]:
        """One page (oldest first) and the number across all pages, of the account's retail-media
        campaigns or of those among `only_ids`."""
        today = self._today(principal)
        offset = page_index * page_size
        with self._uow(read_only=True) as uow:
            if only_ids is None:
                ids, total = uow.line_items.retail_campaign_ids(
                    principal.account_id, offset=offset, limit=page_size
                )
                found = [c for c in (uow.campaigns.get(i, account_id=principal.account_id) for i in ids) if c]
            else:
                # The ids a URL can hold (a few hundred), each read by its primary key.
                named = (uow.campaigns.get(i, account_id=principal.account_id) for i in sorted(set(only_ids)))
                kept = [c for c in named if c is not None and c.type is CampaignType.RETAIL_MEDIA]
                found, total = kept[offset : offset + page_size], len(kept)
                ids = [c.id for c in found]
            spend = uow.line_items.spend(ids, day_key(today), month_key(today))
        return [RetailCampaign(c, spend.get(c.id, NOTHING_SPENT)) for c in found], total

    def retail_campaign(self, principal: Principal, campaign_id: int) -> RetailCampaign:
        today = self._today(principal)
        with self._uow(read_only=True) as uow:
            campaign = self._campaign(uow, principal, campaign_id)
            spend = uow.line_items.spend([campaign.id], day_key(today), month_key(today))
        return RetailCampaign(campaign, spend.get(campaign.id, NOTHING_SPENT))

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _campaign(
        uow: UnitOfWork, principal: Principal, campaign_id: int, *, for_update: bool = False
    ) -> Campaign:
        campaign = uow.campaigns.get(campaign_id, account_id=principal.account_id, for_update=for_update)
        if campaign is None or campaign.type is not CampaignType.RETAIL_MEDIA:
            raise NotFound(f"campaign {campaign_id} not found", field="campaignId")
        return campaign

    @staticmethod
    def _line_item(
        uow: UnitOfWork, principal: Principal, line_item_id: int, *, for_update: bool = False
    ) -> LineItem:
        item = uow.line_items.get(line_item_id, account_id=principal.account_id, for_update=for_update)
        if item is None:
            raise NotFound(f"line item {line_item_id} not found", field="lineItemId")
        return item

    @staticmethod
    def _currency(uow: UnitOfWork, item: LineItem) -> str:
        """What the line item bids in: its campaign's currency."""
        campaign = uow.campaigns.get(item.campaign_id)
        assert campaign is not None, "a line item's campaign is deleted with it (foreign key)"
        return campaign.budget.currency

    def _writable(self, uow: UnitOfWork, principal: Principal, line_item_id: int) -> LineItem:
        item = self._line_item(uow, principal, line_item_id, for_update=True)
        if item.archived_at is not None or uow.line_items.campaign_archived(item.campaign_id):
            raise Conflict("the line item is archived and can no longer change", field="status")
        return item

    @staticmethod
    def _state(uow: UnitOfWork, item: LineItem, today: date) -> LineItemState:
        """`item` as it stands in this transaction, with what its status reads."""
        found = uow.line_items.read(item.id, account_id=item.account_id, today=today)
        assert found is not None, "read in the transaction that holds it"
        return state_of(item, found[1])


def _min_bids_in(
    uow: UnitOfWork, currency: str, min_bids: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], int | None]:
    """Each (minBid, its product's currency) in `currency`, rounded up (a floor is never
    undercut); None where no exchange rate is set."""
    rates = rates_to(uow, currency, {c for _, c in min_bids})
    return {(m, c): convert_up(m, rates[c]) if c in rates else None for m, c in min_bids}


def _at(refs: Sequence[str], ref: str) -> str:
    """The JSON pointer of a product named in an append's body (`{"data": [{"id": …}, …]}`)."""
    return f"/data/{refs.index(ref)}/id"
