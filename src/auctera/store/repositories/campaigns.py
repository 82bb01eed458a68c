"""Campaigns and the domain blocklist."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from auctera.domain.campaigns import (
    AFFILIATE_TYPES,
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
    Visibility,
)
from auctera.domain.compliance import BlockedDomain
from auctera.store.tables import blocked_domains, campaigns

# Stored value -> member, looked up in a dict: Enum(value) costs ten times as much, nine times a row.
_TYPE = {m.value: m for m in CampaignType}
_STATUS = {m.value: m for m in CampaignStatus}
_STRATEGY = {m.value: m for m in BidStrategy}
_PACING = {m.value: m for m in Pacing}
_DEVICE = {m.value: m for m in DeviceType}
_VISIBILITY = {m.value: m for m in Visibility}


def _campaign(row: Sequence[Any]) -> Campaign:
    """A campaign from the values of one row in table column order, decoded (as Core hands them)."""
    (
        id,
        account_id,
        name,
        type,
        status,
        currency,
        daily_micros,
        total_micros,
        pacing,
        bid_strategy,
        bid_target_micros,
        targeting,
        device_multipliers,
        destination_url,
        payout_micros,
        start_date,
        end_date,
        review_reasons,
        reviewed_at,
        reviewed_by,
        created_at,
        updated_at,
        archived_at,
        promotional_rules,
        visibility,
    ) = row
    return Campaign(
        id=id,
        account_id=account_id,
        name=name,
        type=_TYPE[type],
        status=_STATUS[status],
        budget=Budget(currency, daily_micros, total_micros),
        created_at=created_at,
        updated_at=updated_at,
        targeting=Targeting(
            geo=tuple(targeting["geo"]),
            zip_codes=tuple(targeting["zip_codes"]),
            dmas=tuple(targeting["dmas"]),
            device_types=tuple([_DEVICE[d] for d in targeting["device_types"]]),
        ),
        bidding=Bidding(_STRATEGY[bid_strategy], bid_target_micros),
        # Read-only: campaigns read from SQLite are shared by the requests that read them (_BuiltFromRows).
        device_multipliers=MappingProxyType({_DEVICE[d]: Decimal(m) for d, m in device_multipliers.items()}),
        pacing=_PACING[pacing],
        destination_url=destination_url,
        payout_micros=payout_micros,
        start_date=start_date,
        end_date=end_date,
        review=Review(tuple(review_reasons), reviewed_at, reviewed_by),
        archived_at=archived_at,
        promotional_rules=tuple(promotional_rules),
        visibility=_VISIBILITY[visibility],
    )


# --- SQLite reads straight from the driver ---------------------------------------------------
# A single-row read through Core costs several times what SQLite takes to answer it (execution
# context, result metadata, per-column processors), and the API serves GET /v2/campaigns/{id} on
# the event loop from SQLite (see `Container.inline_reads`). So on SQLite the repository reads the
# row with the driver and decodes SQLAlchemy's storage formats itself: JSON text, ISO dates, and
# naive UTC datetimes "YYYY-MM-DD HH:MM:SS.ffffff" (`tables.UTCDateTime` on SQLite's DATETIME).
# tests/store/test_campaign_rows.py holds both readings of every column to each other.

_COLUMNS = [c.name for c in campaigns.columns]
_SQLITE_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM campaigns WHERE id = ?"
_SQLITE_SELECT_IN_ACCOUNT = _SQLITE_SELECT + " AND account_id = ?"
_JSON = tuple(
    _COLUMNS.index(n) for n in ("targeting", "device_multipliers", "review_reasons", "promotional_rules")
)
_DATES = tuple(_COLUMNS.index(n) for n in ("start_date", "end_date"))
_DATETIMES = tuple(_COLUMNS.index(n) for n in ("reviewed_at", "created_at", "updated_at", "archived_at"))


class _BuiltFromRows:
    """The campaigns built lately from SQLite rows, by id, with the row each was built from. A row
    read again unchanged (compared whole: never stale) gives back the campaign built before, which
    is immutable, rather than decoding and building it again. Bounded: emptied when full."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._built: dict[int, tuple[tuple[Any, ...], Campaign]] = {}

    def campaign(self, row: tuple[Any, ...]) -> Campaign:
        seen = self._built.get(row[0])
        if seen is not None and seen[0] == row:
            return seen[1]
        campaign = _campaign(_decode_sqlite(row))
        if len(self._built) >= self._size:
            self._built.clear()  # atomic: threads share this (a lost entry only costs a rebuild)
        self._built[row[0]] = (row, campaign)
        return campaign


