"""The reads auctions are built from (who may bid on which in-stock products), and SmartLinks.

Each inventory read is a handful of indexed SELECTs whose result the auction service caches
(see `services.auctions`): never one per auction. A bidder carries its campaign's currency, which
the service converts its money from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, and_, func, or_, select, update

from auctera.services.ports import Bidder, Inventory, ListedProduct, Merchant, SmartLink
from auctera.store.tables import (
    accounts,
    campaigns,
    fx_rates,
    line_item_products,
    line_items,
    products,
    retailers,
    smartlinks,
)

# SQLite allows 32k bound parameters per statement; stay far below on every backend.
_CHUNK = 5_000

_PRODUCT_COLUMNS = (
    products.c.id,
    products.c.retailer_id,
    products.c.external_id,
    products.c.name,
    products.c.price_micros,
    products.c.currency,
    products.c.url,
    products.c.image_url,
    products.c.in_stock,
    products.c.category,
    products.c.brand,
    products.c.gtin,
    products.c.match_key,
    products.c.min_bid_micros,
)

_BIDDER_COLUMNS = (
    accounts.c.timezone,
    accounts.c.balance_micros,
    campaigns.c.currency,
    campaigns.c.pacing,
    campaigns.c.start_date.label("campaign_start"),
    campaigns.c.end_date.label("campaign_end"),
    campaigns.c.budget_total_micros,
    campaigns.c.budget_daily_micros,
)


def _product(row: Any) -> ListedProduct:
    return ListedProduct(*row[: len(_PRODUCT_COLUMNS)])


def _line_item_bidder(row: Any) -> Bidder:
    return Bidder(
        id=row.id,
        campaign_id=row.campaign_id,
        line_item_id=row.id,
        account_id=row.account_id,
        currency=row.currency,
        timezone=row.timezone,
        balance_micros=row.balance_micros,
        strategy=row.bid_strategy,
        target_bid_micros=row.target_bid_micros,
        max_bid_micros=row.max_bid_micros,
        start_date=row.start_date,
        end_date=row.end_date,
        budget_micros=row.budget_micros,
        monthly_pacing_micros=row.monthly_pacing_micros,
        daily_pacing_micros=row.daily_pacing_micros,
        is_auto_daily_pacing=row.is_auto_daily_pacing,
        even_pacing=row.pacing == "even",
        campaign_start_date=row.campaign_start,
        campaign_end_date=row.campaign_end,
        campaign_budget_micros=row.budget_total_micros,
        campaign_daily_micros=row.budget_daily_micros,
    )


def _campaign_bidder(row: Any) -> Bidder:
    """A `smartlink_cpc` campaign: its caps are the campaign's own, its bid `bid_target_micros`."""
    return Bidder(
        id=row.id,
        campaign_id=row.id,
        line_item_id=None,
        account_id=row.account_id,
        currency=row.currency,
        timezone=row.timezone,
        balance_micros=row.balance_micros,
        strategy="clicks",
        target_bid_micros=row.bid_target_micros,
        max_bid_micros=None,
        start_date=None,
        end_date=None,
        budget_micros=None,
        monthly_pacing_micros=None,
        daily_pacing_micros=None,
        is_auto_daily_pacing=False,
        even_pacing=row.pacing == "even",
        campaign_start_date=row.campaign_start,
        campaign_end_date=row.campaign_end,
        campaign_budget_micros=row.budget_total_micros,
        campaign_daily_micros=row.budget_daily_micros,
    )


