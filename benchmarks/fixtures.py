"""Set-up shared by the benchmarks: accounts, a reviewed retail-media campaign, a retailer with
its catalog imported from a feed, and line items promoting its products, all made through the
services (as the API and the feed import make them), so a benchmark measures what real data
looks like rather than rows written by hand.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from auctera.api.v2.schemas import CampaignCreate
from auctera.bootstrap import Container
from auctera.domain.accounts import Principal
from auctera.domain.campaigns import CampaignStatus
from auctera.domain.catalog import FeedFormat
from auctera.domain.line_items import LineItemSettings
from auctera.domain.pricing import BidStrategy
from auctera.services.line_items import LineItemWrite

FEED_HEADER = "id,title,price,currency,link,availability,min_bid\n"


@dataclass(frozen=True)
class Product:
    """One row of a retailer's feed."""

    sku: str
    name: str
    price: str  # as the feed writes it: "199.00"
    url: str
    min_bid: str = ""  # "" : no minimum
    currency: str = "USD"

    def row(self) -> str:
        return f"{self.sku},{self.name},{self.price},{self.currency},{self.url},in stock,{self.min_bid}\n"


def principal(container: Container, key: str) -> Principal:
    """Who calls with `key` (an API key or an OAuth2 access token)."""
    return container.auth.authenticate(key)


def retail_campaign(container: Container, advertiser: Principal, **fields: Any) -> int:
    """A retail-media campaign as POST /v2/campaigns makes it, through its automated review."""
    body = {"name": "Bench retail media", "type": "retail_media", "budget": 10_000, **fields}
    request = CampaignCreate.model_validate(body)
    created = container.campaigns.create(advertiser, request.type, request.patch())
    reviewed = container.campaigns.review(created.id)
    assert reviewed is not None and reviewed.status is CampaignStatus.ACTIVE, reviewed
    return reviewed.id


def retailer(
    container: Container, owner: Principal, products: list[Product], *, name: str = "Shop", domain: str
) -> int:
    """A retailer of `owner`'s account with `products` imported from a CSV feed."""
    created = container.catalog.create_retailer(owner, name, domain)
    feed = FEED_HEADER + "".join(p.row() for p in products)
    report = container.catalog.import_feed(owner, created.id, io.BytesIO(feed.encode()), FeedFormat.CSV)
    if report.rows_valid != len(products) or report.rows_invalid:
        raise SystemExit(f"the benchmark's feed did not import: {report.errors}")
    return created.id


def line_item(
    container: Container,
    advertiser: Principal,
    campaign_id: int,
    retailer_id: int,
    skus: list[str],
    *,
    name: str,
    start_date: date,
    target_bid_micros: int,
    **settings: Any,
) -> tuple[int, list[int]]:
    """A line item bidding for clicks, promoting `skus`: (its id, the products' ids)."""
    write = LineItemWrite(
        LineItemSettings(
            name=name,
            start_date=start_date,
            bid_strategy=settings.pop("bid_strategy", BidStrategy.CLICKS),
            target_bid_micros=target_bid_micros,
            **settings,
        ),
        target_retailer_id=retailer_id,
    )
    item_id = container.line_items.create(advertiser, campaign_id, write).item.id
    return item_id, container.line_items.add_products(advertiser, item_id, skus)
