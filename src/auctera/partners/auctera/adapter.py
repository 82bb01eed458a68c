"""`BidPartner` on our own platform: a user manages their own inventory through the bids API.

A network of kind `auctera` stands for this installation. Its campaigns link to our campaigns
(`ownCampaignId`), its ad sets to our line items (`ownLineItemId`), and a bid becomes:

- campaign + country: the campaign's bidding target (`bidding.target_amount`), for a campaign
  bidding on a money target (`target_cpa`, `manual_cpc`); it cannot be deleted, only changed;
- ad set + country: the line item's `maxBid`, the most it bids; a delete clears it.

Our campaigns and line items have one bid, not one per country: an `auctera` network campaign
covers exactly one country (checked when it is created), and source-id bids are refused at
upload (an `auctera` network cannot enable `sourceIdBidding`). A change the platform's own rules
refuse (a maxBid under 0.01, a strategy without a target) fails that item alone. Changes are
plain writes of a value, so a batch sent again has the same effect.

Bids are USD (`optimalBidUsd`); our campaigns and line items bid in their campaign's currency
(the account's). A bid is converted with the operator's exchange rates (`auctera fx set`, either
direction, exact, as postbacks and auctions use them) and rounded down to the micro: a bid never
exceeds what was asked. `read` converts back to USD to the nearest micro. Without a rate the item
fails with that reason (and is rolled back) rather than write a wrong amount; a read without one
raises `PartnerUnavailable`, retried by the sync's policy like any unanswered read (the operator
may set the rate meanwhile), then the rollback ends in `error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

from auctera.domain.bids import BatchResult, BidChange, ItemResult, Network, PartnerBidKey
from auctera.domain.campaigns import Bidding, BidStrategy, bidding_problems
from auctera.domain.line_items import LineItem
from auctera.domain.line_items import problems as line_item_problems
from auctera.domain.money import convert_down
from auctera.services.clock import Clock
from auctera.services.fx import rates_to
from auctera.services.ports import PartnerUnavailable, UnitOfWork, UnitOfWorkFactory

# The strategies whose target is an amount of money: the ones a bid can set.
MONEY_TARGETS = frozenset({BidStrategy.TARGET_CPA, BidStrategy.MANUAL_CPC})
USD = "USD"  # the bid sync's currency (optimalBidUsd)


class NoRate(Exception):
    """No exchange rate between a bid's USD and the campaign's currency: nothing is converted."""

    def __init__(self, base: str, quote: str) -> None:
        super().__init__(
            f"no exchange rate from {base} to {quote}; the operator sets one with "
            f"`auctera fx set {base} {quote} <rate>`"
        )


def _rate(uow: UnitOfWork, base: str, quote: str) -> Fraction:
    """`quote` per unit of `base`, exact; NoRate without one."""
    rate = rates_to(uow, quote, [base]).get(base)
    if rate is None:
        raise NoRate(base, quote)
    return rate


def _from_usd(uow: UnitOfWork, micros: int | None, currency: str) -> int | None:
    """A USD bid in `currency`, rounded down to the micro: never more than was asked."""
    return micros if micros is None or currency == USD else convert_down(micros, _rate(uow, USD, currency))


def _to_usd(uow: UnitOfWork, micros: int | None, currency: str) -> int | None:
    """A bid in `currency` as USD, to the nearest micro (half even): a bid written is read back
    unchanged whenever a unit of `currency` is worth at most half a dollar."""
    return micros if micros is None or currency == USD else round(micros * _rate(uow, currency, USD))


class AucteraBidPartner:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, network: Network) -> None:
        self._uow = uow
        self._clock = clock
        self._network = network

    def apply(self, batch_id: str, changes: Sequence[BidChange]) -> BatchResult:
        with self._uow() as uow:
            campaigns, line_items = self._links(uow)
            items = []
            for change in changes:
                if change.key.ad_set is None:
                    problem = self._set_campaign(uow, campaigns.get(change.key.campaign), change.value_micros)
                else:
                    problem = self._set_line_item(uow, line_items.get(change.key.ad_set), change.value_micros)
                items.append(ItemResult(change.key, problem is None, problem))
            uow.commit()
        return BatchResult(batch_id, tuple(items))

    def delete(self, batch_id: str, keys: Sequence[PartnerBidKey]) -> BatchResult:
        return self.apply(batch_id, [BidChange(k, None) for k in keys])

    def read(self, keys: Sequence[PartnerBidKey]) -> dict[PartnerBidKey, int | None]:
        account_id = self._network.account_id
        found: dict[PartnerBidKey, int | None] = {}
        with self._uow(read_only=True) as uow:
            campaigns, line_items = self._links(uow)
            for key in keys:
                value: int | None = None
                currency = USD
                if key.ad_set is None:
                    campaign_id = campaigns.get(key.campaign)
                    campaign = uow.campaigns.get(campaign_id, account_id=account_id) if campaign_id else None
                    if campaign is not None and campaign.bidding.strategy in MONEY_TARGETS:
                        value = campaign.bidding.target_micros
                        currency = campaign.budget.currency
                else:
                    line_item_id = line_items.get(key.ad_set)
                    item = uow.line_items.get(line_item_id, account_id=account_id) if line_item_id else None
                    if item is not None:
                        value, currency = item.settings.max_bid_micros, _currency_of(uow, item)
                try:
                    found[key] = _to_usd(uow, value, currency)
                except NoRate as exc:
                    raise PartnerUnavailable(str(exc)) from None
        return found

    def _links(self, uow: UnitOfWork) -> tuple[dict[str, int | None], dict[str, int | None]]:
        """The network's campaign and ad-set ids (as the bid sync names them) -> ours."""
        account_id, network_id = self._network.account_id, self._network.id
        campaigns = uow.bids.campaigns(None, account_id=account_id, network_id=network_id)
        ad_sets = [a for a in uow.bids.ad_sets(None, account_id=account_id) if a.network_id == network_id]
        return (
            {c.external_id or str(c.id): c.campaign_id for c in campaigns},
            {a.external_id or str(a.id): a.line_item_id for a in ad_sets},
        )

    def _set_campaign(self, uow: UnitOfWork, campaign_id: int | None, value: int | None) -> str | None:
        campaign = (
            uow.campaigns.get(campaign_id, account_id=self._network.account_id) if campaign_id else None
        )
        if campaign is None:
            return "not linked to an Auctera campaign"
        if value is None:
            return "an Auctera campaign's bid can be changed, not deleted"
        if campaign.bidding.strategy not in MONEY_TARGETS:
            return (
                f"the Auctera campaign bids by {campaign.bidding.strategy.value}, which takes no bid amount"
            )
        try:
            value = _from_usd(uow, value, campaign.budget.currency)
        except NoRate as exc:
            return str(exc)
        bidding = Bidding(campaign.bidding.strategy, value)
        found = bidding_problems(bidding)
        if found:
            return found[0].message
        if campaign.bidding != bidding:
            uow.campaigns.update(replace(campaign, bidding=bidding, updated_at=self._clock()))
        return None

    def _set_line_item(self, uow: UnitOfWork, line_item_id: int | None, value: int | None) -> str | None:
        item = uow.line_items.get(line_item_id, account_id=self._network.account_id) if line_item_id else None
        if item is None:
            return "not linked to an Auctera line item"
        try:
            value = _from_usd(uow, value, _currency_of(uow, item))
        except NoRate as exc:
            return str(exc)
        settings = replace(item.settings, max_bid_micros=value)
        found = [p for p in line_item_problems(settings) if p.attribute == "maxBid"]
        if found:
            return found[0].message
        if item.settings != settings:
            uow.line_items.update(replace(item, settings=settings, updated_at=self._clock()))
        return None


def _currency_of(uow: UnitOfWork, item: LineItem) -> str:
    """What a line item bids in: its campaign's currency."""
    campaign = uow.campaigns.get(item.campaign_id)
    assert campaign is not None, "a line item's campaign is deleted with it (foreign key)"
    return campaign.budget.currency
