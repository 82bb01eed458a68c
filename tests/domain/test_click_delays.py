"""The click-flooding test on a publisher's late conversions (domain/click_delays.py)."""

from __future__ import annotations

import pytest

from auctera.domain.click_delays import FloodingRule

RULE = FloodingRule()


def test_a_flat_spread_against_a_normal_reference_is_suspected() -> None:
    found = RULE.test(late=40, conversions=100, others_late=50, others=1000)
    assert found.suspected is True
    assert (found.late_share, found.reference_late_share) == (0.4, 0.05)
    assert found.p_value is not None and found.p_value < 1e-15


def test_a_big_publisher_a_hair_above_the_others_is_not() -> None:
    """Significant, but 6% late against 5% is how the audience converts, not a flood."""
    found = RULE.test(late=6_000, conversions=100_000, others_late=5_000, others=100_000)
    assert found.p_value is not None and found.p_value < RULE.alpha
    assert found.suspected is False


def test_a_few_late_sales_where_others_have_none_are_not() -> None:
    """Where no other publisher saw a late sale, any late one is "improbable": 2 in 200 is no flood."""
    assert RULE.test(late=2, conversions=200, others_late=0, others=500).suspected is False
    assert RULE.test(late=60, conversions=200, others_late=0, others=500).suspected is True


@pytest.mark.parametrize(("conversions", "others"), [(19, 1000), (1000, 19), (0, 0)])
def test_too_few_conversions_on_either_side_tell_nothing(conversions: int, others: int) -> None:
    found = RULE.test(late=conversions, conversions=conversions, others_late=0, others=others)
    assert (found.suspected, found.p_value) == (None, None)


def test_no_late_sale_is_never_suspected() -> None:
    found = RULE.test(late=0, conversions=500, others_late=100, others=500)
    assert (found.suspected, found.p_value) == (False, 1.0)
