"""Reports: daily figures with finalization, publisher placements, creative A/B tests.

Figures come from the event log (the ledger of charges and payouts: every cost and payout is
an event, reversals are negative events), through `EventStore.daily_totals` and
`EventReports.report_totals`, which answer from rollups where they can. See
docs/api-v2-reports.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Literal, Protocol

from auctera.domain import reports as calc
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.campaigns import CampaignType
from auctera.domain.click_delays import Delays, FloodingTest, flooding_tests
from auctera.domain.dates import DateSpan
from auctera.domain.events import Totals
from auctera.domain.ids import issued_at_ms, render
from auctera.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auctera.services.clock import Clock
from auctera.services.fraud import FraudSettings
from auctera.services.fx import Rate, RateHistory, histories
from auctera.services.ports import (
    ClickDelaySource,
    EventReports,
    EventStore,
    LateDay,
    ReportRow,
    UnitOfWorkFactory,
)

MAX_DAYS = 366
# The dates reports, exports and campaign figures take, checked by `check_dates`. The event log
# starts at the Unix epoch, and day arithmetic (time zones, a query's margins) must stay well
# inside Python's calendar (years 1 to 9999).
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(2999, 12, 31)
MAX_PAGE = 1000
MAX_OFFSET = 2**63 - 1 - MAX_PAGE  # offset + limit stays a 64-bit integer (JSON readers, SQL)
MAX_CAMPAIGNS_PER_TYPE = 100_000
# A conversion later than this after its click is "late": the fraud filter's click-flooding bound.
LATE_AFTER = FraudSettings().flooding_after
PublisherSort = Literal["spend", "impressions", "clicks", "conversions", "payout", "revenue"]


class ReportEvents(EventStore, EventReports, Protocol):
    """The event log with its report queries (one adapter implements both)."""


def net_conversions(t: Totals) -> int:
    """Conversions less reversals: a chargeback takes its conversion back on the day it happens."""
    return t.conversions - t.reversals


def subtract(a: Totals, b: Totals) -> Totals:
    return Totals(
        a.impressions - b.impressions,
        a.clicks - b.clicks,
        a.conversions - b.conversions,
        a.reversals - b.reversals,
        a.ivt_blocked - b.ivt_blocked,
        a.cost_micros - b.cost_micros,
        a.revenue_micros - b.revenue_micros,
        a.payout_micros - b.payout_micros,
    )


def add(a: Totals, b: Totals) -> Totals:
    return Totals(
        a.impressions + b.impressions,
        a.clicks + b.clicks,
        a.conversions + b.conversions,
        a.reversals + b.reversals,
        a.ivt_blocked + b.ivt_blocked,
        a.cost_micros + b.cost_micros,
        a.revenue_micros + b.revenue_micros,
        a.payout_micros + b.payout_micros,
    )


def has_money(t: Totals) -> bool:
    return bool(t.cost_micros or t.revenue_micros or t.payout_micros)


def converted(t: Totals, rate: Fraction) -> Totals:
    """The money of `t` times `rate`, each figure rounded half-even to the micro."""
    if rate == 1:
        return t
    return replace(
        t,
        cost_micros=round(t.cost_micros * rate),
        revenue_micros=round(t.revenue_micros * rate),
        payout_micros=round(t.payout_micros * rate),
    )


@dataclass(frozen=True, slots=True)
class ReportCurrency:
    """The one currency a report's money is in, and the operator's rates the money of other
    currencies was converted with (D47): a publisher or the network is paid by advertisers in
    several currencies, and adding SEK to USD unconverted would be a wrong figure. Each day's
    money at that day's rate (services/fx.py), so a new rate leaves the past as it was."""

    code: str | None  # None: the account's own (an account-scoped export, one currency)
    histories: Mapping[str, RateHistory] = field(default_factory=dict)  # by the currency converted from
    first: date | None = None  # the report's days (None: open), for `rates`
    last: date | None = None

    def factor(self, currency: str | None, day: date) -> Fraction:
        """What one unit of `currency` is worth in the report's currency on `day`."""
        history = None if currency is None or currency == self.code else self.histories.get(currency)
        # No rate: that currency has no money in the report (`_report_currency` refuses otherwise).
        return Fraction(1) if history is None or self.code is None else history.on(day).into(self.code)

    @property
    def rates(self) -> list[Rate]:
        """The rates in effect on the report's days, by currency and then day."""
        return [r for _, h in sorted(self.histories.items()) for r in h.within(self.first, self.last)]

    def changes(self) -> list[date]:
        """The days within the report on which a rate it uses changes."""
        return sorted({d for h in self.histories.values() for d in h.changes(self.first, self.last)})


