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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from auctera.domain.bids import BatchResult, BidChange, ItemResult, Network, PartnerBidKey
from auctera.domain.campaigns import Bidding, BidStrategy, bidding_problems
from auctera.domain.line_items import problems as line_item_problems
from auctera.services.clock import Clock
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory

# The strategies whose target is an amount of money: the ones a bid can set.
MONEY_TARGETS = frozenset({BidStrategy.TARGET_CPA, BidStrategy.MANUAL_CPC})


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
                value = None
                if key.ad_set is None:
                    campaign_id = campaigns.get(key.campaign)
                    campaign = uow.campaigns.get(campaign_id, account_id=account_id) if campaign_id else None
                    if campaign is not None and campaign.bidding.strategy in MONEY_TARGETS:
                        value = campaign.bidding.target_micros
                else:
                    line_item_id = line_items.get(key.ad_set)
                    item = uow.line_items.get(line_item_id, account_id=account_id) if line_item_id else None
                    value = item.settings.max_bid_micros if item is not None else None
                found[key] = value
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
        settings = replace(item.settings, max_bid_micros=value)
        found = [p for p in line_item_problems(settings) if p.attribute == "maxBid"]
        if found:
            return found[0].message
        if item.settings != settings:
            uow.line_items.update(replace(item, settings=settings, updated_at=self._clock()))
        return None
