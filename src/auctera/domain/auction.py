"""The auction core: who wins a placement, what each winner pays, and why every other candidate lost.

Pure and deterministic: the caller passes the live candidates (status, flight dates, targeting,
stock and the pre-bid fraud filter already applied), the placement, and one uniform random
`draw` per auction for the pacing throttle. No clock, no I/O.

Speed: an auction over 5,000 candidates must take well under 100 µs, so nothing loops over the
candidates in Python. `CandidateSet` holds them as numpy columns, already sorted by rank
(expected value per impression, then the tie-break), with everything that does not depend on the
auction (bids, scores, the fixed eligibility checks) computed once when the caller builds it. An
auction then masks the placement's reserve and the pacing throttle over those columns and walks
only the first few eligible candidates in Python. The full explanation (a reason per candidate)
is computed when asked for, from the same inputs, so the auction itself does not pay for it.

Ranking: score = bid x p_click, highest first; ties go to the lower line item id, then the lower
product id (ids are time-ordered, so the older line item), which makes the outcome independent of
the order the candidates come in. A product is shown at most once: only the best-ranked candidate
for each product competes for the slots; the others lose with `duplicate_product`.

Price: a winner pays against the candidate that would have taken its slot without it, the next
ranked one that is neither its own line item nor a product shown above: a rival promoting the
same product counts (it would have shown the product in its place).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from auctera.domain.pricing import (
    STRATEGY_CODES,
    BidStrategy,
    Pricing,
    modulated_bids,
    second_price,
)

__all__ = [
    "AuctionResult",
    "BidStrategy",
    "Candidate",
    "CandidateSet",
    "Explanation",
    "LossReason",
    "Outcome",
    "Placement",
    "Pricing",
    "Winner",
    "pacing_participation",
    "pacing_phase",
    "run_auction",
]

_GOLDEN_64 = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: spreads consecutive ids evenly over [0, 1)
_MASK_64 = 2**64 - 1
_ENOUGH = 8  # eligible candidates walked at a time beyond the slots: duplicates are rare


class LossReason(StrEnum):
    """Why a candidate did not win; when several apply, the first in this order is given."""

    BELOW_MIN_BID = "below_min_bid"  # its bid is under the product's minBid: it does not serve
    BELOW_RESERVE = "below_reserve"  # its bid is under the placement's reserve price
    BUDGET_EXHAUSTED = "budget_exhausted"  # its smallest remaining cap cannot cover its bid
    ZERO_SCORE = "zero_score"  # bid 0 or predicted click rate 0: no expected value to rank
    PACED = "paced"  # the even-pacing throttle kept it out of this auction
    DUPLICATE_PRODUCT = "duplicate_product"  # a better-ranked line item promotes the same product
    OUTRANKED = "outranked"  # eligible, but the slots went to higher expected values


class Outcome(StrEnum):
    WON = "won"
    LOST = "lost"


class _Code(IntEnum):
    """Outcome codes as stored in the columns: 0 won, then `LossReason` in order."""

    WON = 0
    BELOW_MIN_BID = 1
    BELOW_RESERVE = 2
    BUDGET_EXHAUSTED = 3
    ZERO_SCORE = 4
    PACED = 5
    DUPLICATE_PRODUCT = 6
    OUTRANKED = 7


_Columns = dict[str, npt.NDArray[Any]]
_REASONS: tuple[LossReason | None, ...] = (None, *LossReason)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (line item, product) pair able to serve on this page. Money in micros."""

    line_item_id: int
    product_id: int
    strategy: BidStrategy
    target_bid_micros: int
    max_bid_micros: int | None  # does not apply to `clicks`
    min_bid_micros: int  # the product's minBid
    remaining_micros: int | None  # the smallest remaining cap (lifetime, month, day, balance); None: uncapped
    p_click: float  # predicted click rate for this product on this placement
    p_conversion: float  # predicted conversions per click
    avg_conversion: float  # the line item's average conversions per click
    order_value_micros: int  # predicted order value (e.g. the product's price)
    avg_order_value_micros: int  # the line item's average order value
    participation: float = 1.0  # even-pacing throttle in [0, 1] (`pacing_participation`); 1.0 for ASAP


@dataclass(frozen=True, slots=True)
class Placement:
    slots: int = 1
    reserve_micros: int = 0  # the lowest price per click a slot sells for
    pricing: Pricing = Pricing.SECOND_PRICE

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError("slots must be at least 1")
        if self.reserve_micros < 0:
            raise ValueError("reserve_micros must be at least 0")


