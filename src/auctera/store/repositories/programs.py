"""Affiliate programs, their segments and commission types; publishers' channels and applications."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, exists, func, insert, or_, select, update

from auctera.domain.campaigns import AFFILIATE_TYPES, CampaignStatus, Visibility
from auctera.domain.programs import (
    Application,
    ApprovalStatus,
    CategoryRate,
    Channel,
    ChannelType,
    CommissionType,
    Program,
    ProgramStatus,
    PromotionMethod,
    Rate,
    RejectReason,
    Segment,
    Threshold,
    TrackingType,
)
from auctera.services.ports import (
    ChannelApplication,
    ListedProgram,
    PartnerProgramQuery,
    ProgramChannelQuery,
)
from auctera.store.repositories.owned import OwnedRows, dialect_of
from auctera.store.tables import (
    accounts,
    campaigns,
    channels,
    commission_types,
    program_applications,
    program_segments,
    programs,
)

# --- rows <-> domain ---------------------------------------------------------------------------


def _program(row: Any) -> Program:
    return Program(
        id=row.id,
        account_id=row.account_id,
        market=row.market,
        status=ProgramStatus(row.status),
        cookie_duration_days=row.cookie_duration_days,
        promotion_methods=frozenset(PromotionMethod(m) for m in row.promotion_methods),
        category_id=row.category_id,
        category_name=row.category_name,
        program_url=row.program_url,
        logo_url=row.logo_url,
        tracking_type=TrackingType(row.tracking_type),
        feed_ids=tuple(row.feed_ids),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _program_values(p: Program) -> dict[str, Any]:
    return {
        "account_id": p.account_id,
        "market": p.market,
        "status": int(p.status),
        "cookie_duration_days": p.cookie_duration_days,
        "promotion_methods": sorted(m.value for m in p.promotion_methods),
        "category_id": p.category_id,
        "category_name": p.category_name,
        "program_url": p.program_url,
        "logo_url": p.logo_url,
        "tracking_type": int(p.tracking_type),
        "feed_ids": list(p.feed_ids),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def _segment(row: Any) -> Segment:
    return Segment(row.id, row.program_id, row.name, bool(row.standard), row.created_at)


def _rate(item: dict[str, Any]) -> Rate:
    return Rate(bool(item["percent"]), int(item["value_micros"]))


def _commission(row: Any) -> CommissionType:
    return CommissionType(
        id=row.id,
        program_id=row.program_id,
        segment_id=row.segment_id,
        name=row.name,
        event_type=row.event_type,
        rate=Rate(bool(row.percent), row.value_micros),
        categories=tuple(CategoryRate(c["category"], _rate(c)) for c in row.categories),
        thresholds=tuple(Threshold(int(t["order_value_micros"]), _rate(t)) for t in row.thresholds),
        created_at=row.created_at,
    )


def _commission_values(c: CommissionType) -> dict[str, Any]:
    return {
        "program_id": c.program_id,
        "segment_id": c.segment_id,
        "name": c.name,
        "event_type": c.event_type,
        "percent": c.rate.percent,
        "value_micros": c.rate.micros,
        "categories": [
            {"category": x.category, "percent": x.rate.percent, "value_micros": x.rate.micros}
            for x in c.categories
        ],
        "thresholds": [
            {
                "order_value_micros": t.order_value_micros,
                "percent": t.rate.percent,
                "value_micros": t.rate.micros,
            }
            for t in c.thresholds
        ],
        "created_at": c.created_at,
    }


def _channel(row: Any) -> Channel:
    return Channel(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        type=ChannelType(row.type),
        url=row.url,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_PROGRAMS = OwnedRows(programs, _program)
_CHANNELS = OwnedRows(channels, _channel)


def _channel_values(c: Channel) -> dict[str, Any]:
    return {
        "account_id": c.account_id,
        "name": c.name,
        "type": c.type.value,
        "url": c.url,
        "description": c.description,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _application(row: Any) -> Application:
    return Application(
        id=row.id,
        program_id=row.program_id,
        account_id=row.account_id,
        publisher_id=row.publisher_id,
        channel_id=row.channel_id,
        status=ApprovalStatus(row.status),
        applied_at=row.applied_at,
        traffic_type=row.traffic_type,
        volume_estimate=row.volume_estimate,
        segment_id=row.segment_id,
        reject_reason=None if row.reject_reason is None else RejectReason(row.reject_reason),
        reason_text=row.reason_text,
        decided_at=row.decided_at,
    )


def _application_values(a: Application) -> dict[str, Any]:
    return {
        "program_id": a.program_id,
        "account_id": a.account_id,
        "publisher_id": a.publisher_id,
        "channel_id": a.channel_id,
        "status": int(a.status),
        "segment_id": a.segment_id,
        "traffic_type": a.traffic_type,
        "volume_estimate": a.volume_estimate,
        "reject_reason": None if a.reject_reason is None else int(a.reject_reason),
        "reason_text": a.reason_text,
        "applied_at": a.applied_at,
        "decided_at": a.decided_at,
    }


# --- repositories ------------------------------------------------------------------------------


class SqlProgramRepository:
    """Programs with their segments and commission types."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, program: Program) -> None:
        self._conn.execute(insert(programs).values(id=program.id, **_program_values(program)))

    def update(self, program: Program) -> None:
        self._conn.execute(
            update(programs).where(programs.c.id == program.id).values(**_program_values(program))
        )

    def get(self, program_id: int, *, account_id: int | None = None) -> Program | None:
        return _PROGRAMS.get(self._conn, program_id, account_id)

    def many(self, program_ids: Sequence[int]) -> dict[int, Program]:
        return _PROGRAMS.many(self._conn, program_ids)

    def page(self, *, account_id: int | None, before_id: int | None, limit: int) -> list[Program]:
        return _PROGRAMS.page(self._conn, account_id, before_id, limit)

    # segments

    def add_segment(self, segment: Segment) -> bool:
        """False when the program has a segment of this name already (nothing is written)."""
        stmt = (
            dialect_of(self._conn)
            .insert(program_segments)
            .values(
                id=segment.id,
                program_id=segment.program_id,
                name=segment.name,
                standard=segment.standard,
                created_at=segment.created_at,
            )
            .on_conflict_do_nothing()
            .returning(program_segments.c.id)
        )
        return self._conn.execute(stmt).first() is not None

    def segments(self, program_id: int) -> list[Segment]:
        """The standard segment first, then the others by name."""
        stmt = (
            select(program_segments)
            .where(program_segments.c.program_id == program_id)
            .order_by(program_segments.c.standard.desc(), program_segments.c.name)
        )
        return [_segment(row) for row in self._conn.execute(stmt)]

    def segment(self, segment_id: int, *, program_id: int) -> Segment | None:
        stmt = select(program_segments).where(
            program_segments.c.id == segment_id, program_segments.c.program_id == program_id
        )
        row = self._conn.execute(stmt).first()
        return _segment(row) if row else None

    def standard_segment(self, program_id: int) -> Segment | None:
        stmt = select(program_segments).where(
            program_segments.c.program_id == program_id, program_segments.c.standard.is_(True)
        )
        row = self._conn.execute(stmt).first()
        return _segment(row) if row else None

    def rename_segment(self, segment_id: int, name: str) -> None:
        self._conn.execute(
            update(program_segments).where(program_segments.c.id == segment_id).values(name=name)
        )

    def delete_segment(self, segment_id: int) -> None:
        """Its commission types go with it (cascade); applications in it fall back to standard."""
        self._conn.execute(
            update(program_applications)
            .where(program_applications.c.segment_id == segment_id)
            .values(segment_id=None)
        )
        self._conn.execute(delete(commission_types).where(commission_types.c.segment_id == segment_id))
        self._conn.execute(delete(program_segments).where(program_segments.c.id == segment_id))

    # commission types

    def add_commission(self, commission: CommissionType) -> bool:
        """False when the segment pays for this event type already (nothing is written)."""
        stmt = (
            dialect_of(self._conn)
            .insert(commission_types)
            .values(id=commission.id, **_commission_values(commission))
            .on_conflict_do_nothing()
            .returning(commission_types.c.id)
        )
        return self._conn.execute(stmt).first() is not None

    def update_commission(self, commission: CommissionType) -> None:
        self._conn.execute(
            update(commission_types)
            .where(commission_types.c.id == commission.id)
            .values(**_commission_values(commission))
        )

    def delete_commission(self, commission_id: int) -> None:
        self._conn.execute(delete(commission_types).where(commission_types.c.id == commission_id))

    def commission(self, commission_id: int, *, program_id: int) -> CommissionType | None:
        stmt = select(commission_types).where(
            commission_types.c.id == commission_id, commission_types.c.program_id == program_id
        )
        row = self._conn.execute(stmt).first()
        return _commission(row) if row else None

    def commissions(self, program_ids: Sequence[int]) -> list[CommissionType]:
        """Every commission type of these programs, by program, segment and creation."""
        if not program_ids:
            return []
        stmt = (
            select(commission_types)
            .where(commission_types.c.program_id.in_(list(program_ids)))
            .order_by(commission_types.c.program_id, commission_types.c.segment_id, commission_types.c.id)
        )
        return [_commission(row) for row in self._conn.execute(stmt)]

    # the affiliate v3 partner market

    def partner_page(self, query: PartnerProgramQuery) -> tuple[list[ListedProgram], int]:
        """One page by program id and the total: indexed on (market, status, id), the campaign
        joined by its primary key, applications through (publisher_id, program_id)."""
        found = _partner_where(query)
        joined = programs.join(campaigns, campaigns.c.id == programs.c.id)
        stmt = (
            select(
                programs,
                campaigns.c.name.label("campaign_name"),
                campaigns.c.currency.label("campaign_currency"),
            )
            .select_from(joined)
            .where(*found)
            .order_by(programs.c.id)
            .offset(query.offset)
            .limit(query.limit)
        )
        page = [
            ListedProgram(_program(row), row.campaign_name, row.campaign_currency)
            for row in self._conn.execute(stmt)
        ]
        total = self._conn.execute(select(func.count()).select_from(joined).where(*found)).scalar_one()
        return page, int(total)

    def segments_of(self, program_ids: Sequence[int]) -> list[Segment]:
        if not program_ids:
            return []
        stmt = select(program_segments).where(program_segments.c.program_id.in_(list(program_ids)))
        return [_segment(row) for row in self._conn.execute(stmt)]


