"""Multi-touch attribution: how much of one conversion each touchpoint before it earns.

Credits are exact `Fraction`s, one per touchpoint, summing to exactly 1, so no model ever
loses or invents a fraction of a conversion; `round_credits` turns them into the decimals a
report shows while keeping that sum (largest remainder). Nothing here reads a clock: the
conversion time is passed in.

`data_driven` is a first-order Markov chain over channels (Anderl et al. 2016, the approach
of the ChannelAttribution package): fitted on an account's converting and non-converting
paths, each channel is worth its removal effect, the share of conversions lost when the
chain can no longer pass through it. The chain is solved exactly, in integers, so the
numbers are reproducible to the last digit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from math import floor

CLICK = "click"
DEFAULT_HALF_LIFE = timedelta(days=7)

# Position-based (the "U-shaped" model): 40% to the first touch, 40% to the last, 20% shared by
# the ones in between.
_ENDS_SHARE = Fraction(2, 5)
_MIDDLE_SHARE = Fraction(1, 5)

# The chain's own states, bracketed as ChannelAttribution names them; no channel may use them.
START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"
_ABSORBING = (CONVERSION, NULL)
_PER_TOUCH_CACHE = 65_536  # entries; emptied when full


class AttributionModel(StrEnum):
    LAST_CLICK = "last_click"
    FIRST_CLICK = "first_click"
    LINEAR = "linear"
    TIME_DECAY = "time_decay"
    POSITION_BASED = "position_based"
    DATA_DRIVEN = "data_driven"


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """One impression, click or other interaction on a channel (DSP, Affiliate, SmartLink, ...)."""

    channel: str
    interaction: str  # "impression", "click", ...
    at: datetime
    event_id: int | None = None
    campaign_id: int | None = None

    @property
    def is_click(self) -> bool:
        return self.interaction == CLICK


def within_lookback(
    touchpoints: Iterable[Touchpoint], *, converted_at: datetime, lookback: timedelta
) -> list[Touchpoint]:
    """The touchpoints in [converted_at - lookback, converted_at], oldest first (stable)."""
    since = converted_at - lookback
    return sorted((t for t in touchpoints if since <= t.at <= converted_at), key=lambda t: t.at)


def credits(
    path: Sequence[Touchpoint],
    model: AttributionModel,
    *,
    converted_at: datetime,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    markov: MarkovModel | None = None,
) -> list[Fraction]:
    """Each touchpoint's credit for the conversion, in the order given, summing to exactly 1.

    "First" and "last" are by time (`at`), ties in the order given. An empty path (a conversion
    nobody touched) gets no credits. `half_life` is only used by `time_decay`, `markov` (required)
    only by `data_driven`. `model` may be given as its string value.
    """
    if any(t.at > converted_at for t in path):
        raise ValueError("a touchpoint after the conversion cannot have led to it")
    if not path:
        return []
    order = sorted(range(len(path)), key=lambda i: path[i].at)
    in_time = [path[i] for i in order]
    shares = _in_time_order(in_time, AttributionModel(model), half_life, markov)
    result = [Fraction(0)] * len(path)
    for i, share in zip(order, shares, strict=True):
        result[i] = share
    return result


def _in_time_order(
    path: Sequence[Touchpoint],
    model: AttributionModel,
    half_life: timedelta,
    markov: MarkovModel | None,
) -> list[Fraction]:
    if model is AttributionModel.LAST_CLICK:
        return _last_click(path)
    if model is AttributionModel.FIRST_CLICK:
        return _first_click(path)
    if model is AttributionModel.LINEAR:
        return _linear(len(path))
    if model is AttributionModel.TIME_DECAY:
        return _time_decay(path, half_life)
    if model is AttributionModel.POSITION_BASED:
        return _position_based(len(path))
    if markov is None:
        raise ValueError("data_driven attribution needs a fitted MarkovModel")
    return markov.credits([t.channel for t in path])


# The functions below take a non-empty path in time order.


def _last_click(path: Sequence[Touchpoint]) -> list[Fraction]:
    """All to the last click; to the last touchpoint when there was none (a view-through)."""
    clicks = [i for i, t in enumerate(path) if t.is_click]
    return _all_to(len(path), clicks[-1] if clicks else len(path) - 1)


def _first_click(path: Sequence[Touchpoint]) -> list[Fraction]:
    """All to the first click; to the first touchpoint when there was none."""
    clicks = [i for i, t in enumerate(path) if t.is_click]
    return _all_to(len(path), clicks[0] if clicks else 0)


def _all_to(count: int, winner: int) -> list[Fraction]:
    return [Fraction(int(i == winner)) for i in range(count)]


def _linear(count: int) -> list[Fraction]:
    return [Fraction(1, count)] * count


def _position_based(count: int) -> list[Fraction]:
    """40% first, 40% last, 20% split evenly across the middle; 100% for one touch, 50/50 for two."""
    if count <= 2:
        return _linear(count)
    middle = _MIDDLE_SHARE / (count - 2)
    return [_ENDS_SHARE, *[middle] * (count - 2), _ENDS_SHARE]


def _time_decay(path: Sequence[Touchpoint], half_life: timedelta) -> list[Fraction]:
    """Weights 2^(-(converted_at - at) / half_life), normalised.

    converted_at cancels out in the normalisation, so the weights are taken relative to the
    latest touch instead: an old touch underflows to 0 rather than every one of them. They are
    floats (2^x is irrational), normalised as exact Fractions of those floats, so the credits
    still sum to exactly 1.
    """
    if half_life <= timedelta(0):
        raise ValueError("half_life must be positive")
    latest = max(t.at for t in path)
    weights = [Fraction(2.0 ** -((latest - t.at) / half_life)) for t in path]
    total = sum(weights, Fraction(0))
    return [w / total for w in weights]


def round_credits(shares: Sequence[Fraction], places: int = 4) -> list[Decimal]:
    """Round to `places` decimals keeping the sum (largest remainder method).

    Each share is rounded down, then the units still missing from the rounded total go to the
    largest remainders, ties to the earlier touchpoint, so [1/3, 1/3, 1/3] gives
    [0.3334, 0.3333, 0.3333], which sums to 1.0000.
    """
    unit = 10**places
    scaled = [share * unit for share in shares]
    rounded = [floor(s) for s in scaled]
    missing = round(sum(scaled, Fraction(0))) - sum(rounded)
    by_remainder = sorted(range(len(scaled)), key=lambda i: (rounded[i] - scaled[i], i))
    for i in by_remainder[:missing]:
        rounded[i] += 1
    return [Decimal(n).scaleb(-places) for n in rounded]


# -- data-driven: a first-order Markov chain ---------------------------------------------------


class MarkovModel:
    """Transition counts between START, the channels, CONVERSION and NULL (the two absorbing states).

    Every path START -> c1 -> ... -> cn -> CONVERSION (or NULL) adds one to each of its
    transitions. Repeats of a channel (c -> c) are counted and are harmless: a self-loop does
    not change where the chain ends up. Conversion probabilities come from an exact solve over
    the channel states (a few dozen at most), computed once per removed channel and kept
    (filled lazily; sharing a model between threads at worst computes a value twice).
    """

    def __init__(self, counts: Mapping[tuple[str, str], int]) -> None:
        """From transition counts, e.g. persisted from an earlier `fit` (see `transition_counts`)."""
        out: dict[str, dict[str, int]] = {}
        for (source, target), count in counts.items():
            _check_transition(source, target, count)
            if count:
                out.setdefault(source, {})[target] = count
        self._out = out
        targets = {t for row in out.values() for t in row}
        self._channels = tuple(sorted((set(out) | targets) - {START, *_ABSORBING}))
        self._probabilities: dict[str | None, Fraction] = {}
        self._effects: dict[str, Fraction] | None = None
        # Paths with the same channels, touched as often, share their credits: Fraction
        # arithmetic is the cost of attributing many conversions, and the same sets keep recurring.
        self._per_touch: dict[frozenset[tuple[str, int]], dict[str, Fraction]] = {}

    @classmethod
    def fit(cls, paths: Iterable[tuple[Sequence[str], bool]]) -> MarkovModel:
        """Count the transitions of (channels in time order, converted) paths.

        Empty paths are skipped: a direct conversion says nothing about any channel (and would
        only shrink every removal effect by the same factor).
        """
        counts: Counter[tuple[str, str]] = Counter()
        for channels, converted in paths:
            if channels:
                states = (START, *channels, CONVERSION if converted else NULL)
                counts.update(pairwise(states))
        return cls(counts)

    @property
    def channels(self) -> tuple[str, ...]:
        return self._channels

    @property
    def transition_counts(self) -> dict[tuple[str, str], int]:
        return {(s, t): n for s, row in self._out.items() for t, n in row.items()}

    def conversion_probability(self, removed: str | None = None) -> Fraction:
        """P(the chain from START ends in CONVERSION), with `removed`'s visits sent to NULL."""
        if removed not in self._probabilities:
            self._probabilities[removed] = _absorption_probability(self._out, removed)
        return self._probabilities[removed]

    def removal_effects(self) -> dict[str, Fraction]:
        """Per channel, 1 - P(conversion without it) / P(conversion); all 0 with no conversions."""
        return dict(self._removal_effects())

    def _removal_effects(self) -> dict[str, Fraction]:
        if self._effects is None:
            base = self.conversion_probability()
            self._effects = {
                c: 1 - self.conversion_probability(c) / base if base else Fraction(0) for c in self._channels
            }
        return self._effects

    def credits(self, channels: Sequence[str]) -> list[Fraction]:
        """Credits of one converting path's touchpoints (channels in time order).

        Each channel present gets its removal effect normalised over the channels present,
        split equally among its touchpoints. A channel the model never saw is worth 0. When
        every channel present is worth 0 (no conversions in the fitted paths, or only unknown
        channels) there is no evidence to go on, and the credits fall back to linear.
        """
        present = frozenset(Counter(channels).items())
        per_touch = self._per_touch.get(present)
        if per_touch is None:
            per_touch = self._per_touch_credit(present)
            if len(self._per_touch) >= _PER_TOUCH_CACHE:
                self._per_touch.clear()
            self._per_touch[present] = per_touch
        if not per_touch:
            return _linear(len(channels))
        return [per_touch[c] for c in channels]

    def _per_touch_credit(self, present: frozenset[tuple[str, int]]) -> dict[str, Fraction]:
        """Credit of one touch of each channel, for paths with these (channel, touches); {} if no evidence."""
        effects = self._removal_effects()
        worth = {c: effects.get(c, Fraction(0)) for c, _ in present}
        total = sum(worth.values(), Fraction(0))
        if not total:
            return {}
        return {c: worth[c] / total / touches for c, touches in present}


