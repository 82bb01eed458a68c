"""The commission engine on hand-computed cases: every figure below was worked out on paper."""

from __future__ import annotations

from auctera.domain.programs import (
    CategoryRate,
    Commission,
    CommissionType,
    Rate,
    Threshold,
    commission,
)

STANDARD, GOLD = 10, 20
SEK = 1_000_000  # one currency unit in micros


def pct(value: str) -> Rate:
    """A percentage: "4.5" is 4_500_000 micros of a percent."""
    whole, _, frac = value.partition(".")
    return Rate(True, int(whole) * 1_000_000 + int((frac or "0").ljust(6, "0")))


def fixed(units: float) -> Rate:
    return Rate(False, round(units * SEK))


def terms(
    id: int,
    segment: int,
    event: str,
    rate: Rate,
    categories: tuple[CategoryRate, ...] = (),
    thresholds: tuple[Threshold, ...] = (),
) -> CommissionType:
    return CommissionType(id, 1, segment, f"t{id}", event, rate, categories, thresholds)


def price(
    types: list[CommissionType],
    order: int,
    *,
    event: str = "purchase",
    segment: int | None = None,
    category: str | None = None,
    flat: int | None = None,
) -> Commission:
    return commission(types, segment, STANDARD, event, order, category, flat)


def test_a_fixed_amount_pays_the_same_whatever_the_order() -> None:
    sale = [terms(1, STANDARD, "purchase", fixed(100))]
    assert price(sale, 0) == Commission(100 * SEK, 1, "base")
    assert price(sale, 12_345 * SEK) == Commission(100 * SEK, 1, "base")


def test_a_percentage_of_the_order_value_rounds_half_even_to_the_micro() -> None:
    sale = [terms(1, STANDARD, "purchase", pct("4.5"))]
    assert price(sale, 149_990_000).payout_micros == 6_749_550  # 4.5% of 149.99 = 6.74955
    one = [terms(1, STANDARD, "purchase", pct("1"))]
    assert price(one, 50).payout_micros == 0  # 0.5 micro: to the even 0
    assert price(one, 150).payout_micros == 2  # 1.5 -> 2
    assert price(one, 250).payout_micros == 2  # 2.5 -> 2
    assert price(one, 251).payout_micros == 3  # 2.51 -> 3


def test_a_category_rate_applies_to_its_category_matched_case_insensitively() -> None:
    # Seed 003's example: 100 SEK a sale, 4.5% on books.
    sale = [terms(1, STANDARD, "purchase", fixed(100), (CategoryRate("Books", pct("4.5")),))]
    assert price(sale, 200 * SEK, category="books") == Commission(9 * SEK, 1, "category:Books")
    assert price(sale, 200 * SEK, category=" BOOKS ").payout_micros == 9 * SEK
    assert price(sale, 200 * SEK, category="Games") == Commission(100 * SEK, 1, "base")
    assert price(sale, 200 * SEK) == Commission(100 * SEK, 1, "base")


def test_the_highest_threshold_the_order_reaches_applies() -> None:
    tiers = (Threshold(1000 * SEK, pct("7.5")), Threshold(2000 * SEK, pct("10")))
    sale = [terms(1, STANDARD, "purchase", pct("5"), thresholds=tiers)]
    assert price(sale, 999_990_000) == Commission(49_999_500, 1, "base")  # below all: 5% of 999.99
    assert price(sale, 1000 * SEK) == Commission(75 * SEK, 1, f"threshold:{1000 * SEK}")  # exactly at it
    assert price(sale, 1500 * SEK).payout_micros == 112_500_000  # 7.5% of 1500
    assert price(sale, 2000 * SEK) == Commission(200 * SEK, 1, f"threshold:{2000 * SEK}")
    assert price(sale, 5000 * SEK).payout_micros == 500 * SEK  # the highest reached, not the first


def test_a_category_rate_comes_before_the_thresholds() -> None:
    sale = [
        terms(
            1,
            STANDARD,
            "purchase",
            pct("5"),
            (CategoryRate("Books", pct("2")),),
            (Threshold(1000 * SEK, fixed(150)),),
        )
    ]
    assert price(sale, 2000 * SEK, category="Books").payout_micros == 40 * SEK
    assert price(sale, 2000 * SEK, category="Toys") == Commission(150 * SEK, 1, f"threshold:{1000 * SEK}")


def test_a_segment_pays_its_own_terms_and_falls_back_to_the_standard_ones() -> None:
    types = [
        terms(1, STANDARD, "purchase", pct("5")),
        terms(2, STANDARD, "lead", fixed(2)),
        terms(3, GOLD, "purchase", pct("8")),
    ]
    assert price(types, 100 * SEK, segment=GOLD) == Commission(8 * SEK, 3, "base")
    assert price(types, 100 * SEK, segment=STANDARD) == Commission(5 * SEK, 1, "base")
    assert price(types, 100 * SEK) == Commission(5 * SEK, 1, "base")  # no segment: the standard one
    assert price(types, 0, event="lead", segment=GOLD) == Commission(2 * SEK, 2, "base")  # Gold lists no lead
    # A segment deleted since (an application still naming it, cached): the standard terms.
    assert price(types, 100 * SEK, segment=99) == Commission(5 * SEK, 1, "base")


def test_without_commission_types_the_campaigns_flat_payout_applies() -> None:
    assert price([], 100 * SEK, flat=45 * SEK) == Commission(45 * SEK, None, "flat")
    assert price([], 100 * SEK, event="lead", flat=45 * SEK).payout_micros == 45 * SEK
    assert price([], 100 * SEK, flat=None) == Commission(0, None, "none")  # affiliate_cpc: per click


def test_commission_types_but_none_for_the_event_pay_nothing() -> None:
    types = [terms(1, STANDARD, "purchase", pct("5"))]
    assert price(types, 100 * SEK, event="sign_up", flat=45 * SEK) == Commission(0, None, "none")
    # Terms only in Gold: a standard channel is not paid the flat payout, the program has terms.
    gold_only = [terms(3, GOLD, "purchase", pct("8"))]
    assert price(gold_only, 100 * SEK, flat=45 * SEK) == Commission(0, None, "none")
    assert price(gold_only, 100 * SEK, segment=GOLD, flat=45 * SEK).payout_micros == 8 * SEK


def test_a_negative_order_value_pays_nothing() -> None:
    assert price([terms(1, STANDARD, "purchase", fixed(100))], -1) == Commission(0, None, "none")
    assert price([terms(1, STANDARD, "purchase", pct("5"))], -100 * SEK).payout_micros == 0
    assert price([], -1, flat=45 * SEK).payout_micros == 0
