"""Predicted rates: hand-computed Beta-Binomial shrinkage along placement -> product -> line item,
and incremental counting that equals counting everything at once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctera.domain.prediction import Predictor, ShrunkRate

SLOT = "search-top"


def test_without_history_every_level_falls_back_to_the_prior() -> None:
    predictor = Predictor(click_prior=0.01, conversion_prior=0.05, strength=100)
    assert predictor.p_click(placement=SLOT, product_id=1, line_item_id=7) == 0.01
    assert predictor.p_conversion(placement=SLOT, product_id=1, line_item_id=7) == 0.05
    assert predictor.avg_conversion(7) == 0.05


def test_each_level_is_shrunk_toward_the_level_above() -> None:
    predictor = Predictor(click_prior=0.01, strength=100)
    # placement: 400 clicks out of 10,000 impressions over two products and two line items
    predictor.add_impressions(placement=SLOT, product_id=2, line_item_id=8, count=9_800)
    predictor.add_clicks(placement=SLOT, product_id=2, line_item_id=8, count=390)
    # product 1 on it: 10 clicks of 200 impressions, all from line item 7
    predictor.add_impressions(placement=SLOT, product_id=1, line_item_id=7, count=200)
    predictor.add_clicks(placement=SLOT, product_id=1, line_item_id=7, count=10)

    overall = (400 + 100 * 0.01) / (10_000 + 100)  # all traffic: 401 / 10,100 = 0.0397...
    placement = (400 + 100 * overall) / (10_000 + 100)  # its only placement: about the same
    product = (10 + 100 * placement) / (200 + 100)
    item = (10 + 100 * product) / (200 + 100)
    assert predictor.p_click(placement=SLOT, product_id=1, line_item_id=7) == pytest.approx(item)
    # another line item on product 1 has no history of its own: it gets the product's rate
    assert predictor.p_click(placement=SLOT, product_id=1, line_item_id=9) == pytest.approx(product)
    # a product never shown there gets the placement's; an unknown placement the platform's
    assert predictor.p_click(placement=SLOT, product_id=3, line_item_id=7) == pytest.approx(placement)
    assert predictor.p_click(placement="sidebar", product_id=1, line_item_id=7) == pytest.approx(overall)
    # a strong placement pulls a thin product's rate far from its raw 10 / 200 = 0.05 ...
    assert 0.04 < item < 0.05
    # ... and lots of its own data pulls it back
    predictor.add_impressions(placement=SLOT, product_id=1, line_item_id=7, count=100_000)
    predictor.add_clicks(placement=SLOT, product_id=1, line_item_id=7, count=8_000)
    assert predictor.p_click(placement=SLOT, product_id=1, line_item_id=7) == pytest.approx(0.08, abs=0.001)


def test_conversions_are_counted_per_click_and_the_line_item_average_spans_its_products() -> None:
    predictor = Predictor(conversion_prior=0.05, strength=10)
    predictor.add_clicks(placement=SLOT, product_id=1, line_item_id=7, count=30)
    predictor.add_conversions(placement=SLOT, product_id=1, line_item_id=7, count=6)
    predictor.add_clicks(placement="sidebar", product_id=2, line_item_id=7, count=10)
    # all traffic: 6 conversions of 40 clicks, shrunk toward 0.05 with 10 pseudo-clicks; line
    # item 7 (all of that traffic) shrunk toward it
    overall = (6 + 10 * 0.05) / (40 + 10)
    assert predictor.avg_conversion(7) == pytest.approx((6 + 10 * overall) / (40 + 10))
    placement = (6 + 10 * overall) / (30 + 10)
    product = (6 + 10 * placement) / (30 + 10)
    assert predictor.p_conversion(placement=SLOT, product_id=1, line_item_id=7) == pytest.approx(
        (6 + 10 * product) / (30 + 10)
    )


def test_a_new_line_item_on_an_average_placement_is_predicted_its_own_average() -> None:
    """A platform converting 1.5% (far from the 5% default): a line item with no history has
    the same predicted and average conversion rate, so `conversion` and `revenue` bids start at
    their target instead of 1.5 / 5 of it."""
    predictor = Predictor(conversion_prior=0.05, strength=100)
    predictor.add_clicks(placement=SLOT, product_id=1, line_item_id=7, count=10_000)
    predictor.add_conversions(placement=SLOT, product_id=1, line_item_id=7, count=150)
    new = predictor.p_conversion(placement=SLOT, product_id=2, line_item_id=9)
    assert new == pytest.approx(0.015, rel=0.01)
    assert new / predictor.avg_conversion(9) == pytest.approx(1.0, rel=0.03)  # was 0.3


def test_a_rate_never_exceeds_one_even_when_clicks_arrive_before_impressions() -> None:
    predictor = Predictor(strength=1)
    predictor.add_clicks(placement=SLOT, product_id=1, line_item_id=7, count=5)
    assert predictor.p_click(placement=SLOT, product_id=1, line_item_id=7) == 1.0


def test_bad_parameters_and_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="prior"):
        ShrunkRate(1.5, 10)
    with pytest.raises(ValueError, match="strength"):
        ShrunkRate(0.1, 0)
    with pytest.raises(ValueError, match="counts"):
        ShrunkRate(0.1, 10).add(placement=SLOT, product_id=1, line_item_id=1, trials=-1)


events = st.lists(
    st.tuples(
        st.sampled_from(["impressions", "clicks", "conversions"]),
        st.sampled_from([SLOT, "sidebar", 42]),
        st.integers(1, 3),
        st.integers(1, 3),
        st.integers(1, 50),
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(events)
def test_counting_event_by_event_equals_counting_the_totals_at_once(
    batch: list[tuple[str, str | int, int, int, int]],
) -> None:
    one_by_one, totals = Predictor(), Predictor()
    summed: dict[tuple[str, str | int, int, int], int] = {}
    for kind, placement, product, line_item, count in batch:
        for _ in range(count):
            getattr(one_by_one, f"add_{kind}")(
                placement=placement, product_id=product, line_item_id=line_item
            )
        key = (kind, placement, product, line_item)
        summed[key] = summed.get(key, 0) + count
    for (kind, placement, product, line_item), count in summed.items():
        getattr(totals, f"add_{kind}")(
            placement=placement, product_id=product, line_item_id=line_item, count=count
        )
    for placement in (SLOT, "sidebar", 42):
        for product in (1, 2, 3):
            for line_item in (1, 2, 3):
                where = {"placement": placement, "product_id": product, "line_item_id": line_item}
                p_click = one_by_one.p_click(**where)
                assert p_click == totals.p_click(**where)
                assert 0.0 <= p_click <= 1.0
                assert one_by_one.p_conversion(**where) == totals.p_conversion(**where)
    for line_item in (1, 2, 3):
        assert one_by_one.avg_conversion(line_item) == totals.avg_conversion(line_item)
