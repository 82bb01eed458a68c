"""Retail-media line items, the products they promote, and what their status reads besides them:
spend per period, the account's balance, the retailers and their products' minimum bids."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from auctera.domain.accounts import AccountKind
from auctera.domain.budgets import Spend, day_key, month_key
from auctera.domain.campaigns import CampaignStatus, CampaignType
from auctera.domain.ids import from_decimal
from auctera.domain.line_items import (
    BidStrategy,
    Circumstances,
    LineItem,
    LineItemInvalid,
    LineItemSettings,
    LineItemStatus,
    Problem,
)
from auctera.store.tables import (
    accounts,
    campaigns,
    line_item_products,
    line_items,
    products,
    retailers,
    spend_periods,
)

_STRATEGY = {m.value: m for m in BidStrategy}
_STATUS = {m.value: m for m in LineItemStatus}
_NAME_TAKEN = Problem("name", "duplicate-name", "a line item of this campaign already has this name")


def _line_item(row: Any) -> LineItem:
    m = row._mapping
    return LineItem(
        id=m["id"],
        account_id=m["account_id"],
        campaign_id=m["campaign_id"],
        target_retailer_id=m["target_retailer_id"],
        settings=LineItemSettings(
            name=m["name"],
            start_date=m["start_date"],
            end_date=m["end_date"],
            budget_micros=m["budget_micros"],
            monthly_pacing_micros=m["monthly_pacing_micros"],
            daily_pacing_micros=m["daily_pacing_micros"],
            is_auto_daily_pacing=bool(m["is_auto_daily_pacing"]),
            bid_strategy=_STRATEGY[m["bid_strategy"]],
            target_bid_micros=m["target_bid_micros"],
            max_bid_micros=m["max_bid_micros"],
        ),
        user_status=_STATUS[m["user_status"]],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        archived_at=m["archived_at"],
    )


def _values(item: LineItem) -> dict[str, Any]:
    s = item.settings
    return {
        "account_id": item.account_id,
        "campaign_id": item.campaign_id,
        "name": s.name,
        "target_retailer_id": item.target_retailer_id,
        "start_date": s.start_date,
        "end_date": s.end_date,
        "budget_micros": s.budget_micros,
        "monthly_pacing_micros": s.monthly_pacing_micros,
        "daily_pacing_micros": s.daily_pacing_micros,
        "is_auto_daily_pacing": s.is_auto_daily_pacing,
        "bid_strategy": s.bid_strategy.value,
        "target_bid_micros": s.target_bid_micros,
        "max_bid_micros": s.max_bid_micros,
        "user_status": item.user_status.value,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "archived_at": item.archived_at,
    }


def _spent(period: Any) -> Any:
    return (
        select(spend_periods.c.spent_micros)
        .where(spend_periods.c.subject_id == line_items.c.id, spend_periods.c.period == period)
        .scalar_subquery()
    )


# Line items with everything their status reads, in one statement (a read is one round trip).
# Built once: the periods are bound per call, so SQLAlchemy compiles it once too.
_WITH_CIRCUMSTANCES = select(
    line_items,
    exists().where(line_item_products.c.line_item_id == line_items.c.id).label("has_products"),
    select(campaigns.c.status)
    .where(campaigns.c.id == line_items.c.campaign_id)
    .scalar_subquery()
    .label("campaign_status"),
    select(accounts.c.balance_micros)
    .where(accounts.c.id == line_items.c.account_id)
    .scalar_subquery()
    .label("balance_micros"),
    _spent("total").label("spent_total"),
    _spent(bindparam("month")).label("spent_month"),
    _spent(bindparam("day")).label("spent_day"),
)
_READ_ONE = _WITH_CIRCUMSTANCES.where(
    line_items.c.id == bindparam("line_item_id"), line_items.c.account_id == bindparam("account_id")
)


def _periods(today: date) -> dict[str, str]:
    return {"month": month_key(today), "day": day_key(today)}


def _read(row: Any, today: date) -> tuple[LineItem, Circumstances]:
    m = row._mapping
    spend = Spend(m["spent_total"] or 0, m["spent_month"] or 0, m["spent_day"] or 0)
    archived = m["campaign_status"] == CampaignStatus.ARCHIVED.value
    return _line_item(row), Circumstances(
        today, bool(m["has_products"]), spend, m["balance_micros"], archived
    )


class SqlLineItemRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- line items --------------------------------------------------------------------------

    def add(self, item: LineItem) -> None:
        self._write(insert(line_items).values(id=item.id, **_values(item)))

    def update(self, item: LineItem) -> None:
        self._write(update(line_items).where(line_items.c.id == item.id).values(**_values(item)))

    def _write(self, stmt: Any) -> None:
        # The name check ran first; the unique constraint answers a concurrent twin the same way.
        try:
            with self._conn.begin_nested():
                self._conn.execute(stmt)
        except IntegrityError:
            raise LineItemInvalid([_NAME_TAKEN]) from None

    def get(self, line_item_id: int, *, account_id: int, for_update: bool = False) -> LineItem | None:
        stmt = select(line_items).where(
            line_items.c.id == line_item_id, line_items.c.account_id == account_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).first()
        return _line_item(row) if row else None

    def read(
        self, line_item_id: int, *, account_id: int, today: date
    ) -> tuple[LineItem, Circumstances] | None:
        """The line item with what its status reads on `today` (the account's local date)."""
        params = {"line_item_id": line_item_id, "account_id": account_id, **_periods(today)}
        row = self._conn.execute(_READ_ONE, params).first()
        return _read(row, today) if row else None

    def read_page(
        self, campaign_id: int, *, today: date, offset: int, limit: int, only_ids: Sequence[int] | None = None
    ) -> tuple[list[tuple[LineItem, Circumstances]], int]:
        """`page`, each line item with what its status reads on `today`."""
        where = [line_items.c.campaign_id == campaign_id]
        if only_ids is not None:
            where.append(line_items.c.id.in_(list(only_ids)))
        total = self._conn.execute(select(func.count()).select_from(line_items).where(*where)).scalar_one()
        stmt = _WITH_CIRCUMSTANCES.where(*where).order_by(line_items.c.id).offset(offset).limit(limit)
        return [_read(r, today) for r in self._conn.execute(stmt, _periods(today))], total

    def name_taken(self, campaign_id: int, name: str, *, other_than: int | None = None) -> bool:
        stmt = select(line_items.c.id).where(
            line_items.c.campaign_id == campaign_id, line_items.c.name == name
        )
        if other_than is not None:
            stmt = stmt.where(line_items.c.id != other_than)
        return self._conn.execute(stmt.limit(1)).first() is not None

    # --- what the status and the caps read ---------------------------------------------------

    def spend(self, subject_ids: Sequence[int], day: str, month: str) -> dict[int, Spend]:
        """Spend per subject (line item or campaign): lifetime, this local month, this local day."""
        if not subject_ids:
            return {}
        rows = self._conn.execute(
            select(spend_periods.c.subject_id, spend_periods.c.period, spend_periods.c.spent_micros).where(
                spend_periods.c.subject_id.in_(list(subject_ids)),
                spend_periods.c.period.in_(["total", month, day]),
            )
        )
        found: dict[int, dict[str, int]] = {}
        for subject_id, period, micros in rows:
            found.setdefault(subject_id, {})[period] = micros
        return {s: Spend(p.get("total", 0), p.get(month, 0), p.get(day, 0)) for s, p in found.items()}

    def balance(self, account_id: int) -> int | None:
        stmt = select(accounts.c.balance_micros).where(accounts.c.id == account_id)
        return self._conn.execute(stmt).scalar_one_or_none()

    def product_counts(self, line_item_ids: Sequence[int]) -> dict[int, int]:
        if not line_item_ids:
            return {}
        stmt = (
            select(line_item_products.c.line_item_id, func.count())
            .where(line_item_products.c.line_item_id.in_(list(line_item_ids)))
            .group_by(line_item_products.c.line_item_id)
        )
        return {line_item_id: n for line_item_id, n in self._conn.execute(stmt)}

    def min_bids(self, line_item_id: int) -> list[tuple[int, str]]:
        """The greatest minBid among the line item's products, per currency of theirs."""
        stmt = (
            select(func.max(products.c.min_bid_micros), products.c.currency)
            .select_from(line_item_products.join(products, products.c.id == line_item_products.c.product_id))
            .where(line_item_products.c.line_item_id == line_item_id, products.c.min_bid_micros.is_not(None))
            .group_by(products.c.currency)
        )
        return [(micros, currency) for micros, currency in self._conn.execute(stmt)]

    def is_retail_site(self, retailer_id: int) -> bool:
        """Whether a line item may target this retailer: a publisher's retail site (D19). A
        merchant (an advertiser's retailer) is no target, and reads as absent."""
        stmt = (
            select(retailers.c.id)
            .select_from(retailers.join(accounts, accounts.c.id == retailers.c.account_id))
            .where(retailers.c.id == retailer_id, accounts.c.kind == AccountKind.PUBLISHER.value)
        )
        return self._conn.execute(stmt).first() is not None

    # --- promoted products -------------------------------------------------------------------

    def find_products(self, retailer_id: int, refs: Sequence[str]) -> dict[str, tuple[int, int | None, str]]:
        """The retailer's products named by `refs` (our product id, or the retailer's own product
        id from its feed): ref -> (product id, minBid micros, currency). Unknown refs are left out."""
        numeric = [n for n in map(from_decimal, refs) if n is not None]
        stmt = select(
            products.c.id, products.c.external_id, products.c.min_bid_micros, products.c.currency
        ).where(
            products.c.retailer_id == retailer_id,
            or_(products.c.id.in_(numeric), products.c.external_id.in_(list(refs))),
        )
        by_id: dict[str, tuple[int, int | None, str]] = {}
        by_external: dict[str, tuple[int, int | None, str]] = {}
        for product_id, external_id, min_bid, currency in self._conn.execute(stmt):
            by_id[str(product_id)] = (product_id, min_bid, currency)
            by_external[external_id] = (product_id, min_bid, currency)
        return {r: by_id.get(r) or by_external[r] for r in refs if r in by_id or r in by_external}

    def add_products(self, line_item_id: int, product_ids: Sequence[int]) -> None:
        have = set(self.product_ids(line_item_id))
        new = sorted(set(product_ids) - have)
        if new:
            self._conn.execute(
                insert(line_item_products), [{"line_item_id": line_item_id, "product_id": p} for p in new]
            )

    def remove_products(self, line_item_id: int, product_ids: Sequence[int]) -> None:
        self._conn.execute(
            delete(line_item_products).where(
                line_item_products.c.line_item_id == line_item_id,
                line_item_products.c.product_id.in_(list(product_ids)),
            )
        )

    def product_ids(self, line_item_id: int, *, offset: int = 0, limit: int | None = None) -> list[int]:
        stmt = (
            select(line_item_products.c.product_id)
            .where(line_item_products.c.line_item_id == line_item_id)
            .order_by(line_item_products.c.product_id)
            .offset(offset)
            .limit(limit)
        )
        return list(self._conn.execute(stmt).scalars())

    # --- the account's retail-media campaigns ------------------------------------------------

    def retail_campaign_ids(self, account_id: int, *, offset: int, limit: int) -> tuple[list[int], int]:
        """The account's retail-media campaign ids, oldest first, and how many there are."""
        where = (campaigns.c.account_id == account_id, campaigns.c.type == CampaignType.RETAIL_MEDIA.value)
        total = self._conn.execute(select(func.count()).select_from(campaigns).where(*where)).scalar_one()
        stmt = select(campaigns.c.id).where(*where).order_by(campaigns.c.id).offset(offset).limit(limit)
        return list(self._conn.execute(stmt).scalars()), total

    def campaign_archived(self, campaign_id: int) -> bool:
        stmt = select(campaigns.c.status).where(campaigns.c.id == campaign_id)
        return self._conn.execute(stmt).scalar_one_or_none() == CampaignStatus.ARCHIVED.value
