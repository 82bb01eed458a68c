"""Money as integer micros with an explicit currency. Never float arithmetic."""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation
from fractions import Fraction

MICROS = 1_000_000
_QUANTUM = Decimal("0.000001")
_ONE = Decimal(1)
# Any one amount, in any currency: its micros fit a 64-bit column (9.2e18) with room to add up
# millions of them. Checked before multiplying, so 1e999999 fails here and not in the context.
MAX_AMOUNT = 10**12
# The default context rounds products to 28 digits (silently) and underflows tiny ones to 0;
# this one raises instead.
_EXACT = Context(prec=40, traps=[Inexact, InvalidOperation])


def to_micros(amount: Decimal | int | str) -> int:
    """Exact conversion; more than six decimal places is an error, not a silent rounding."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"not a number: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError("amount must be finite")
    if value.copy_abs() > MAX_AMOUNT:  # copy_abs: no context, so no Overflow for 1e999999999
        raise ValueError(f"amount must be within ±{MAX_AMOUNT:,}")
    try:
        micros = _EXACT.multiply(value, MICROS)
    except Inexact:  # digits past what 40 places hold, or an underflow to 0: not micros either
        raise ValueError("amount has more than 6 decimal places") from None
    if micros != micros.to_integral_value():
        raise ValueError("amount has more than 6 decimal places")
    return int(micros)


def from_micros(micros: int) -> Decimal:
    """The amount, without trailing zeros and never in exponent form: 100, not 1E+2 (it is
    rendered with str() into URLs, CSV files and JSON strings)."""
    if not micros:
        return Decimal(0)
    value = (Decimal(micros) / MICROS).quantize(_QUANTUM).normalize()
    return value.quantize(_ONE) if value == value.to_integral_value() else value


def plain(value: Decimal) -> str:
    """`value` in plain digits, without trailing zeros or an exponent: 100 (not 1E+2), 1240.5,
    0.000001 (not 1E-6); zero is "0", never "0.00" or "-0"."""
    return format(value.normalize(), "f") if value else "0"


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