def _check_transition(source: str, target: str, count: int) -> None:
    # A channel named like a reserved state shows up as a transition into START or out of an
    # absorbing state, which no real path makes.
    if target == START or source in _ABSORBING:
        raise ValueError(
            f"impossible transition {source!r} -> {target!r}: channel names "
            f"{START}, {CONVERSION} and {NULL} are reserved"
        )
    if count < 0:
        raise ValueError(f"negative transition count for {source!r} -> {target!r}")


def _absorption_probability(out: Mapping[str, Mapping[str, int]], removed: str | None) -> Fraction:
    """Solve x_s = sum_t p(s, t) x_t + p(s, CONVERSION) exactly for x_START.

    Only the states that can still reach CONVERSION (avoiding `removed`) are unknowns; every
    other one converts with probability 0. Multiplying each row by its state's total outgoing
    count makes the system integer, (n_s - c(s, s)) x_s - sum_{t != s} c(s, t) x_t = c(s, CONVERSION),
    and fraction-free (Bareiss) elimination solves it with exact integers of bounded size.
    """
    live = _reaching_conversion(out, removed)
    if START not in live:
        return Fraction(0)
    # START last: after forward elimination its row alone gives its value.
    states = [*sorted(live - {START}), START]
    index = {s: i for i, s in enumerate(states)}
    size = len(states)
    rows: list[list[int]] = []
    for state in states:
        row = [0] * (size + 1)
        transitions = out[state]
        row[index[state]] = sum(transitions.values())
        for target, count in transitions.items():
            if target in index:
                row[index[target]] -= count
        row[size] = transitions.get(CONVERSION, 0)
        rows.append(row)
    return _bareiss_last(rows)