# Key of a report's money before conversion: its currency, or None for "the account's own".
CurrencyKey = str | None


@dataclass(frozen=True, slots=True)
class Restatement:
    """What changed on a final day after it became final: the late events' own totals."""

    last_logged_at: datetime
    delta: Totals


@dataclass(frozen=True, slots=True)
class DailyRow:
    day: date
    totals: Totals  # as final (late events excluded) for a final day; as of now otherwise
    finalized: bool
    final_at: datetime
    restatement: Restatement | None = None


@dataclass(frozen=True, slots=True)
class DailyReport:
    start: date
    end: date
    timezone: str
    rows: list[DailyRow]
    totals: Totals  # every event of the range, restatements included: what the ledger sums to
    currency: ReportCurrency = field(default_factory=lambda: ReportCurrency(None))
    costs: bool = True  # `sees_costs`: False withholds the advertisers' cost figures


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose events a report covers: an account's, or (a publisher calling) its own traffic."""

    account_id: int | None
    filters: dict[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublisherPage:
    rows: list[ReportRow]
    total: int
    offset: int
    currency: ReportCurrency
    costs: bool = True


@dataclass(frozen=True, slots=True)
class CreativeArm:
    row: ReportRow
    ctr_interval: calc.Interval | None
    cvr_interval: calc.Interval | None
    p_best_ctr: float | None
    p_best_cvr: float | None


@dataclass(frozen=True, slots=True)
class CreativeReport:
    arms: list[CreativeArm]
    ctr_winner: int | None  # index into arms
    cvr_winner: int | None
    currency: ReportCurrency
    costs: bool = True


@dataclass(frozen=True, slots=True)
class PublisherDelays:
    advertiser_id: int
    publisher_id: int
    delays: Delays
    flooding: FloodingTest


@dataclass(frozen=True, slots=True)
class ClickDelayReport:
    start: date
    end: date
    timezone: str
    late_after: timedelta
    rows: list[PublisherDelays]


class ReportService:
    def __init__(
        self, uow: UnitOfWorkFactory, events: ReportEvents, clock: Clock, delays: ClickDelaySource
    ) -> None:
        self._uow = uow
        self._events = events
        self._clock = clock
        self._delays = delays

    # --- daily -------------------------------------------------------------------------------

    def daily(
        self,
        principal: Principal,
        start: date,
        end: date,
        *,
        campaign_id: int | None = None,
        campaign_type: CampaignType | None = None,
        publisher_id: int | None = None,
    ) -> DailyReport:
        _check_span(start, end)
        scope = self._scope(principal, campaign_id, publisher_id)
        of_type = self._campaigns_of_type(scope, campaign_type) if campaign_type is not None else None
        report = self._daily(
            scope, principal.timezone, start, end, of_type, principal.currency, _spans_accounts(principal)
        )
        return replace(report, costs=sees_costs(principal))

    def daily_of_account(
        self, account_id: int, tz: str, start: date, end: date, *, campaign_id: int | None = None
    ) -> DailyReport:
        """`daily` for an account's own figures (the daily export)."""
        _check_span(start, end)
        return self._daily(Scope(account_id, {"campaign_id": campaign_id}), tz, start, end, None, None, False)

    def _daily(
        self,
        scope: Scope,
        tz: str,
        start: date,
        end: date,
        of_type: set[int] | None,
        currency: str | None,
        mixed: bool,
    ) -> DailyReport:
        """`mixed`: the scope spans advertisers, whose money is in their own currencies: summed
        per campaign's currency and converted into `currency`. Else all of it is the account's."""
        rows = self._events.daily_totals(
            scope.account_id,
            start,
            end,
            tz,
            campaign_id=scope.filters.get("campaign_id"),
            publisher_id=scope.filters.get("publisher_id"),
            by_campaign=of_type is not None or mixed,
        )
        # Read after the daily rows: this snapshot holds every campaign they hold.
        currency_of = self._campaign_currencies(scope, tz, start, end) if mixed else {}
        per_day: dict[date, dict[CurrencyKey, Totals]] = {}
        groups: dict[CurrencyKey, set[int | None]] = {}  # the campaigns of each currency
        for row in rows:
            if of_type is not None and row.campaign_id not in of_type:
                continue
            key = currency_of[row.campaign_id] if mixed else None
            held = per_day.setdefault(row.day, {})
            held[key] = add(held.get(key, Totals()), row.totals)
            groups.setdefault(key, set()).add(row.campaign_id)
        now = self._clock()
        final_days = [d for d in per_day if calc.is_final(d, tz, now)]
        late = self._late(scope, tz, final_days, groups, of_type is not None)
        in_currency = ReportCurrency(currency)
        if mixed and currency is not None:
            money = {k for held in per_day.values() for k, t in held.items() if has_money(t)}
            money |= {k for held in late.values() for k, r in held.items() if has_money(r.delta)}
            in_currency = self._report_currency(currency, money, start, end)
        report_rows = []
        grand = Totals()
        for day in sorted(per_day):
            totals = _in(in_currency, per_day[day], day)
            grand = add(grand, totals)
            restated = None
            if day in late:
                logged = max(r.last_logged_at for r in late[day].values())
                delta = _in(in_currency, {k: r.delta for k, r in late[day].items()}, day)
                restated = Restatement(logged, delta)
                totals = subtract(totals, restated.delta)
            report_rows.append(
                DailyRow(day, totals, calc.is_final(day, tz, now), calc.final_at(day, tz), restated)
            )
        return DailyReport(start, end, tz, report_rows, grand, in_currency)

    def _campaign_currencies(self, scope: Scope, tz: str, start: date, end: date) -> dict[int | None, str]:
        """The currency of each campaign's events in the scope (its advertiser's, D12)."""
        lo, hi = _window(tz, start, end)
        found: dict[int | None, str] = {}
        for row in self._events.report_totals(
            scope.account_id, ("campaign_id", "currency"), filters=scope.filters, start=lo, end=hi
        ):
            campaign, currency = row.keys
            campaign_id = None if campaign is None else int(str(campaign))
            held = found.setdefault(campaign_id, str(currency))
            if held != currency and has_money(row.totals):
                # One currency per account: never expected; refused rather than summed as one.
                raise Conflict(
                    f"campaign {render('cmp', campaign_id or 0)} has events in {held} and {currency}",
                    field="currency",
                    code="mixed_currencies",
                )
        return found

    def _late(
        self,
        scope: Scope,
        tz: str,
        final_days: Sequence[date],
        groups: Mapping[CurrencyKey, set[int | None]],
        only_listed: bool,
    ) -> dict[date, dict[CurrencyKey, Restatement]]:
        """Restatements of `final_days`, per currency of `groups` (currency -> its campaigns).
        `only_listed`: the listed campaigns are all the report covers (a type filter)."""
        if not final_days:
            return {}
        cutoffs = {d: calc.first_id_logged_at(calc.final_at(d, tz)) for d in final_days}

        def query(campaigns: Iterable[int | None] | None) -> dict[date, Restatement]:
            """The late totals of these campaigns (None: of the whole scope), one query each."""
            if campaigns is None:
                days = self._events.late_daily_totals(scope.account_id, tz, cutoffs, filters=scope.filters)
            else:  # per campaign (rare: several currencies, or a type filter, over final days)
                days = []
                for campaign_id in sorted(c for c in campaigns if c is not None):
                    filters = {**scope.filters, "campaign_id": campaign_id}
                    days += self._events.late_daily_totals(scope.account_id, tz, cutoffs, filters=filters)
            return _restatements(days)

        if not only_listed and len(groups) <= 1:
            return {d: {k: r for k in groups} for d, r in query(None).items()}
        # Several currencies: per campaign, each of one currency. Not the scope's totals less the
        # other currencies': a late event logged between the queries would land in the wrong one.
        # Campaign-less events (auctions) carry no money and count in no figure: left out.
        found: dict[date, dict[CurrencyKey, Restatement]] = {}
        for key, campaigns in groups.items():
            for day, restated in query(campaigns).items():
                found.setdefault(day, {})[key] = restated
        return found

    # --- publishers ----------------------------------------------------------------------------

    def publishers(
        self,
        principal: Principal,
        *,
        campaign_id: int | None,
        start: date | None,
        end: date | None,
        sort: PublisherSort | None = None,
        descending: bool = True,
        offset: int = 0,
        limit: int = 100,
    ) -> PublisherPage:
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        if not 0 <= offset <= MAX_OFFSET:
            raise ValidationFailed(f"offset must be 0 to {MAX_OFFSET}", field="offset")
        scope = self._scope(principal, campaign_id, None)
        rows, in_currency = self._report_rows(
            principal, scope, ("publisher_id", "ssp", "domain", "app_bundle"), start, end
        )
        costs = sees_costs(principal)
        sort = sort or ("spend" if costs else "payout")  # a publisher's default: its earnings
        # Ties broken by the keys, so pages never overlap or skip a row.
        ordered = sorted(rows, key=lambda r: tuple("" if k is None else str(k) for k in r.keys))
        # Spend withheld is null on every row, so all ties (in key order): its order would leak it.
        if costs or sort != "spend":
            ordered.sort(key=_PUBLISHER_KEYS[sort], reverse=descending)
        return PublisherPage(ordered[offset : offset + limit], len(ordered), offset, in_currency, costs)

    # --- click-to-conversion time ----------------------------------------------------------------

    def click_delays(
        self, principal: Principal, start: date, end: date, *, campaign_id: int | None = None
    ) -> ClickDelayReport:
        """Each publisher's conversions over the local days `start` to `end` by delay after their
        click, each tested for click flooding against the same advertiser's other publishers
        (domain/click_delays.py). For the advertisers and the network, who judge publishers."""
        if principal.kind is AccountKind.PUBLISHER:
            raise Forbidden("click-to-conversion times are the advertisers' view of their publishers")
        _check_span(start, end)
        scope = self._scope(principal, campaign_id, None)
        lo, hi = _window(principal.timezone, start, end)
        assert lo is not None and hi is not None
        found = self._delays.click_delays(scope.account_id, campaign_id, lo, hi, LATE_AFTER)
        tests = flooding_tests(found)
        rows = [PublisherDelays(a, p, d, tests[(a, p)]) for (a, p), d in found.items()]
        return ClickDelayReport(start, end, principal.timezone, LATE_AFTER, rows)

    # --- creatives -----------------------------------------------------------------------------

    def creatives(
        self, principal: Principal, *, campaign_id: int | None, start: date | None, end: date | None
    ) -> CreativeReport:
        scope = self._scope(principal, campaign_id, None)
        rows, in_currency = self._report_rows(principal, scope, ("creative_id", "variant"), start, end)
        rows = [r for r in rows if r.totals.impressions or r.totals.clicks or r.totals.conversions]
        shown = [i for i, r in enumerate(rows) if r.totals.impressions > 0]
        clicked = [i for i, r in enumerate(rows) if r.totals.clicks > 0]
        p_ctr = calc.win_probabilities(
            [
                (min(rows[i].totals.clicks, rows[i].totals.impressions), rows[i].totals.impressions)
                for i in shown
            ]
        )
        p_cvr = calc.win_probabilities(
            [
                (max(0, min(net_conversions(rows[i].totals), rows[i].totals.clicks)), rows[i].totals.clicks)
                for i in clicked
            ]
        )
        by_row_ctr = dict(zip(shown, p_ctr, strict=True)) if p_ctr else {}
        by_row_cvr = dict(zip(clicked, p_cvr, strict=True)) if p_cvr else {}
        arms = [
            CreativeArm(
                row,
                calc.wilson(row.totals.clicks, row.totals.impressions),
                calc.wilson(max(0, net_conversions(row.totals)), row.totals.clicks),
                by_row_ctr.get(i),
                by_row_cvr.get(i),
            )
            for i, row in enumerate(rows)
        ]
        ctr_best = calc.winner(p_ctr)
        cvr_best = calc.winner(p_cvr)
        return CreativeReport(
            arms,
            None if ctr_best is None else shown[ctr_best],
            None if cvr_best is None else clicked[cvr_best],
            in_currency,
            sees_costs(principal),
        )

    # --- currency ----------------------------------------------------------------------------------

    def _report_rows(
        self,
        principal: Principal,
        scope: Scope,
        group_by: tuple[str, ...],
        start: date | None,
        end: date | None,
    ) -> tuple[list[ReportRow], ReportCurrency]:
        """`report_totals` per `group_by` over the local days `start` to `end` (None: open), its
        money in one currency: for a caller spanning advertisers, grouped by currency too,
        converted and merged back per key. Where a rate changes within the days, each stretch
        of days with the same rates is read and converted on its own."""
        tz = principal.timezone
        window = _window(tz, start, end)
        if not _spans_accounts(principal):  # an advertiser's events are all in its currency (D12)
            rows = self._events.report_totals(
                scope.account_id, group_by, filters=scope.filters, start=window[0], end=window[1]
            )
            return rows, ReportCurrency(principal.currency)
        keys = (*group_by, "currency")
        rows = self._events.report_totals(
            scope.account_id, keys, filters=scope.filters, start=window[0], end=window[1]
        )
        money = {str(r.keys[-1]) for r in rows if has_money(r.totals) or r.media_payout_micros}
        in_currency = self._report_currency(principal.currency, money, start, end)
        changes = in_currency.changes()
        if not changes:
            return _merged([(rows, start or date.min)], in_currency), in_currency
        # Stretches between the days a rate changes, each read at its own rates.
        bounds = [start, *changes]
        stretches = []
        for first, after in zip(bounds, [*changes, None], strict=True):
            lo = window[0] if first is None else DateSpan(first, first).utc_bounds(tz)[0]
            hi = window[1] if after is None else DateSpan(after, after).utc_bounds(tz)[0]
            part = self._events.report_totals(scope.account_id, keys, filters=scope.filters, start=lo, end=hi)
            stretches.append((part, first or date.min))
        return _merged(stretches, in_currency), in_currency

    def _report_currency(
        self, currency: str, found: Iterable[CurrencyKey], first: date | None, last: date | None
    ) -> ReportCurrency:
        """`currency` with the operator's rates of each other currency in `found` (those with
        money in the report) over its days `first` to `last`. One without a rate is refused,
        naming it, never added as it is."""
        others = sorted(c for c in found if c is not None and c != currency)
        if not others:
            return ReportCurrency(currency)
        with self._uow(read_only=True) as uow:
            rates = histories(uow, currency, others)
        missing = [c for c in others if c not in rates]
        if missing:
            raise Conflict(
                f"the report has money in {', '.join(missing)}, and no exchange rate into {currency} "
                f"is set: the operator sets one with `auctera fx set {missing[0]} {currency} <rate>`",
                field="currency",
                code="exchange_rate_missing",
            )
        return ReportCurrency(currency, rates, first, last)

    # --- scope -----------------------------------------------------------------------------------

    def _scope(self, principal: Principal, campaign_id: int | None, publisher_id: int | None) -> Scope:
        """Advertisers see their account's events; publishers their own traffic on any campaign;
        the network everything. A campaign or publisher filter out of reach answers 404."""
        filters: dict[str, int | None] = {}
        if principal.kind is AccountKind.PUBLISHER:
            if publisher_id not in (None, principal.account_id):
                raise NotFound(
                    f"publisher {render('pub', publisher_id or 0)} not found", field="publisher_id"
                )
            account_id = None
            filters["publisher_id"] = principal.account_id
        else:
            account_id = None if principal.is_network else principal.account_id
            if publisher_id is not None:
                filters["publisher_id"] = publisher_id
        if campaign_id is not None:
            if principal.kind is not AccountKind.PUBLISHER:
                with self._uow(read_only=True) as uow:
                    if uow.campaigns.get(campaign_id, account_id=account_id) is None:
                        raise NotFound(
                            f"campaign {render('cmp', campaign_id)} not found", field="campaign_id"
                        )
            filters["campaign_id"] = campaign_id
        return Scope(account_id, filters)

    def _campaigns_of_type(self, scope: Scope, campaign_type: CampaignType) -> set[int]:
        with self._uow(read_only=True) as uow:
            found = uow.campaigns.page(
                account_id=scope.account_id,
                status=None,
                include_archived=True,
                type=campaign_type,
                before_id=None,
                limit=MAX_CAMPAIGNS_PER_TYPE,
            )
        return {c.id for c in found}


_PUBLISHER_KEYS: Mapping[str, Callable[[ReportRow], int]] = {
    "spend": lambda r: r.totals.cost_micros,
    "impressions": lambda r: r.totals.impressions,
    "clicks": lambda r: r.totals.clicks,
    "conversions": lambda r: net_conversions(r.totals),
    "payout": lambda r: r.totals.payout_micros,
    "revenue": lambda r: r.totals.revenue_micros,
}


def sees_costs(principal: Principal) -> bool:
    """Whether the caller sees the advertisers' cost figures (spend, roas, cpa, clearing prices;
    D49). A publisher does not: they are other tenants' data (each advertiser's cost, and spend
    less payout is the network's margin). It sees its payout, the counts and the sale revenue."""
    return principal.kind is not AccountKind.PUBLISHER


def _spans_accounts(principal: Principal) -> bool:
    """Publishers and the network see the traffic of several advertisers (currencies)."""
    return principal.kind is AccountKind.PUBLISHER or principal.is_network


def _in(in_currency: ReportCurrency, by_currency: Mapping[CurrencyKey, Totals], day: date) -> Totals:
    """A day's totals per currency converted, then added up."""
    total = Totals()
    for key, totals in by_currency.items():
        total = add(total, converted(totals, in_currency.factor(key, day)))
    return total


def _merged(
    stretches: Sequence[tuple[list[ReportRow], date]], in_currency: ReportCurrency
) -> list[ReportRow]:
    """Rows keyed (..., currency) read over stretches of days (each with the first of its days),
    their money converted at that day's rates and added up per key but the currency, in key order."""
    merged: dict[tuple[object, ...], ReportRow] = {}
    for rows, day in stretches:
        for row in rows:
            rate = in_currency.factor(str(row.keys[-1]), day)
            key = row.keys[:-1]
            this = ReportRow(
                key, converted(row.totals, rate), round(row.media_payout_micros * rate), row.paid_events
            )
            held = merged.get(key)
            merged[key] = (
                this
                if held is None
                else ReportRow(
                    key,
                    add(held.totals, this.totals),
                    held.media_payout_micros + this.media_payout_micros,
                    held.paid_events + this.paid_events,
                )
            )
    if len(stretches) == 1:  # already in the rows' order (by their keys)
        return list(merged.values())
    # In the order one read gives them: by their keys, nulls last.
    return [merged[k] for k in sorted(merged, key=lambda k: tuple((v is None, v) for v in k))]


def _restatements(days: Iterable[LateDay]) -> dict[date, Restatement]:
    """Late totals per day, added up (several queries may answer for the same day)."""
    found: dict[date, Restatement] = {}
    for late in days:
        logged = _issued_at(late.last_id)
        held = found.get(late.day)
        if held is None:
            found[late.day] = Restatement(logged, late.totals)
        else:
            found[late.day] = Restatement(max(held.last_logged_at, logged), add(held.delta, late.totals))
    return found


def check_dates(**dates: date | None) -> None:
    """Each date given (by its field name) within FIRST_DATE..LAST_DATE."""
    for field_name, day in dates.items():
        if day is not None and not FIRST_DATE <= day <= LAST_DATE:
            raise ValidationFailed(
                f"{field_name} must be from {FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()}",
                field=field_name,
            )


def _check_span(start: date, end: date) -> None:
    check_dates(start_date=start, end_date=end)
    if end < start:
        raise ValidationFailed("end_date must not be before start_date", field="end_date")
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_DAYS} days", field="end_date")


def _window(tz: str, start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC bounds of the local days start..end; an open side stays open."""
    check_dates(start_date=start, end_date=end)
    if start is not None and end is not None:
        _check_span(start, end)
    lo = DateSpan(start, start).utc_bounds(tz)[0] if start is not None else None
    hi = DateSpan(end, end).utc_bounds(tz)[1] if end is not None else None
    return lo, hi


def _issued_at(event_id: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=issued_at_ms(event_id))
