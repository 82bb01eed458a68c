"""Predicted click and conversion rates: counts in, shrunk rates out, updated as events arrive.

Each rate is a Beta-Binomial posterior mean shrunk along a hierarchy of nested groups:

    root (a platform default)  ->  all traffic  ->  placement  ->  (placement, product)
                               ->  (placement, product, line item)

Every level's rate is the prior of the level below it, with `strength` pseudo-trials:

    rate(level) = (successes + strength * rate(parent)) / (trials + strength)

so a line item with no history on a product gets the product's rate on that placement, a new
product gets the placement's, a new placement the platform's observed rate (all traffic), and
each moves toward its own observed rate as its trials outweigh `strength`. Click rate: clicks
out of impressions. Conversion rate: conversions out of clicks (the bids are per click). The
line item's own average conversion rate, which bid modulation compares a prediction against,
is shrunk toward the platform's observed rate too: both sides of that ratio start from the same
place, so a new line item bids its target on an average placement rather than the ratio of the
platform's real rate to a default (a platform converting 1.5% against a default of 5% had every
new `conversion` line item bid a third of its target).

Updating is adding counts to a few dict entries (no refit); reading walks four levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PlacementKey = int | str  # a SmartLink id, a retail-media page slot name, ...

DEFAULT_CLICK_RATE = 0.01
DEFAULT_CONVERSION_RATE = 0.05
DEFAULT_STRENGTH = 100.0


@dataclass(slots=True)
class _Counts:
    successes: int = 0
    trials: int = 0


@dataclass(slots=True)
class ShrunkRate:
    """One hierarchical Beta-Binomial rate (click rate or conversion rate)."""

    prior: float
    strength: float
    _all: _Counts = field(default_factory=_Counts)
    _placements: dict[PlacementKey, _Counts] = field(default_factory=dict)
    _products: dict[tuple[PlacementKey, int], _Counts] = field(default_factory=dict)
    _items: dict[tuple[PlacementKey, int, int], _Counts] = field(default_factory=dict)
    _line_items: dict[int, _Counts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.prior <= 1.0:
            raise ValueError("prior must be within [0, 1]")
        if self.strength <= 0:
            raise ValueError("strength must be positive")

    def add(
        self,
        *,
        placement: PlacementKey,
        product_id: int,
        line_item_id: int,
        successes: int = 0,
        trials: int = 0,
    ) -> None:
        """Count `successes` out of `trials` at every level the event belongs to."""
        if successes < 0 or trials < 0:
            raise ValueError("counts must be at least 0")
        for counts in (
            self._all,
            self._placements.setdefault(placement, _Counts()),
            self._products.setdefault((placement, product_id), _Counts()),
            self._items.setdefault((placement, product_id, line_item_id), _Counts()),
            self._line_items.setdefault(line_item_id, _Counts()),
        ):
            counts.successes += successes
            counts.trials += trials

    def rate(self, *, placement: PlacementKey, product_id: int, line_item_id: int) -> float:
        """The line item's rate for this product on this placement, shrunk level by level."""
        rate = self._shrink(self._placements.get(placement), self.overall())
        rate = self._shrink(self._products.get((placement, product_id)), rate)
        return self._shrink(self._items.get((placement, product_id, line_item_id)), rate)

    def overall(self) -> float:
        """The platform's rate over all traffic, shrunk toward the prior."""
        return self._shrink(self._all, self.prior)

    def line_item_rate(self, line_item_id: int) -> float:
        """The line item's average over all its products and placements."""
        return self._shrink(self._line_items.get(line_item_id), self.overall())

    def _shrink(self, counts: _Counts | None, prior: float) -> float:
        if counts is None:
            return prior
        # Events can be counted out of order (a click before its impression): a rate stays <= 1.
        return min(1.0, (counts.successes + self.strength * prior) / (counts.trials + self.strength))


class Predictor:
    """Click and conversion rates for the auction's candidates, fed by the event stream."""

    __slots__ = ("clicks", "conversions")

    def __init__(
        self,
        *,
        click_prior: float = DEFAULT_CLICK_RATE,
        conversion_prior: float = DEFAULT_CONVERSION_RATE,
        strength: float = DEFAULT_STRENGTH,
    ) -> None:
        self.clicks = ShrunkRate(click_prior, strength)  # clicks out of impressions
        self.conversions = ShrunkRate(conversion_prior, strength)  # conversions out of clicks

    def add_impressions(
        self, *, placement: PlacementKey, product_id: int, line_item_id: int, count: int = 1
    ) -> None:
        self.clicks.add(placement=placement, product_id=product_id, line_item_id=line_item_id, trials=count)

    def add_clicks(
        self, *, placement: PlacementKey, product_id: int, line_item_id: int, count: int = 1
    ) -> None:
        self.clicks.add(
            placement=placement, product_id=product_id, line_item_id=line_item_id, successes=count
        )
        self.conversions.add(
            placement=placement, product_id=product_id, line_item_id=line_item_id, trials=count
        )

    def add_conversions(
        self, *, placement: PlacementKey, product_id: int, line_item_id: int, count: int = 1
    ) -> None:
        self.conversions.add(
            placement=placement, product_id=product_id, line_item_id=line_item_id, successes=count
        )

    def p_click(self, *, placement: PlacementKey, product_id: int, line_item_id: int) -> float:
        return self.clicks.rate(placement=placement, product_id=product_id, line_item_id=line_item_id)

    def p_conversion(self, *, placement: PlacementKey, product_id: int, line_item_id: int) -> float:
        return self.conversions.rate(placement=placement, product_id=product_id, line_item_id=line_item_id)

    def avg_conversion(self, line_item_id: int) -> float:
        return self.conversions.line_item_rate(line_item_id)
