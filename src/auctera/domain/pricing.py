"""What a candidate bids and what a winner pays, in integer micros per click.

Bids are modulated from the line item's `targetBid` by its strategy (seed 004): `clicks` bids
the target flat; `conversion` scales it by the predicted conversion rate over the line item's
average, `revenue` also by the predicted order value over the line item's average, both capped
by `maxBid`. Rates are floats; the bid is rounded down to whole micros, so every comparison of
money downstream is between integers.

A winner pays the generalised second price: the next ranked candidate's expected value per
impression divided by the winner's click rate, plus one cent, at least the reserve and never
more than the winner's own bid; or its own bid where the placement sells at first price.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
import numpy.typing as npt

BID_INCREMENT_MICROS = 10_000  # 0.01: what a second-price winner pays above the runner-up's value
# Modulated bids are clipped here so that a tiny line-item average cannot overflow int64
# (2**53 micros is about 9 billion currency units per click, and exact in a float64).
BID_CEILING_MICROS = 2**53


class BidStrategy(StrEnum):
    CLICKS = "clicks"
    CONVERSION = "conversion"
    REVENUE = "revenue"


class Pricing(StrEnum):
    SECOND_PRICE = "second_price"
    FIRST_PRICE = "first_price"


STRATEGY_CODES: dict[BidStrategy, int] = {strategy: code for code, strategy in enumerate(BidStrategy)}


def modulated_bids(
    strategy: npt.NDArray[np.int8],
    target_micros: npt.NDArray[np.int64],
    max_micros: npt.NDArray[np.int64],
    p_conversion: npt.NDArray[np.float64],
    avg_conversion: npt.NDArray[np.float64],
    order_value_micros: npt.NDArray[np.int64],
    avg_order_value_micros: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Every candidate's bid in micros, column-wise.

    `strategy` holds `STRATEGY_CODES`; `max_micros` is -1 where the line item has no `maxBid`.
    A line-item average of zero (no history yet) leaves that factor at 1: bid the target; the
    conversion factor is clipped at `BID_CEILING_MICROS` so that no product of factors overflows.

        clicks:      target
        conversion:  min(floor(target * (p_conversion / avg_conversion)), maxBid)
        revenue:     min(floor(target * ((p_conversion / avg_conversion)
                                         * (order_value / avg_order_value))), maxBid)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        conversion = np.where(
            avg_conversion > 0, np.minimum(p_conversion / avg_conversion, float(BID_CEILING_MICROS)), 1.0
        )
        value = np.where(
            avg_order_value_micros > 0,
            order_value_micros.astype(np.float64) / avg_order_value_micros,
            1.0,
        )
    factor = np.where(strategy == STRATEGY_CODES[BidStrategy.REVENUE], conversion * value, conversion)
    scaled = np.floor(np.minimum(target_micros * factor, float(BID_CEILING_MICROS))).astype(np.int64)
    capped = np.where(max_micros >= 0, np.minimum(scaled, max_micros), scaled)
    return np.where(strategy == STRATEGY_CODES[BidStrategy.CLICKS], target_micros, capped)


def second_price(next_score: float, quality: float, bid_micros: int, reserve_micros: int) -> int:
    """min(bid, max(reserve, floor(next_score / quality) + 0.01)) in micros.

    `next_score` is the runner-up's expected value per impression (its bid times its click
    rate; 0 when nobody is left), `quality` the winner's click rate (> 0 for any candidate
    that can win). The result is what keeps the winner's own expected value per impression
    above the runner-up's, which is why prices fall with the slot.
    """
    return min(bid_micros, max(reserve_micros, math.floor(next_score / quality) + BID_INCREMENT_MICROS))