def _decode_sqlite(raw: Sequence[Any]) -> list[Any]:
    row = list(raw)
    for i in _JSON:
        row[i] = orjson.loads(row[i])
    for i in _DATES:
        if row[i] is not None:
            row[i] = date.fromisoformat(row[i])
    for i in _DATETIMES:
        if row[i] is not None:
            row[i] = datetime.fromisoformat(row[i]).replace(tzinfo=UTC)
    return row


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
        "promotional_rules": list(c.promotional_rules),
        "visibility": c.visibility.value,
    }


_built = _BuiltFromRows(4096)

# Built once: constructing and cache-keying a statement costs more than running it takes.
_GET = select(campaigns).where(campaigns.c.id == bindparam("campaign_id"))
_GET_IN_ACCOUNT = _GET.where(campaigns.c.account_id == bindparam("account_id"))


class SqlCampaignRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sqlite = conn.dialect.name == "sqlite"

    def add(self, campaign: Campaign) -> None:
        self._conn.execute(insert(campaigns).values(id=campaign.id, **_values(campaign)))

    def get(
        self, campaign_id: int, *, account_id: int | None = None, for_update: bool = False
    ) -> Campaign | None:
        if self._sqlite:  # no row locks there: its write transactions are IMMEDIATE
            return self._get_sqlite(campaign_id, account_id)
        params: dict[str, int] = {"campaign_id": campaign_id}
        stmt = _GET
        if account_id is not None:
            stmt, params["account_id"] = _GET_IN_ACCOUNT, account_id
        if for_update:
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt, params).first()
        return _campaign(row) if row else None

    def _get_sqlite(self, campaign_id: int, account_id: int | None) -> Campaign | None:
        driver = self._conn.connection.driver_connection  # in this unit of work's transaction
        assert driver is not None
        if account_id is None:
            cursor = driver.execute(_SQLITE_SELECT, (campaign_id,))
        else:
            cursor = driver.execute(_SQLITE_SELECT_IN_ACCOUNT, (campaign_id, account_id))
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()
        return _built.campaign(row) if row else None

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

    def open_offers(self, geo: str | None, before_id: int | None, limit: int) -> list[Campaign]:
        # Paged in SQL (ix_campaigns_status: status, id), geo filtered here: `targeting.geo` is a
        # JSON list, and asking for membership in it differs between SQLite (json_each) and
        # PostgreSQL (jsonb operators). Batches are fetched until the page is full or rows run out.
        stmt = (
            select(campaigns)
            .where(
                campaigns.c.status == CampaignStatus.ACTIVE.value,
                campaigns.c.type.in_(sorted(t.value for t in AFFILIATE_TYPES)),
                campaigns.c.visibility == Visibility.PUBLIC.value,
            )
            .order_by(campaigns.c.id.desc())
        )
        batch = limit if geo is None else max(limit, 100)
        found: list[Campaign] = []
        while len(found) < limit:
            scan = stmt if before_id is None else stmt.where(campaigns.c.id < before_id)
            rows = [_campaign(r) for r in self._conn.execute(scan.limit(batch))]
            found += [c for c in rows if geo is None or not c.targeting.geo or geo in c.targeting.geo]
            if len(rows) < batch:
                break
            before_id = rows[-1].id
        return found[:limit]

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
