"""Spend: the ledger of charged clicks, spend per subject and period, account balances.

A charge is a handful of indexed statements. On SQLite they go straight to the driver, as the
campaign and conversion repositories do on their hot paths: building and compiling Core
statements (the dialect-specific upsert is not even cacheable) costs several times what SQLite
takes to run them. PostgreSQL runs Core statements, where the network round trips dominate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select, text, update
from sqlalchemy.dialects import postgresql

from auctera.domain.budgets import TOTAL, Spend
from auctera.services.ports import ChargeSubjects, LedgerEntry, LineItemCaps
from auctera.store.tables import (
    UNLOGGED,
    accounts,
    campaigns,
    line_items,
    products,
    spend_ledger,
    spend_periods,
    sqlite_text,
)

_LEDGER_FIELDS = LedgerEntry.__slots__

# --- PostgreSQL (Core) ------------------------------------------------------------------------

# The campaign row is the lock every charge of the campaign and its line items queues on.
# FOR NO KEY UPDATE: inserts that only reference the campaign (ledger rows, new line items) pass.
_SUBJECTS = (
    select(
        campaigns.c.account_id,
        campaigns.c.status,
        campaigns.c.start_date,
        campaigns.c.end_date,
        campaigns.c.budget_total_micros,
        campaigns.c.budget_daily_micros,
        campaigns.c.currency,
        accounts.c.timezone,
        accounts.c.balance_micros,
    )
    .join(accounts, accounts.c.id == campaigns.c.account_id)
    .where(campaigns.c.id == bindparam("campaign_id"))
    .with_for_update(key_share=True, of=campaigns)
)
_LINE_ITEM = select(
    line_items.c.id,
    line_items.c.campaign_id,
    (line_items.c.user_status == "active") & line_items.c.archived_at.is_(None),
    line_items.c.start_date,
    line_items.c.end_date,
    line_items.c.budget_micros,
    line_items.c.monthly_pacing_micros,
    line_items.c.daily_pacing_micros,
    line_items.c.is_auto_daily_pacing,
).where(line_items.c.id == bindparam("line_item_id"), line_items.c.campaign_id == bindparam("campaign_id"))
_CHARGED = select(spend_ledger).where(spend_ledger.c.click_id == bindparam("click_id"))
_SPEND_OF = select(spend_periods.c.subject_id, spend_periods.c.period, spend_periods.c.spent_micros).where(
    spend_periods.c.subject_id.in_(bindparam("subjects", expanding=True)),
    spend_periods.c.period.in_(bindparam("periods", expanding=True)),
)
_INSERT_LEDGER = spend_ledger.insert()
_UPSERT = postgresql.insert(spend_periods)
_ADD = _UPSERT.on_conflict_do_update(
    index_elements=["subject_id", "period"],
    set_={"spent_micros": spend_periods.c.spent_micros + _UPSERT.excluded.spent_micros},
)
# Only draws what is there: the balance never goes below zero, whatever runs concurrently.
_DRAW = (
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"), accounts.c.balance_micros >= bindparam("amount"))
    .values(balance_micros=accounts.c.balance_micros - bindparam("amount"))
)
_MARK_LOGGED = (
    update(spend_ledger).where(spend_ledger.c.id.in_(bindparam("ids", expanding=True))).values(logged=True)
)

# --- SQLite (driver) ----------------------------------------------------------------------------

_SQLITE_SUBJECTS = (
    "SELECT c.account_id, c.status, c.start_date, c.end_date, c.budget_total_micros,"
    " c.budget_daily_micros, c.currency, a.timezone, a.balance_micros"
    " FROM campaigns c JOIN accounts a ON a.id = c.account_id WHERE c.id = ?"
)
_SQLITE_LINE_ITEM = (
    "SELECT id, campaign_id, user_status = 'active' AND archived_at IS NULL, start_date, end_date,"
    " budget_micros, monthly_pacing_micros, daily_pacing_micros, is_auto_daily_pacing"
    " FROM line_items WHERE id = ? AND campaign_id = ?"
)
_SQLITE_CHARGED = "SELECT 1 FROM spend_ledger WHERE click_id = ?"
_SQLITE_SPEND_OF = (
    "SELECT subject_id, period, spent_micros FROM spend_periods"
    " WHERE subject_id IN ({}) AND period IN (?, ?, 'total')"
)
_SQLITE_INSERT_LEDGER = (
    "INSERT INTO spend_ledger (id, account_id, campaign_id, line_item_id, click_id, amount_micros,"
    " occurred_at, logged, publisher_id, event_fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_ADD = (
    "INSERT INTO spend_periods (subject_id, period, spent_micros) VALUES (?, ?, ?) ON CONFLICT"
    " (subject_id, period) DO UPDATE SET spent_micros = spent_micros + excluded.spent_micros"
)
_SQLITE_DRAW = "UPDATE accounts SET balance_micros = balance_micros - ? WHERE id = ? AND balance_micros >= ?"
_SQLITE_BALANCE = "SELECT balance_micros FROM accounts WHERE id = ?"
_SQLITE_MARK_LOGGED = "UPDATE spend_ledger SET logged = 1 WHERE id = ?"


class SqlSpendRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sqlite = conn.dialect.name == "sqlite"

    def _driver(self) -> Any:
        driver = self._conn.connection.driver_connection  # in this unit of work's transaction
        assert driver is not None
        return driver

    def lock_subjects(self, campaign_id: int, line_item_id: int | None) -> ChargeSubjects | None:
        # SQLite has no row locks: its write transactions are IMMEDIATE, one at a time.
        if self._sqlite:
            driver = self._driver()
            row = driver.execute(_SQLITE_SUBJECTS, (campaign_id,)).fetchone()
            li = (
                None
                if line_item_id is None
                else driver.execute(_SQLITE_LINE_ITEM, (line_item_id, campaign_id))
            )
            li_row = None if li is None else li.fetchone()
        else:
            row = self._conn.execute(_SUBJECTS, {"campaign_id": campaign_id}).first()
            params = {"line_item_id": line_item_id, "campaign_id": campaign_id}
            li_row = None if line_item_id is None else self._conn.execute(_LINE_ITEM, params).first()
        if row is None or (line_item_id is not None and li_row is None):
            return None
        account_id, status, start, end, total, daily, currency, timezone, balance = row
        line_item = None
        if li_row is not None:
            li_id, li_campaign, live, li_start, li_end, budget, monthly, li_daily, auto = li_row
            line_item = LineItemCaps(
                li_id,
                li_campaign,
                bool(live),
                _date(li_start),
                _date(li_end),
                budget,
                monthly,
                li_daily,
                bool(auto),
            )
        return ChargeSubjects(
            account_id=account_id,
            timezone=timezone,
            currency=currency,
            balance_micros=balance,
            campaign_live=status == "active",
            campaign_start=_date(start),
            campaign_end=_date(end),
            campaign_budget_micros=total,
            campaign_daily_micros=daily,
            line_item=line_item,
        )

    def charged(self, click_id: int) -> LedgerEntry | None:
        if self._sqlite and self._driver().execute(_SQLITE_CHARGED, (click_id,)).fetchone() is None:
            return None  # the common case, a new click, answered from the unique index alone
        row = self._conn.execute(_CHARGED, {"click_id": click_id}).first()
        return _entry(row) if row else None

    def spend_of(self, subject_ids: Sequence[int], day: str, month: str) -> dict[int, Spend]:
        if not subject_ids:
            return {}
        if self._sqlite:
            sql = _SQLITE_SPEND_OF.format(", ".join("?" * len(subject_ids)))
            rows = self._driver().execute(sql, (*subject_ids, day, month)).fetchall()
        else:
            params = {"subjects": list(subject_ids), "periods": [day, month, TOTAL]}
            rows = self._conn.execute(_SPEND_OF, params).all()
        found: dict[int, dict[str, int]] = {}
        for subject, period, spent in rows:
            found.setdefault(subject, {})[period] = spent
        return {
            subject: Spend(periods.get(TOTAL, 0), periods.get(month, 0), periods.get(day, 0))
            for subject, periods in found.items()
        }

    def record(self, entry: LedgerEntry, periods: Sequence[tuple[int, str]], *, logged: bool = False) -> None:
        amount = entry.amount_micros
        if self._sqlite:
            self._driver().execute(
                _SQLITE_INSERT_LEDGER,
                (
                    entry.id,
                    entry.account_id,
                    entry.campaign_id,
                    entry.line_item_id,
                    entry.click_id,
                    amount,
                    sqlite_text(entry.occurred_at),
                    int(logged),
                    entry.publisher_id,
                    orjson.dumps(dict(entry.event_fields)).decode(),
                ),
            )
        else:
            values = {f: getattr(entry, f) for f in _LEDGER_FIELDS}
            self._conn.execute(
                _INSERT_LEDGER, {**values, "event_fields": dict(entry.event_fields), "logged": logged}
            )
        self.add_to_periods([(subject, period, amount) for subject, period in periods])

    def add_to_periods(self, amounts: Sequence[tuple[int, str, int]]) -> None:
        if not amounts:
            return
        if self._sqlite:
            self._driver().executemany(_SQLITE_ADD, amounts)
            return
        rows = [{"subject_id": s, "period": p, "spent_micros": amount} for s, p, amount in amounts]
        self._conn.execute(_ADD, rows)

    def draw_balance(self, account_id: int, amount_micros: int) -> bool:
        if self._sqlite:
            driver = self._driver()
            if driver.execute(_SQLITE_DRAW, (amount_micros, account_id, amount_micros)).rowcount == 1:
                return True
            return driver.execute(_SQLITE_BALANCE, (account_id,)).fetchone()[0] is None
        drawn = self._conn.execute(_DRAW, {"account_id": account_id, "amount": amount_micros})
        if drawn.rowcount == 1:
            return True
        balance = select(accounts.c.balance_micros).where(accounts.c.id == account_id)
        return self._conn.execute(balance).scalar() is None  # invoiced: nothing to draw from

    def balance(self, account_id: int) -> tuple[bool, int | None]:
        row = self._conn.execute(select(accounts.c.balance_micros).where(accounts.c.id == account_id)).first()
        return (False, None) if row is None else (True, row.balance_micros)

    def balances(self, account_ids: Sequence[int]) -> dict[int, int | None]:
        stmt = select(accounts.c.id, accounts.c.balance_micros).where(accounts.c.id.in_(account_ids))
        return {row.id: row.balance_micros for row in self._conn.execute(stmt)}

    def set_balance(self, account_id: int, balance_micros: int | None) -> None:
        stmt = update(accounts).where(accounts.c.id == account_id).values(balance_micros=balance_micros)
        self._conn.execute(stmt)

    def add_balance(self, account_id: int, delta_micros: int) -> int | None:
        stmt = (
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.balance_micros.is_not(None))
            .values(balance_micros=accounts.c.balance_micros + delta_micros)
            .returning(accounts.c.balance_micros)
        )
        value = self._conn.execute(stmt).scalar()
        return int(value) if value is not None else None

    def unlogged(self, limit: int) -> list[LedgerEntry]:
        stmt = (
            select(spend_ledger)
            .where(text(UNLOGGED))  # as the partial index spells it
            .order_by(spend_ledger.c.id)
            .limit(limit)
        )
        return [_entry(r) for r in self._conn.execute(stmt)]

    def mark_logged(self, entry_ids: Sequence[int]) -> None:
        if not entry_ids:
            return
        if self._sqlite:  # each charge marks the ones before it: straight to the driver
            self._driver().executemany(_SQLITE_MARK_LOGGED, [(i,) for i in entry_ids])
            return
        self._conn.execute(_MARK_LOGGED, {"ids": list(entry_ids)})

    def product_url(self, product_id: int) -> str | None:
        url = self._conn.execute(select(products.c.url).where(products.c.id == product_id)).scalar()
        return str(url) if url is not None else None


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(**{f: getattr(row, f) for f in _LEDGER_FIELDS})


def _date(value: date | str | None) -> Any:
    """A Date column's value: a date from Core, ISO text from the SQLite driver."""
    return date.fromisoformat(value) if isinstance(value, str) else value