@dataclass(frozen=True, slots=True)
class Winner:
    slot: int  # 1 is the top slot
    index: int  # position of the candidate in the sequence the set was built from
    line_item_id: int
    product_id: int
    bid_micros: int
    price_micros: int  # per click
    score: float  # bid x p_click: expected micros per impression


@dataclass(frozen=True, slots=True)
class Explanation:
    """One candidate's part in one auction, for the log and for the owner."""

    line_item_id: int
    product_id: int
    bid_micros: int
    score: float
    outcome: Outcome
    reason: LossReason | None  # None when it won
    slot: int | None
    price_micros: int | None


def pacing_participation(spent_today_micros: int, daily_cap_micros: int | None, day_fraction: float) -> float:
    """The probability that a line item takes part in an auction under even pacing.

    With b the share of today's cap still unspent and r the share of the day still to come,
    participation = min(1, b / r): on or behind schedule (b >= r) it always bids; ahead of schedule
    it bids in proportion. A line item whose traffic alone would spend the cap R times over then
    keeps b = r**R, so the cap lasts until the end of the day instead of running out by noon.
    Uncapped: 1.0; cap spent (or zero): 0.0; at the very end of the day, 1.0 while money is left.
    """
    if not 0.0 <= day_fraction <= 1.0:
        raise ValueError("day_fraction must be within [0, 1]")
    if daily_cap_micros is None:
        return 1.0
    if spent_today_micros >= daily_cap_micros:
        return 0.0
    budget_left = 1.0 - max(spent_today_micros, 0) / daily_cap_micros
    day_left = 1.0 - day_fraction
    if budget_left >= day_left:
        return 1.0
    return budget_left / day_left


def pacing_phase(line_item_id: int) -> float:
    """A fixed offset in [0, 1) per line item, so one `draw` per auction throttles line items
    independently of each other (each takes part when (draw + phase) mod 1 < participation,
    which happens with probability `participation` for a uniform draw) and all of one line
    item's products together."""
    return (((line_item_id * _GOLDEN_64) & _MASK_64) >> 11) / 2.0**53