# A standing is the best of a publisher's applications: these statuses outrank each.
_BETTER = {
    ApprovalStatus.APPROVED: [],
    ApprovalStatus.PENDING: [int(ApprovalStatus.APPROVED)],
    ApprovalStatus.REJECTED: [int(ApprovalStatus.APPROVED), int(ApprovalStatus.PENDING)],
}


def _partner_where(q: PartnerProgramQuery) -> list[Any]:
    a = program_applications.c

    def applied(*more: Any) -> Any:
        return exists().where(a.program_id == programs.c.id, a.publisher_id == q.publisher_id, *more)

    found = [
        campaigns.c.type.in_(sorted(t.value for t in AFFILIATE_TYPES)),
        campaigns.c.status == CampaignStatus.ACTIVE.value,
        programs.c.status.in_([int(s) for s in ProgramStatus]),
        # A private program is its approved publishers' alone (issue 5): an applicant pending or
        # refused learns its standing from its application (/v2/network/applications), not the terms.
        or_(
            campaigns.c.visibility == Visibility.PUBLIC.value,
            applied(a.status == int(ApprovalStatus.APPROVED)),
        ),
    ]
    if q.market is not None:
        found.append(programs.c.market == q.market)
    if q.status is not None:
        found.append(programs.c.status == q.status)
    if q.program_id is not None:
        found.append(programs.c.id == q.program_id)
    wanted = q.approval_status
    if wanted is not None and q.channel_id is not None:
        found.append(applied(a.channel_id == q.channel_id, a.status == int(wanted)))
    elif wanted is not None:  # the best status over the publisher's applications (best_status)
        found.append(applied(a.status == int(wanted)))
        better = _BETTER[wanted]
        if better:
            found.append(~applied(a.status.in_(better)))
    return found