def _chunks(values: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _live_line_items() -> Any:
    """Line items the user left running, under an active retail-media campaign."""
    return (
        select(
            line_items.c.id,
            line_items.c.campaign_id,
            line_items.c.account_id,
            line_items.c.bid_strategy,
            line_items.c.target_bid_micros,
            line_items.c.max_bid_micros,
            line_items.c.start_date,
            line_items.c.end_date,
            line_items.c.budget_micros,
            line_items.c.monthly_pacing_micros,
            line_items.c.daily_pacing_micros,
            line_items.c.is_auto_daily_pacing,
            *_BIDDER_COLUMNS,
        )
        .select_from(
            line_items.join(campaigns, campaigns.c.id == line_items.c.campaign_id).join(
                accounts, accounts.c.id == line_items.c.account_id
            )
        )
        .where(
            line_items.c.user_status == "active",
            line_items.c.archived_at.is_(None),
            campaigns.c.status == "active",
        )
    )


class SqlInventoryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def merchant(self, retailer_id: int) -> Merchant | None:
        stmt = select(retailers.c.id, retailers.c.account_id, retailers.c.name, retailers.c.domain).where(
            retailers.c.id == retailer_id
        )
        row = self._conn.execute(stmt).first()
        return Merchant(*row) if row is not None else None

    def for_retailer(self, retailer_id: int) -> Inventory:
        bidders = {
            row.id: _line_item_bidder(row)
            for row in self._conn.execute(
                _live_line_items().where(line_items.c.target_retailer_id == retailer_id)
            )
        }
        found: dict[int, ListedProduct] = {}
        pairs: list[tuple[int, int]] = []
        for chunk in _chunks(sorted(bidders)):
            stmt = (
                select(*_PRODUCT_COLUMNS, line_item_products.c.line_item_id)
                .select_from(
                    line_item_products.join(products, products.c.id == line_item_products.c.product_id)
                )
                .where(
                    line_item_products.c.line_item_id.in_(chunk),
                    products.c.retailer_id == retailer_id,
                    products.c.in_stock.is_(True),
                )
            )
            for row in self._conn.execute(stmt):
                product = found.setdefault(row.id, _product(row))
                pairs.append((row.line_item_id, product.id))
        merchant = self.merchant(retailer_id)
        merchants = {merchant.id: merchant} if merchant is not None else {}
        return _trimmed(bidders, found, merchants, pairs)

    def for_product(self, gtin: str | None, match_key: str | None) -> Inventory:
        found = {p.id: p for p in self._matching(gtin, match_key)}
        bidders: dict[int, Bidder] = {}
        pairs: list[tuple[int, int]] = []
        # Two index lookups (promotions by product, then line items by id), not one join: SQLite
        # would walk every live line item to find the few promoting these products.
        promoting: list[tuple[int, int]] = []
        for chunk in _chunks(sorted(found)):
            stmt = select(line_item_products.c.line_item_id, line_item_products.c.product_id).where(
                line_item_products.c.product_id.in_(chunk)
            )
            promoting.extend((row.line_item_id, row.product_id) for row in self._conn.execute(stmt))
        for chunk in _chunks(sorted({line_item for line_item, _ in promoting})):
            stmt = _live_line_items().where(line_items.c.id.in_(chunk))
            bidders.update((row.id, _line_item_bidder(row)) for row in self._conn.execute(stmt))
        pairs.extend(pair for pair in promoting if pair[0] in bidders)
        merchants = self._merchants({p.retailer_id for p in found.values()})
        by_account: dict[int, list[int]] = {}
        for product in found.values():
            by_account.setdefault(merchants[product.retailer_id].account_id, []).append(product.id)
        if by_account:
            stmt = (
                select(
                    campaigns.c.id, campaigns.c.account_id, campaigns.c.bid_target_micros, *_BIDDER_COLUMNS
                )
                .select_from(campaigns.join(accounts, accounts.c.id == campaigns.c.account_id))
                .where(
                    campaigns.c.type == "smartlink_cpc",
                    campaigns.c.status == "active",
                    campaigns.c.bid_target_micros.is_not(None),
                    campaigns.c.account_id.in_(sorted(by_account)),
                )
            )
            for row in self._conn.execute(stmt):
                bidders[row.id] = _campaign_bidder(row)
                pairs.extend((row.id, product_id) for product_id in by_account[row.account_id])
        return _trimmed(bidders, found, merchants, pairs)

    def version(self) -> tuple[object, ...]:
        # Read every second by the auctions' upkeep: from indexes and small tables only. Products
        # change only in feed imports, which touch their retailer in the same transaction
        # (`RetailerRepository.touch`): reading the products themselves took 18 ms at 100,000.
        aggregates = [
            select(func.count()).select_from(line_items).scalar_subquery(),
            select(func.max(line_items.c.updated_at)).scalar_subquery(),
            select(func.count()).select_from(line_item_products).scalar_subquery(),
            select(func.count()).select_from(campaigns).scalar_subquery(),
            select(func.max(campaigns.c.updated_at)).scalar_subquery(),
            select(func.max(retailers.c.updated_at)).scalar_subquery(),
            # Bids are converted into each auction's currency when an inventory is loaded.
            select(func.max(fx_rates.c.updated_at)).scalar_subquery(),
            # A new SmartLink or retailer changes no cached inventory (it is loaded on first use).
            select(func.max(smartlinks.c.archived_at)).scalar_subquery(),
            # No balance: every charge draws one, and would reload every inventory. The auctions
            # re-read the bidders' balances each round instead (`auction_caches.SpendBook`).
        ]
        return tuple(self._conn.execute(select(*aggregates)).one())

    def product(self, product_id: int) -> ListedProduct | None:
        row = self._conn.execute(select(*_PRODUCT_COLUMNS).where(products.c.id == product_id)).first()
        return _product(row) if row is not None else None

    def product_by_url(self, url: str) -> ListedProduct | None:
        host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
        if not host:
            return None
        candidates = select(retailers.c.id).where(retailers.c.domain.in_([host, f"www.{host}"]))
        stmt = (
            select(*_PRODUCT_COLUMNS)
            .where(products.c.retailer_id.in_(candidates), products.c.url == url)
            .order_by(products.c.in_stock.desc(), products.c.id)
            .limit(1)
        )
        row = self._conn.execute(stmt).first()
        return _product(row) if row is not None else None

    def _matching(self, gtin: str | None, match_key: str | None) -> list[ListedProduct]:
        """The same product in stock anywhere: by GTIN, and by match key among products without a GTIN (a
        merchant whose feed lists none can still be found by brand and name)."""
        same: list[Any] = []
        if gtin is not None:
            same.append(products.c.gtin == gtin)
        if match_key is not None:
            same.append(
                and_(products.c.match_key == match_key, products.c.gtin.is_(None))
                if gtin is not None
                else products.c.match_key == match_key
            )
        if not same:
            return []
        stmt = select(*_PRODUCT_COLUMNS).where(or_(*same), products.c.in_stock.is_(True))
        return [_product(row) for row in self._conn.execute(stmt)]

    def _merchants(self, retailer_ids: set[int]) -> dict[int, Merchant]:
        found: dict[int, Merchant] = {}
        for chunk in _chunks(sorted(retailer_ids)):
            stmt = select(retailers.c.id, retailers.c.account_id, retailers.c.name, retailers.c.domain).where(
                retailers.c.id.in_(chunk)
            )
            found.update((row.id, Merchant(*row)) for row in self._conn.execute(stmt))
        return found


def _trimmed(
    bidders: dict[int, Bidder],
    found: dict[int, ListedProduct],
    merchants: dict[int, Merchant],
    pairs: list[tuple[int, int]],
) -> Inventory:
    """Only the products some bidder bids on, the merchants of those, each pair once."""
    unique = sorted(set(pairs))
    used = {product_id for _, product_id in unique}
    bidding = {bidder_id for bidder_id, _ in unique}
    kept = {i: p for i, p in found.items() if i in used}
    return Inventory(
        bidders={i: b for i, b in bidders.items() if i in bidding},
        products=kept,
        merchants={
            p.retailer_id: merchants[p.retailer_id] for p in kept.values() if p.retailer_id in merchants
        },
        pairs=unique,
    )


class SqlSmartLinkRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, link: SmartLink) -> None:
        self._conn.execute(
            smartlinks.insert().values(
                id=link.id,
                account_id=link.account_id,
                name=link.name,
                product_id=link.product_id,
                product_url=link.product_url,
                gtin=link.gtin,
                match_key=link.match_key,
                fallback_url=link.fallback_url,
                created_at=link.created_at,
                archived_at=link.archived_at,
            )
        )

    def get(self, link_id: int, *, account_id: int | None = None) -> SmartLink | None:
        stmt = select(smartlinks).where(smartlinks.c.id == link_id)
        if account_id is not None:
            stmt = stmt.where(smartlinks.c.account_id == account_id)
        row = self._conn.execute(stmt).first()
        return _smartlink(row) if row is not None else None

    def page(
        self, *, account_id: int | None, include_archived: bool, before_id: int | None, limit: int
    ) -> list[SmartLink]:
        stmt = select(smartlinks).order_by(smartlinks.c.id.desc()).limit(limit)
        if account_id is not None:
            stmt = stmt.where(smartlinks.c.account_id == account_id)
        if not include_archived:
            stmt = stmt.where(smartlinks.c.archived_at.is_(None))
        if before_id is not None:
            stmt = stmt.where(smartlinks.c.id < before_id)
        return [_smartlink(row) for row in self._conn.execute(stmt)]

    def archive(self, link_id: int, at: datetime) -> None:
        self._conn.execute(
            update(smartlinks)
            .where(smartlinks.c.id == link_id, smartlinks.c.archived_at.is_(None))
            .values(archived_at=at)
        )


def _smartlink(row: Any) -> SmartLink:
    return SmartLink(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        product_id=row.product_id,
        product_url=row.product_url,
        gtin=row.gtin,
        match_key=row.match_key,
        fallback_url=row.fallback_url,
        created_at=row.created_at,
        archived_at=row.archived_at,
    )
