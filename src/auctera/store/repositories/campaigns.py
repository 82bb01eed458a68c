"""Campaigns and the domain blocklist."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from auctera.domain.campaigns import (
    LIVE,
    Bidding,
    BidStrategy,
    Budget,
    Campaign,
    CampaignStatus,
    CampaignType,
    DeviceType,
    Pacing,
    Review,
    Targeting,
)
from auctera.domain.compliance import BlockedDomain
from auctera.store.tables import blocked_domains, campaigns


def _campaign(row: Any) -> Campaign:
    t = row.targeting
    return Campaign(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        type=CampaignType(row.type),
        status=CampaignStatus(row.status),
        budget=Budget(row.currency, row.budget_daily_micros, row.budget_total_micros),
        created_at=row.created_at,
        updated_at=row.updated_at,
        targeting=Targeting(
            geo=tuple(t["geo"]),
            zip_codes=tuple(t["zip_codes"]),
            dmas=tuple(t["dmas"]),
            device_types=tuple(DeviceType(d) for d in t["device_types"]),
        ),
        bidding=Bidding(BidStrategy(row.bid_strategy), row.bid_target_micros),
        device_multipliers={DeviceType(d): Decimal(m) for d, m in row.device_multipliers.items()},
        pacing=Pacing(row.pacing),
        destination_url=row.destination_url,
        payout_micros=row.payout_micros,
        start_date=row.start_date,
        end_date=row.end_date,
        review=Review(tuple(row.review_reasons), row.reviewed_at, row.reviewed_by),
        archived_at=row.archived_at,
    )


def _values(c: Campaign) -> dict[str, Any]:
    t = c.targeting
    return {
        "account_id": c.account_id,
        "name": c.name,
        "type": c.type.value,
        "status": c.status.value,
        "currency": c.budget.currency,
        "budget_daily_micros": c.budget.daily_micros,
        "budget_total_micros": c.budget.total_micros,
        "pacing": c.pacing.value,
        "bid_strategy": c.bidding.strategy.value,
        "bid_target_micros": c.bidding.target_micros,
        "targeting": {
            "geo": list(t.geo),
            "zip_codes": list(t.zip_codes),
            "dmas": list(t.dmas),
            "device_types": [d.value for d in t.device_types],
        },
        "device_multipliers": {d.value: str(m) for d, m in c.device_multipliers.items()},
        "destination_url": c.destination_url,
        "payout_micros": c.payout_micros,
        "start_date": c.start_date,
        "end_date": c.end_date,
        "review_reasons": list(c.review.reasons),
        "reviewed_at": c.review.reviewed_at,
        "reviewed_by": c.review.reviewer_id,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "archived_at": c.archived_at,
    }


class SqlCampaignRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, campaign: Campaign) -> None:
        self._conn.execute(insert(campaigns).values(id=campaign.id, **_values(campaign)))

    def get(
        self, campaign_id: int, *, account_id: int | None = None, for_update: bool = False
    ) -> Campaign | None:
        stmt = select(campaigns).where(campaigns.c.id == campaign_id)
        if account_id is not None:
            stmt = stmt.where(campaigns.c.account_id == account_id)
        if for_update:
            stmt = stmt.with_for_update()  # SQLite has no row locks; its write transactions are IMMEDIATE
        row = self._conn.execute(stmt).first()
        return _campaign(row) if row else None

    def update(self, campaign: Campaign) -> None:
        self._conn.execute(update(campaigns).where(campaigns.c.id == campaign.id).values(**_values(campaign)))

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
        stmt = select(campaigns)
        if account_id is not None:
            stmt = stmt.where(campaigns.c.account_id == account_id)
        if status is not None:
            stmt = stmt.where(campaigns.c.status == status.value)
        elif not include_archived:
            stmt = stmt.where(campaigns.c.status != CampaignStatus.ARCHIVED.value)
        if type is not None:
            stmt = stmt.where(campaigns.c.type == type.value)
        if before_id is not None:
            stmt = stmt.where(campaigns.c.id < before_id)
        stmt = stmt.order_by(campaigns.c.id.desc()).limit(limit)
        return [_campaign(r) for r in self._conn.execute(stmt)]

    def pending_review_ids(self, limit: int) -> list[int]:
        stmt = (
            select(campaigns.c.id)
            .where(campaigns.c.status == CampaignStatus.PENDING_REVIEW.value)
            .order_by(campaigns.c.id)
            .limit(limit)
        )
        return list(self._conn.execute(stmt).scalars())

    def live_mentioning(self, needles: Sequence[str]) -> list[Campaign]:
        url = func.lower(campaigns.c.destination_url)
        stmt = select(campaigns).where(
            campaigns.c.status.in_([s.value for s in LIVE]),
            or_(*(url.contains(n.lower(), autoescape=True) for n in needles)),
        )
        return [_campaign(r) for r in self._conn.execute(stmt)]


def _blocked(row: Any) -> BlockedDomain:
    return BlockedDomain(row.domain, row.reason, row.created_at, row.created_by)


class SqlBlocklistRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, entry: BlockedDomain) -> bool:
        # ON CONFLICT DO NOTHING: two operators listing one domain at once both succeed.
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(blocked_domains).values(
            domain=entry.domain, reason=entry.reason, created_at=entry.created_at, created_by=entry.created_by
        )
        inserted = stmt.on_conflict_do_nothing().returning(blocked_domains.c.domain)
        return self._conn.execute(inserted).first() is not None

    def get(self, domain: str) -> BlockedDomain | None:
        row = self._conn.execute(select(blocked_domains).where(blocked_domains.c.domain == domain)).first()
        return _blocked(row) if row else None

    def remove(self, domain: str) -> bool:
        return bool(
            self._conn.execute(delete(blocked_domains).where(blocked_domains.c.domain == domain)).rowcount
        )

    def list(self) -> list[BlockedDomain]:
        rows = self._conn.execute(select(blocked_domains).order_by(blocked_domains.c.domain))
        return [_blocked(r) for r in rows]

    def matching(self, domains: Sequence[str]) -> frozenset[str]:
        if not domains:
            return frozenset()
        stmt = select(blocked_domains.c.domain).where(blocked_domains.c.domain.in_(list(domains)))
        return frozenset(self._conn.execute(stmt).scalars())
