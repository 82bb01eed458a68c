from __future__ import annotations

from decimal import Decimal

import pytest

from auctera.domain import ids
from auctera.domain.money import display, from_micros, to_micros


def test_ids_are_unique_and_increasing_within_one_millisecond() -> None:
    gen = ids.IdGenerator(3, lambda: 1_800_000_000_000)
    made = [gen.next_id() for _ in range(40_000)]  # more than the 16k sequence of one ms
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert all(0 < i < 2**63 for i in made)


def test_ids_never_go_back_when_the_clock_does() -> None:
    now = [1_800_000_000_000]
    gen = ids.IdGenerator(0, lambda: now[0])
    first = gen.next_id()
    now[0] -= 5_000
    assert gen.next_id() > first


def test_different_nodes_never_collide() -> None:
    a = ids.IdGenerator(1, lambda: 1_800_000_000_000)
    b = ids.IdGenerator(2, lambda: 1_800_000_000_000)
    assert not {a.next_id() for _ in range(1000)} & {b.next_id() for _ in range(1000)}


@pytest.mark.parametrize("value", [0, 1, 35, 36, 2**62 + 12345, 2**63 - 1])
def test_render_parse_round_trip(value: int) -> None:
    assert ids.parse("cmp", ids.render("cmp", value)) == value


@pytest.mark.parametrize(
    "text", ["", "cmp_", "cmp", "adv_12", "cmp_ABC", "cmp_-1", "cmp_zzzzzzzzzzzzzz", "cmp_1_2"]
)
def test_parse_rejects_what_is_not_an_id(text: str) -> None:
    assert ids.parse("cmp", text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("9223372036854775807", 2**63 - 1), ("007", 7)],
)
def test_a_decimal_id_is_ascii_digits_within_int64(text: str, value: int) -> None:
    assert ids.from_decimal(text) == value


# "²" passes str.isdigit but not int(); Arabic-Indic digits pass both, and are not an id either.
@pytest.mark.parametrize(
    "text", ["", "-1", "+1", " 1", "1.0", "²", "\u0661\u0662", "9223372036854775808", "1" * 40]
)
def test_a_decimal_id_refuses_the_rest(text: str) -> None:
    assert ids.from_decimal(text) is None


def test_money_is_exact() -> None:
    assert to_micros("149.99") == 149_990_000
    assert to_micros(Decimal("0.000001")) == 1
    assert to_micros(10000) == 10_000_000_000
    assert from_micros(1_240_500_000) == Decimal("1240.5")
    # str() renders it into URLs and files: never 1E+2.
    assert [str(from_micros(m)) for m in (100_000_000, 10_000_000, 1_000, 0)] == ["100", "10", "0.001", "0"]
    assert to_micros("1e12") == 10**18 and to_micros("-1e12") == -(10**18)
    assert (
        to_micros("-0.000001") == -1 and to_micros("0e999999") == 0 and to_micros("1.5000000000") == 1_500_000
    )
    assert display(27_555_000) == Decimal("27.56")
    assert sum(to_micros("0.1") for _ in range(10)) == to_micros("1")


@pytest.mark.parametrize(
    "bad",
    [
        "0.0000001",
        "abc",
        "NaN",
        "Infinity",
        "1000000000000.000001",
        "1e13",
        "1e999999999",
        "1e-999999999",
        "1.00000000000000000000000000001",
    ],
)
def test_money_refuses_what_it_cannot_hold_exactly(bad: str) -> None:
    with pytest.raises(ValueError):
        to_micros(bad)