def _reaching_conversion(out: Mapping[str, Mapping[str, int]], removed: str | None) -> set[str]:
    """The transient states with a path to CONVERSION that avoids `removed`."""
    into: dict[str, list[str]] = {}
    for source, row in out.items():
        if source != removed:
            for target in row:
                into.setdefault(target, []).append(source)
    reached: set[str] = set()
    frontier = [CONVERSION]
    while frontier:
        for source in into.get(frontier.pop(), ()):
            if source not in reached:
                reached.add(source)
                frontier.append(source)
    return reached


def _bareiss_last(rows: list[list[int]]) -> Fraction:
    """The last unknown of the integer system [A | b] (A nonsingular), by Bareiss elimination.

    Every division is exact, so the numbers stay integers no larger than A's minors. A here is a
    nonsingular M-matrix (from a chain that surely gets absorbed), whose pivots are never 0; the
    row swap is a guard only.
    """
    size = len(rows)
    previous = 1
    for k in range(size - 1):
        if rows[k][k] == 0:
            swap = next(i for i in range(k + 1, size) if rows[i][k] != 0)
            rows[k], rows[swap] = rows[swap], rows[k]
        pivot_row = rows[k]
        pivot = pivot_row[k]
        for row in rows[k + 1 :]:
            factor = row[k]
            for j in range(k + 1, size + 1):
                row[j] = (row[j] * pivot - factor * pivot_row[j]) // previous
            row[k] = 0
        previous = pivot
    last = rows[-1]
    return Fraction(last[size], last[size - 1])