def _pacing_phases(line_item_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """`pacing_phase` column-wise: uint64 multiplication wraps modulo 2**64, as the mask does."""
    mixed = line_item_ids.astype(np.uint64) * np.uint64(_GOLDEN_64)
    phases: npt.NDArray[np.float64] = (mixed >> np.uint64(11)).astype(np.float64) / 2.0**53
    return phases


class CandidateSet:
    """The candidates of one page as columns, sorted by rank, reusable across auctions.

    Build it with `from_candidates` when line items, predictions or budgets change; every
    per-candidate computation that does not depend on the auction happens here, once.
    """

    __slots__ = (
        "_below_min_bid",
        "_bids",
        "_budget_exhausted",
        "_line_item_ids",
        "_min_bids",
        "_order",
        "_p_click",
        "_participation",
        "_phase",
        "_product_ids",
        "_ready",
        "_ready_min_bid",
        "_scores",
        "_throttled",
        "_zero_score",
    )

    def __init__(self, columns: _Columns) -> None:
        # Internal: every column is in rank order; `_order` maps rank -> index in the input.
        line_item_ids = columns["line_item_id"].astype(np.int64)
        product_ids = columns["product_id"].astype(np.int64)
        bids = modulated_bids(
            columns["strategy"].astype(np.int8),
            columns["target_bid"].astype(np.int64),
            columns["max_bid"].astype(np.int64),
            columns["p_conversion"].astype(np.float64),
            columns["avg_conversion"].astype(np.float64),
            columns["order_value"].astype(np.int64),
            columns["avg_order_value"].astype(np.int64),
        )
        p_click = columns["p_click"].astype(np.float64)
        scores = bids * p_click
        order = np.lexsort((product_ids, line_item_ids, -scores))
        remaining = columns["remaining"].astype(np.int64)
        capped = columns["capped"].astype(bool)

        self._order = order
        self._line_item_ids = line_item_ids[order]
        self._product_ids = product_ids[order]
        self._bids = bids[order]
        self._p_click = p_click[order]
        self._scores = scores[order]
        self._participation = columns["participation"].astype(np.float64)[order]
        self._phase = _pacing_phases(self._line_item_ids)
        self._min_bids = columns["min_bid"].astype(np.int64)[order]
        self._below_min_bid = self._bids < self._min_bids
        self._budget_exhausted = (capped & (remaining < bids))[order]
        self._zero_score = ~(self._scores > 0)
        self._ready = ~(self._below_min_bid | self._budget_exhausted | self._zero_score)
        ready_bids = self._bids[self._ready]
        # A reserve at or below every ready bid excludes nobody: the auction skips that mask.
        self._ready_min_bid = int(ready_bids.min()) if ready_bids.size else 0
        self._throttled = bool((self._participation[self._ready] < 1.0).any())

    @classmethod
    def from_candidates(cls, candidates: Sequence[Candidate]) -> CandidateSet:
        """Columns from candidates; ValueError names the first field out of range."""
        pairs = {(c.line_item_id, c.product_id) for c in candidates}
        if len(pairs) != len(candidates):
            raise ValueError("a (line_item_id, product_id) pair appears more than once")
        if any(c.max_bid_micros is not None and c.max_bid_micros < 0 for c in candidates):
            raise ValueError("max_bid_micros must be at least 0")
        count = len(candidates)

        def column(dtype: type[np.generic], values: Iterable[object]) -> npt.NDArray[Any]:
            return np.fromiter(values, dtype=dtype, count=count)

        columns = {
            "line_item_id": column(np.int64, (c.line_item_id for c in candidates)),
            "product_id": column(np.int64, (c.product_id for c in candidates)),
            "strategy": column(np.int8, (STRATEGY_CODES[BidStrategy(c.strategy)] for c in candidates)),
            "target_bid": column(np.int64, (c.target_bid_micros for c in candidates)),
            "max_bid": column(  # -1: no maxBid
                np.int64, (-1 if c.max_bid_micros is None else c.max_bid_micros for c in candidates)
            ),
            "min_bid": column(np.int64, (c.min_bid_micros for c in candidates)),
            "remaining": column(np.int64, (c.remaining_micros or 0 for c in candidates)),
            "capped": column(np.bool_, (c.remaining_micros is not None for c in candidates)),
            "p_click": column(np.float64, (c.p_click for c in candidates)),
            "p_conversion": column(np.float64, (c.p_conversion for c in candidates)),
            "avg_conversion": column(np.float64, (c.avg_conversion for c in candidates)),
            "order_value": column(np.int64, (c.order_value_micros for c in candidates)),
            "avg_order_value": column(np.int64, (c.avg_order_value_micros for c in candidates)),
            "participation": column(np.float64, (c.participation for c in candidates)),
        }
        _validate(columns)
        return cls(columns)

    def __len__(self) -> int:
        return len(self._order)

    def _eligible(self, reserve_micros: int, draw: float) -> npt.NDArray[np.bool_]:
        """Which candidates (in rank order) take part in this auction."""
        eligible = self._ready
        if reserve_micros > self._ready_min_bid:
            eligible = eligible & (self._bids >= reserve_micros)
        if self._throttled:
            eligible = eligible & (self._pacing_draws(draw) < self._participation)
        return eligible

    def _pacing_draws(self, draw: float) -> npt.NDArray[np.float64]:
        shifted = self._phase + draw
        wrapped: npt.NDArray[np.float64] = shifted - (shifted >= 1.0)
        return wrapped


def run_auction(candidates: CandidateSet, placement: Placement, draw: float) -> AuctionResult:
    """Fill the placement's slots; `draw` is uniform in [0, 1), one per auction (pacing)."""
    if not 0.0 <= draw < 1.0:
        raise ValueError("draw must be within [0, 1)")
    eligible = np.flatnonzero(candidates._eligible(placement.reserve_micros, draw))
    # The best-ranked eligible candidate of each product, in rank order: the slots' winners, each
    # with its place in `eligible`.
    winning: list[tuple[int, int]] = []
    seen: set[int] = set()
    start = 0
    while len(winning) < placement.slots and start < len(eligible):
        chunk = eligible[start : start + placement.slots + _ENOUGH]
        products = candidates._product_ids[chunk].tolist()
        for offset, (rank, product) in enumerate(zip(chunk.tolist(), products, strict=True)):
            if product not in seen:
                seen.add(product)
                winning.append((start + offset, rank))
                if len(winning) == placement.slots:
                    break
        start += len(chunk)
    scores = candidates._scores
    winners = []
    placed: set[int] = set()  # the products of the slots above
    for slot, (at, rank) in enumerate(winning, start=1):
        bid = int(candidates._bids[rank])
        line_item, product = int(candidates._line_item_ids[rank]), int(candidates._product_ids[rank])
        if placement.pricing is Pricing.FIRST_PRICE:
            price = bid
        else:
            next_score = _runner_up(candidates, eligible, at + 1, line_item, placed)
            # The product's minBid is its floor price, as the reserve is the placement's.
            floor = max(placement.reserve_micros, int(candidates._min_bids[rank]))
            price = second_price(next_score, float(candidates._p_click[rank]), bid, floor)
        placed.add(product)
        winners.append(
            Winner(
                slot=slot,
                index=int(candidates._order[rank]),
                line_item_id=line_item,
                product_id=product,
                bid_micros=bid,
                price_micros=price,
                score=float(scores[rank]),
            )
        )
    return AuctionResult(candidates, placement, draw, tuple(winners))


def _runner_up(
    candidates: CandidateSet, eligible: npt.NDArray[np.intp], start: int, line_item: int, placed: set[int]
) -> float:
    """The score a winner pays against: the best-ranked eligible candidate below it (from
    `eligible[start]` on) that would have taken its slot had it not bid. That includes another
    line item promoting the same product (it would have shown it), but not the winner's own line
    item (nobody bids against itself) nor a product shown in a slot above. 0.0: nobody."""
    line_items, products = candidates._line_item_ids, candidates._product_ids
    chunk = eligible[start : start + _ENOUGH]  # almost always the first one or two
    for rank, other, product in zip(
        chunk.tolist(), line_items[chunk].tolist(), products[chunk].tolist(), strict=True
    ):
        if other != line_item and product not in placed:
            return float(candidates._scores[rank])
    rest = eligible[start + len(chunk) :]  # a line item of many products ranked in a row: at once
    if not len(rest):
        return 0.0
    ok = line_items[rest] != line_item
    if placed:
        ok &= ~np.isin(products[rest], np.fromiter(placed, dtype=np.int64))
    found = np.flatnonzero(ok)
    return float(candidates._scores[rest[found[0]]]) if len(found) else 0.0


@dataclass(frozen=True, slots=True)
class AuctionResult:
    candidates: CandidateSet
    placement: Placement
    draw: float
    winners: tuple[Winner, ...]

    def reason_codes(self) -> npt.NDArray[np.int8]:
        """Per candidate, in input order: 0 for a winner, else 1 + its `LossReason`'s position.

        Recomputed from the auction's inputs (it is deterministic), so the auction never pays
        for it; cheap enough (vectorised) to log with every auction."""
        cs = self.candidates
        eligible = cs._eligible(self.placement.reserve_micros, self.draw)
        ranked = np.flatnonzero(eligible)
        _, firsts = np.unique(cs._product_ids[ranked], return_index=True)
        duplicate = np.zeros(len(cs), dtype=bool)
        duplicate[ranked] = True
        duplicate[ranked[firsts]] = False
        paced = np.zeros(len(cs), dtype=bool)
        if cs._throttled:
            paced = ~(cs._pacing_draws(self.draw) < cs._participation)
        in_rank_order = np.select(
            [
                cs._below_min_bid,
                cs._bids < self.placement.reserve_micros,
                cs._budget_exhausted,
                cs._zero_score,
                paced,
                duplicate,
            ],
            [
                _Code.BELOW_MIN_BID,
                _Code.BELOW_RESERVE,
                _Code.BUDGET_EXHAUSTED,
                _Code.ZERO_SCORE,
                _Code.PACED,
                _Code.DUPLICATE_PRODUCT,
            ],
            default=_Code.OUTRANKED,
        ).astype(np.int8)
        codes = np.empty(len(cs), dtype=np.int8)
        codes[cs._order] = in_rank_order
        codes[np.array([w.index for w in self.winners], dtype=np.int64)] = _Code.WON
        return codes

    def explain(self) -> list[Explanation]:
        """One record per candidate, in the order the candidates were given."""
        cs = self.candidates
        by_index = {w.index: w for w in self.winners}
        rank_of = np.empty(len(cs), dtype=np.int64)
        rank_of[cs._order] = np.arange(len(cs))
        columns = zip(
            cs._line_item_ids[rank_of].tolist(),
            cs._product_ids[rank_of].tolist(),
            cs._bids[rank_of].tolist(),
            cs._scores[rank_of].tolist(),
            self.reason_codes().tolist(),
            strict=True,
        )
        records = []
        for index, (line_item_id, product_id, bid, score, code) in enumerate(columns):
            won = by_index.get(index)
            records.append(
                Explanation(
                    line_item_id=line_item_id,
                    product_id=product_id,
                    bid_micros=bid,
                    score=score,
                    outcome=Outcome.WON if won else Outcome.LOST,
                    reason=_REASONS[code],
                    slot=won.slot if won else None,
                    price_micros=won.price_micros if won else None,
                )
            )
        return records


def _validate(columns: _Columns) -> None:
    for name in ("p_click", "p_conversion", "avg_conversion", "participation"):
        values = columns[name]
        if not ((values >= 0) & (values <= 1)).all():  # NaN fails both comparisons
            raise ValueError(f"{name} must be within [0, 1]")
    for name in ("target_bid", "min_bid", "order_value", "avg_order_value"):
        if (columns[name] < 0).any():
            raise ValueError(f"{name}_micros must be at least 0")
