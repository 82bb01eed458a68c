"""Exchange rates as the operator set them (`auctera fx set`), read as exact fractions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from auctera.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate as the operator set it: `rate` units of `quote` per unit of `base`."""

    base: str
    quote: str
    rate: Decimal

    def into(self, currency: str) -> Fraction:
        """Units of `currency` (the base or the quote) per unit of the other one, exactly."""
        return Fraction(self.rate) if currency == self.quote else 1 / Fraction(self.rate)


def stored_rates(uow: UnitOfWork, quote: str, currencies: Iterable[str]) -> dict[str, Rate]:
    """The stored rate (fx_rates, either direction) each of `currencies` other than `quote`
    converts into `quote` with. Currencies without one are left out (no cross rates through a
    third currency)."""
    rates: dict[str, Rate] = {}
    for currency in currencies:
        if currency == quote:
            continue
        rate = uow.fx_rates.get(currency, quote)
        if rate is not None and rate > 0:
            rates[currency] = Rate(currency, quote, rate)
            continue
        inverse = uow.fx_rates.get(quote, currency)
        if inverse is not None and inverse > 0:
            rates[currency] = Rate(quote, currency, inverse)
    return rates


def rates_to(uow: UnitOfWork, quote: str, currencies: Iterable[str]) -> dict[str, Fraction]:
    """`quote` per unit of each currency with a known rate (see `stored_rates`), exact: a
    Fraction of the stored decimal, or of its inverse."""
    wanted = list(currencies)
    rates = {currency: Fraction(1) for currency in wanted if currency == quote}
    rates.update({c: rate.into(quote) for c, rate in stored_rates(uow, quote, wanted).items()})
    return rates