class SqlChannelRepository:
    """Publishers' channels and their applications to programs."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, channel: Channel) -> None:
        self._conn.execute(insert(channels).values(id=channel.id, **_channel_values(channel)))

    def update(self, channel: Channel) -> None:
        self._conn.execute(
            update(channels).where(channels.c.id == channel.id).values(**_channel_values(channel))
        )

    def delete(self, channel_id: int) -> None:
        """The channel and its applications (its links stop working)."""
        self._conn.execute(
            delete(program_applications).where(program_applications.c.channel_id == channel_id)
        )
        self._conn.execute(delete(channels).where(channels.c.id == channel_id))

    def get(self, channel_id: int, *, account_id: int | None = None) -> Channel | None:
        return _CHANNELS.get(self._conn, channel_id, account_id)

    def many(self, channel_ids: Sequence[int]) -> dict[int, Channel]:
        return _CHANNELS.many(self._conn, channel_ids)

    def page(self, *, account_id: int | None, before_id: int | None, limit: int) -> list[Channel]:
        return _CHANNELS.page(self._conn, account_id, before_id, limit)

    # applications

    def add_application(self, application: Application) -> bool:
        """False when the channel (or, publisher-wide, the publisher) has applied to the program
        already (nothing is written)."""
        stmt = (
            dialect_of(self._conn)
            .insert(program_applications)
            .values(id=application.id, **_application_values(application))
            .on_conflict_do_nothing()
            .returning(program_applications.c.id)
        )
        return self._conn.execute(stmt).first() is not None

    def update_application(self, application: Application) -> None:
        self._conn.execute(
            update(program_applications)
            .where(program_applications.c.id == application.id)
            .values(**_application_values(application))
        )

    def application(
        self, application_id: int, *, account_id: int | None = None, publisher_id: int | None = None
    ) -> Application | None:
        """The application, when it is to `account_id`'s program and/or by `publisher_id`."""
        stmt = select(program_applications).where(program_applications.c.id == application_id)
        if account_id is not None:
            stmt = stmt.where(program_applications.c.account_id == account_id)
        if publisher_id is not None:
            stmt = stmt.where(program_applications.c.publisher_id == publisher_id)
        row = self._conn.execute(stmt).first()
        return _application(row) if row else None

    def application_for(
        self, program_id: int, *, publisher_id: int, channel_id: int | None
    ) -> Application | None:
        """The channel's application to the program (`channel_id` None: the publisher-wide one)."""
        stmt = select(program_applications).where(
            program_applications.c.program_id == program_id,
            program_applications.c.publisher_id == publisher_id,
        )
        if channel_id is None:
            stmt = stmt.where(program_applications.c.channel_id.is_(None))
        else:
            stmt = stmt.where(program_applications.c.channel_id == channel_id)
        row = self._conn.execute(stmt).first()
        return _application(row) if row else None

    def applications(
        self,
        *,
        account_id: int | None = None,
        publisher_id: int | None = None,
        program_ids: Sequence[int] | None = None,
        channel_id: int | None = None,
        status: ApprovalStatus | None = None,
        before_id: int | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Application]:
        """Newest first, filtered by whichever arguments are given."""
        stmt = _applications_where(
            select(program_applications), account_id, publisher_id, program_ids, channel_id, status
        ).order_by(program_applications.c.id.desc())
        if before_id is not None:
            stmt = stmt.where(program_applications.c.id < before_id)
        if offset:
            stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [_application(row) for row in self._conn.execute(stmt)]

    def count_applications(
        self,
        *,
        account_id: int | None = None,
        publisher_id: int | None = None,
        program_ids: Sequence[int] | None = None,
        channel_id: int | None = None,
        status: ApprovalStatus | None = None,
    ) -> int:
        stmt = _applications_where(
            select(func.count()).select_from(program_applications),
            account_id,
            publisher_id,
            program_ids,
            channel_id,
            status,
        )
        return int(self._conn.execute(stmt).scalar_one())

    def program_channels(self, query: ProgramChannelQuery) -> tuple[list[ChannelApplication], int]:
        a, ch = program_applications.c, channels.c
        found = [a.account_id == query.account_id, a.channel_id.is_not(None)]
        if query.program_id is not None:
            found.append(a.program_id == query.program_id)
        if query.channel_id is not None:
            found.append(a.channel_id == query.channel_id)
        if query.publisher_id is not None:
            found.append(a.publisher_id == query.publisher_id)
        if query.status is not None:
            found.append(a.status == int(query.status))
        joined = program_applications.join(channels, ch.id == a.channel_id).join(
            accounts, accounts.c.id == a.publisher_id
        )
        stmt = (
            select(
                program_applications,
                ch.account_id.label("ch_account_id"),
                ch.name.label("ch_name"),
                ch.type.label("ch_type"),
                ch.url.label("ch_url"),
                ch.description.label("ch_description"),
                ch.created_at.label("ch_created_at"),
                ch.updated_at.label("ch_updated_at"),
                accounts.c.name.label("publisher_name"),
            )
            .select_from(joined)
            .where(*found)
            .order_by(a.id.desc())
            .offset(query.offset)
            .limit(query.limit)
        )
        page = [
            ChannelApplication(
                _application(row),
                Channel(
                    id=row.channel_id,
                    account_id=row.ch_account_id,
                    name=row.ch_name,
                    type=ChannelType(row.ch_type),
                    url=row.ch_url,
                    description=row.ch_description,
                    created_at=row.ch_created_at,
                    updated_at=row.ch_updated_at,
                ),
                row.publisher_name,
            )
            for row in self._conn.execute(stmt)
        ]
        total = self._conn.execute(select(func.count()).select_from(joined).where(*found)).scalar_one()
        return page, int(total)


def _applications_where(
    stmt: Any,
    account_id: int | None,
    publisher_id: int | None,
    program_ids: Sequence[int] | None,
    channel_id: int | None,
    status: ApprovalStatus | None,
) -> Any:
    t = program_applications.c
    if account_id is not None:
        stmt = stmt.where(t.account_id == account_id)
    if publisher_id is not None:
        stmt = stmt.where(t.publisher_id == publisher_id)
    if program_ids is not None:
        stmt = stmt.where(t.program_id.in_(list(program_ids)))
    if channel_id is not None:
        stmt = stmt.where(t.channel_id == channel_id)
    if status is not None:
        stmt = stmt.where(t.status == int(status))
    return stmt
