"""Exchange rates as the operator set them (`auctera fx set`), read as exact fractions."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from auctera.services.ports import UnitOfWork


def rates_to(uow: UnitOfWork, quote: str, currencies: Iterable[str]) -> dict[str, Fraction]:
    """`quote` per unit of each currency with a known rate (fx_rates, either direction), exact:
    a Fraction of the stored decimal, or of its inverse. Currencies without one are left out (no
    cross rates through a third currency)."""
    rates: dict[str, Fraction] = {}
    for currency in currencies:
        if currency == quote:
            rates[currency] = Fraction(1)
            continue
        rate = uow.fx_rates.get(currency, quote)
        if rate is not None and rate > 0:
            rates[currency] = Fraction(rate)
            continue
        inverse = uow.fx_rates.get(quote, currency)
        if inverse is not None and inverse > 0:
            rates[currency] = 1 / Fraction(inverse)
    return rates
