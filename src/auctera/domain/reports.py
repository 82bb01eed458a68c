"""Report arithmetic: ratios, when a day's figures are final, and A/B statistics.

Pure: `now` is passed in; money stays integer micros (ratios become Decimal only here, at
presentation precision). Rates are percentages, as the seed shows them (`"ctr": 0.85` is
0.85 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from auctera.domain.ids import EPOCH_MS, NODE_BITS, SEQ_BITS

# A day's figures are final this long after the day ends: delayed conversions and fraud
# clawbacks arrive within it (the seed: "finalized 24 hours post-event").
FINALIZATION_DELAY = timedelta(hours=24)
RATE_PLACES = Decimal("0.01")
# In a CSV file a text cell starting with one of these is a formula to a spreadsheet (OWASP "CSV
# injection"): CSV files a tenant's text reaches give such cells a leading ' (shown as text).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CENT = Decimal("0.01")
_MICROS = Decimal(1_000_000)
Z_95 = 1.959963984540054  # two-sided 95 %
WIN_THRESHOLD = 0.95  # a variant "wins" when it beats every other with this posterior probability
POSTERIOR_DRAWS = 20_000


def spreadsheet_text(text: str) -> str:
    """`text` as a CSV cell a spreadsheet shows and never runs."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def rate(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator in percent, 2 places (half-even); None when nothing was shown."""
    if denominator <= 0:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(RATE_PLACES, ROUND_HALF_EVEN)


def roas(revenue_micros: int, cost_micros: int) -> Decimal | None:
    """Revenue per unit of spend, 2 places; None without spend."""
    if cost_micros <= 0:
        return None
    return (Decimal(revenue_micros) / Decimal(cost_micros)).quantize(_CENT, ROUND_HALF_EVEN)


def cpa(cost_micros: int, conversions: int) -> Decimal | None:
    """Spend per conversion in currency units, cut to the cent (as the campaign figures are)."""
    if conversions <= 0:
        return None
    return (Decimal(cost_micros) / _MICROS / conversions).quantize(_CENT, ROUND_DOWN)


def average_micros(total_micros: int, count: int) -> Decimal | None:
    """An exact average price in currency units to the micro (half-even); None over nothing."""
    if count <= 0:
        return None
    return (Decimal(total_micros) / count / _MICROS).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)


# --- finalization ---------------------------------------------------------------------------


def final_at(day: date, tz: str) -> datetime:
    """When the local day `day` in `tz` becomes final: its end (next local midnight) plus the delay."""
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=ZoneInfo(tz))
    return end.astimezone(UTC) + FINALIZATION_DELAY


def is_final(day: date, tz: str, now: datetime) -> bool:
    return now >= final_at(day, tz)


def first_id_logged_at(at: datetime) -> int:
    """The smallest Snowflake id issued at or after `at`: events whose id is at least this were
    logged then or later (event ids are issued when the event is recorded)."""
    ms = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return max(0, ms - EPOCH_MS) << (NODE_BITS + SEQ_BITS)


# --- A/B statistics ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    low: float  # fractions (0..1)
    high: float


def wilson(successes: int, trials: int, z: float = Z_95) -> Interval | None:
    """The Wilson score interval of a proportion: sound for small counts and rates near 0."""
    if trials <= 0:
        return None
    p = min(max(successes, 0), trials) / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - spread), min(1.0, centre + spread))


def win_probabilities(
    arms: list[tuple[int, int]], *, draws: int = POSTERIOR_DRAWS, seed: int = 0
) -> list[float] | None:
    """P(arm i has the highest rate) for (successes, trials) arms, from Beta(1 + s, 1 + t - s)
    posteriors (uniform prior), by Monte Carlo with a seeded generator: the same counts always
    give the same answer. None with fewer than two arms."""
    if len(arms) < 2:
        return None
    rng = np.random.default_rng(seed)
    samples = np.empty((len(arms), draws))
    for i, (successes, trials) in enumerate(arms):
        s = min(max(successes, 0), max(trials, 0))
        samples[i] = rng.beta(1 + s, 1 + max(trials, 0) - s, size=draws)
    wins = np.bincount(np.argmax(samples, axis=0), minlength=len(arms))
    return [float(w) / draws for w in wins]


def winner(probabilities: list[float] | None, threshold: float = WIN_THRESHOLD) -> int | None:
    """The arm whose probability of being best reaches `threshold`, if one does."""
    if not probabilities:
        return None
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return best if probabilities[best] >= threshold else None


# --- exports --------------------------------------------------------------------------------


class ExportType(StrEnum):
    LOG_LEVEL_IMPRESSIONS = "log_level_impressions"
    LOG_LEVEL_CLICKS = "log_level_clicks"
    LOG_LEVEL_CONVERSIONS = "log_level_conversions"
    DAILY = "daily"


# The event types each log-level export holds (reversals travel with conversions: they are
# the negative rows that take a conversion back).
EXPORT_EVENT_TYPES: dict[ExportType, tuple[str, ...]] = {
    ExportType.LOG_LEVEL_IMPRESSIONS: ("impression",),
    ExportType.LOG_LEVEL_CLICKS: ("click",),
    ExportType.LOG_LEVEL_CONVERSIONS: ("conversion", "reversal"),
}


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


class ExportStatus(StrEnum):
    QUEUED = "queued"  # shown as "processing"
    RUNNING = "running"  # shown as "processing", with progress
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"  # its file was removed after the retention period


@dataclass(frozen=True, slots=True)
class ExportJob:
    id: int
    account_id: int
    type: ExportType
    file_format: ExportFormat
    start: date  # local days in the account's time zone, inclusive
    end: date
    campaign_id: int | None
    status: ExportStatus
    progress: int  # percent
    estimated_rows: int
    created_at: datetime
    updated_at: datetime
    rows: int | None = None
    file_name: str | None = None  # in the exports directory, once completed
    size_bytes: int | None = None
    error: str | None = None
    locked_until: datetime | None = None  # a runner holds a running job until then
    completed_at: datetime | None = None


# Rows a runner writes per second, for the estimate the POST answers with (measured on the
# benchmark machine: DuckDB COPY of log-level rows plus zipping).
EXPORT_ROWS_PER_SECOND = 1_000_000


def estimated_seconds(rows: int) -> int:
    return max(1, math.ceil(rows / EXPORT_ROWS_PER_SECOND))
