"""Publisher postbacks and the webhook delivery outbox."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    type_coerce,
    update,
)

from auctera.domain.webhooks import Delivery, DeliveryState, PostbackStatus, PublisherPostback
from auctera.store.tables import UTCDateTime, publisher_postbacks, webhook_deliveries

_INSERT_DELIVERY = insert(webhook_deliveries)
_OUTCOME = (
    update(webhook_deliveries)
    .where(webhook_deliveries.c.id == bindparam("b_id"))
    .values(
        state=bindparam("state"),
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_attempt_at"),
        locked_until=None,
        last_status_code=bindparam("last_status_code"),
        last_error=bindparam("last_error"),
        last_latency_ms=bindparam("last_latency_ms"),
        log=bindparam("log"),
        delivered_at=bindparam("delivered_at"),
    )
)


def _postback(row: Any) -> PublisherPostback:
    return PublisherPostback(
        id=row.id,
        account_id=row.account_id,
        event=row.event,
        url=row.url,
        method=row.method,
        offer_id=row.offer_id,
        status=PostbackStatus(row.status),
        secret=row.secret,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: Any, secret: str = "") -> Delivery:
    return Delivery(
        id=row.id,
        postback_id=row.postback_id,
        account_id=row.account_id,
        transaction_id=row.transaction_id,
        method=row.method,
        url=row.url,
        payload=dict(row.payload),
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        secret=secret,
        delivered_at=row.delivered_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_latency_ms=row.last_latency_ms,
        log=tuple(row.log),
    )


def delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "postback_id": d.postback_id,
        "account_id": d.account_id,
        "transaction_id": d.transaction_id,
        "method": d.method,
        "url": d.url,
        "payload": d.payload,
        "state": d.state.value,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "locked_until": None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "last_latency_ms": d.last_latency_ms,
        "log": list(d.log),
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
    }


def _claimable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, due, and held by no worker (or its lease has run out)."""
    t = webhook_deliveries
    return (
        t.c.state == DeliveryState.PENDING.value,
        t.c.next_attempt_at <= now,
        (t.c.locked_until.is_(None)) | (t.c.locked_until <= now),
    )


class SqlWebhookRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- postbacks ---

    def add_postback(self, p: PublisherPostback) -> None:
        values = {
            "id": p.id,
            "account_id": p.account_id,
            "event": p.event,
            "url": p.url,
            "method": p.method,
            "offer_id": p.offer_id,
            "status": p.status.value,
            "secret": p.secret,
            "created_at": p.created_at,
            "updated_at": p.updated_at,
        }
        self._conn.execute(insert(publisher_postbacks).values(**values))

    def postbacks_of(self, account_id: int) -> list[PublisherPostback]:
        stmt = (
            select(publisher_postbacks)
            .where(publisher_postbacks.c.account_id == account_id)
            .order_by(publisher_postbacks.c.id)
        )
        return [_postback(r) for r in self._conn.execute(stmt)]

    def postback(self, postback_id: int) -> PublisherPostback | None:
        row = self._conn.execute(
            select(publisher_postbacks).where(publisher_postbacks.c.id == postback_id)
        ).first()
        return _postback(row) if row else None

    def set_status(self, postback_id: int, status: PostbackStatus, at: datetime) -> None:
        t = publisher_postbacks
        self._conn.execute(update(t).where(t.c.id == postback_id).values(status=status.value, updated_at=at))

    # --- the outbox ---

    def add_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self._conn.execute(_INSERT_DELIVERY, [delivery_row(d) for d in deliveries])

    def delivery(self, delivery_id: int) -> Delivery | None:
        row = self._conn.execute(
            select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
        ).first()
        return _delivery(row) if row else None

    def deliveries(
        self,
        account_id: int | None,
        *,
        postback_id: int | None = None,
        state: DeliveryState | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        t = webhook_deliveries
        stmt = select(t).order_by(t.c.id).limit(limit)
        if account_id is not None:
            stmt = stmt.where(t.c.account_id == account_id)
        if postback_id is not None:
            stmt = stmt.where(t.c.postback_id == postback_id)
        if state is not None:
            stmt = stmt.where(t.c.state == state.value)
        if after is not None:
            stmt = stmt.where(t.c.id > after)
        return [_delivery(r) for r in self._conn.execute(stmt)]

    def has_due(self, now: datetime, exclude: Collection[int] = ()) -> bool:
        """Whether a delivery is due and unheld, of a publisher not in `exclude` (those a worker
        already holds its share of: their due rows are not claimable by it now)."""
        t = webhook_deliveries
        stmt = select(t.c.id).where(*_claimable(now)).limit(1)
        if exclude:
            stmt = stmt.where(t.c.account_id.not_in(sorted(exclude)))
        return self._conn.execute(stmt).first() is not None

    def next_due(self) -> datetime | None:
        t = webhook_deliveries
        # A held row is due again when its lease ends, if that is after its next attempt.
        due = case((t.c.locked_until > t.c.next_attempt_at, t.c.locked_until), else_=t.c.next_attempt_at)
        first = type_coerce(func.min(due), UTCDateTime)  # read back as the columns are
        stmt = select(first).where(t.c.state == DeliveryState.PENDING.value)
        found: datetime | None = self._conn.execute(stmt).scalar()
        return found

    def claim(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        *,
        share: int | None = None,
        held: Mapping[int, int] | None = None,
    ) -> list[Delivery]:
        """Due pending deliveries no other worker holds, leased to this one until `lease_until`
        (a worker killed mid-delivery loses its lease when it runs out: the rows are due again).

        With a `share`, a publisher gets at most that many rows less what the worker already
        `held` of its rows (account id -> rows), taken in turns: every publisher's first due row
        before any publisher's second, so one publisher's backlog cannot fill the claim. Each
        publisher's rows in the order they are due."""
        t = webhook_deliveries
        due: Select[tuple[int]]
        if share is None:
            due = select(t.c.id).where(*_claimable(now)).order_by(t.c.next_attempt_at).limit(limit)
        else:
            # A row's turn: its place among its publisher's due rows, after those the worker holds.
            place = func.row_number().over(
                partition_by=t.c.account_id, order_by=(t.c.next_attempt_at, t.c.id)
            )
            holding = case(dict(held), value=t.c.account_id, else_=0) if held else literal(0)
            turns = (
                select(t.c.id, t.c.next_attempt_at, (place + holding).label("turn"))
                .where(*_claimable(now))
                .subquery()
            )
            due = (
                select(turns.c.id)
                .where(turns.c.turn <= share)
                .order_by(turns.c.turn, turns.c.next_attempt_at, turns.c.id)
                .limit(limit)
            )
            if self._conn.dialect.name == "postgresql":  # FOR UPDATE may not sit beside a window
                due = select(t.c.id).where(t.c.id.in_(due))
        if self._conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = [r[0] for r in self._conn.execute(due)]
        if not ids:
            return []
        self._conn.execute(update(t).where(t.c.id.in_(ids)).values(locked_until=lease_until))
        rows = list(self._conn.execute(select(t).where(t.c.id.in_(ids)).order_by(t.c.id)))
        pb_ids = sorted({r.postback_id for r in rows})
        secrets = dict(
            self._conn.execute(
                select(publisher_postbacks.c.id, publisher_postbacks.c.secret).where(
                    publisher_postbacks.c.id.in_(pb_ids)
                )
            ).all()
        )
        return [_delivery(r, secrets.get(r.postback_id, "")) for r in rows]

    def record_outcomes(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        rows = []
        for d in deliveries:
            row = delivery_row(d)
            row["b_id"] = row.pop("id")
            for k in (
                "postback_id",
                "account_id",
                "transaction_id",
                "method",
                "url",
                "payload",
                "created_at",
            ):
                row.pop(k)
            row.pop("locked_until")
            rows.append(row)
        self._conn.execute(_OUTCOME, rows)

    def replay(self, delivery_id: int, now: datetime) -> None:
        t = webhook_deliveries
        self._conn.execute(
            update(t)
            .where(t.c.id == delivery_id)
            .values(state=DeliveryState.PENDING.value, next_attempt_at=now, locked_until=None, created_at=now)
        )

    def count_by_state(self) -> dict[str, int]:
        t = webhook_deliveries
        stmt = select(t.c.state, func.count()).group_by(t.c.state)
        return {state: int(n) for state, n in self._conn.execute(stmt).all()}
