"""Money as integer micros with an explicit currency. Never float arithmetic."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

MICROS = 1_000_000
_QUANTUM = Decimal("0.000001")


def to_micros(amount: Decimal | int | str) -> int:
    """Exact conversion; more than six decimal places is an error, not a silent rounding."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError("amount must be finite")
    micros = value * MICROS
    if micros != micros.to_integral_value():
        raise ValueError("amount has more than 6 decimal places")
    return int(micros)


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).quantize(_QUANTUM).normalize() if micros else Decimal(0)


def display(micros: int, places: int = 2) -> Decimal:
    """Round half-even to `places` for presentation (reports, API numbers)."""
    return (Decimal(micros) / MICROS).quantize(Decimal(1).scaleb(-places))


def convert_down(micros: int, rate: Fraction) -> int:
    """`micros` times an exchange `rate`, rounded down (toward minus infinity), exactly: for what
    must not exceed the real amount (a bid, a cap, a price charged)."""
    return micros * rate.numerator // rate.denominator


def convert_up(micros: int, rate: Fraction) -> int:
    """`micros` times an exchange `rate`, rounded up, exactly: for a floor that must not be
    undercut (a minimum bid)."""
    return -(-micros * rate.numerator // rate.denominator)
