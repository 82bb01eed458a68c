"""Exchange rates as the operator set them (`auctera fx set`), read as exact fractions.

Each rate takes effect from a day on. The rate in effect on a day is the latest set from that
day or before; a pair's earliest rate also serves the days before it (there is none older to
use). Money is converted at the rate of the day it is about: a conversion's revenue at its
day's, a report's days each at their own, so a new rate never changes a figure of the past. The
auctions and bids, which are about now, use the latest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from auctera.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate as the operator set it: `rate` units of `quote` per unit of `base`, from a day on."""

    base: str
    quote: str
    rate: Decimal
    effective_from: date

    def into(self, currency: str) -> Fraction:
        """Units of `currency` (the base or the quote) per unit of the other one, exactly."""
        return Fraction(self.rate) if currency == self.quote else 1 / Fraction(self.rate)


@dataclass(frozen=True, slots=True)
class RateHistory:
    """One pair's rates, oldest first (never empty)."""

    rates: tuple[Rate, ...]

    @property
    def latest(self) -> Rate:
        return self.rates[-1]

    def on(self, day: date) -> Rate:
        """The rate in effect on `day`."""
        found = self.rates[0]
        for rate in self.rates[1:]:
            if rate.effective_from > day:
                break
            found = rate
        return found

    def changes(self, first: date | None, last: date | None) -> list[date]:
        """The days after `first`, up to `last`, on which another rate takes effect (None: open)."""
        return [
            r.effective_from
            for r in self.rates[1:]
            if (first is None or r.effective_from > first) and (last is None or r.effective_from <= last)
        ]

    def within(self, first: date | None, last: date | None) -> list[Rate]:
        """The rates in effect on some day from `first` to `last` (None: open)."""
        opening = self.rates[0] if first is None else self.on(first)
        return [opening, *(self.on(day) for day in self.changes(first, last))]


def histories(uow: UnitOfWork, quote: str, currencies: Iterable[str]) -> dict[str, RateHistory]:
    """The stored rates (fx_rates) each of `currencies` other than `quote` converts into `quote`
    with: the pair's own way round, else the other (`USD SEK 10.6` serves SEK into USD too).
    Currencies without one are left out (no cross rates through a third currency)."""
    found: dict[str, RateHistory] = {}
    for currency in currencies:
        if currency == quote or currency in found:
            continue
        for base, into in ((currency, quote), (quote, currency)):
            rates = tuple(Rate(base, into, r, day) for day, r in uow.fx_rates.history(base, into) if r > 0)
            if rates:
                found[currency] = RateHistory(rates)
                break
    return found


def rates_to(uow: UnitOfWork, quote: str, currencies: Iterable[str]) -> dict[str, Fraction]:
    """`quote` per unit of each currency with a known rate (see `histories`), today's, exact: a
    Fraction of the stored decimal, or of its inverse."""
    wanted = list(currencies)
    rates = {currency: Fraction(1) for currency in wanted if currency == quote}
    rates.update({c: h.latest.into(quote) for c, h in histories(uow, quote, wanted).items()})
    return rates


def rate_on(uow: UnitOfWork, base: str, quote: str, day: date) -> Fraction | None:
    """`quote` per unit of `base` on `day`, exact; None without a rate."""
    if base == quote:
        return Fraction(1)
    history = histories(uow, quote, [base]).get(base)
    return None if history is None else history.on(day).into(quote)
