"""The auction core: prices on hand-computed cases, every loss reason, pacing, and properties over
random auctions, including agreement with a plain reference implementation written below.

Click rates in the hand-computed cases are powers of two (1/16, 1/32, 1/64), so the arithmetic
written in the comments is exactly what the floats compute.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctera.domain.auction import (
    AuctionResult,
    BidStrategy,
    Candidate,
    CandidateSet,
    Explanation,
    LossReason,
    Outcome,
    Placement,
    Pricing,
    pacing_participation,
    pacing_phase,
    run_auction,
)

CENT = 10_000  # micros


def cand(
    line_item_id: int,
    product_id: int,
    bid: int,
    p_click: float,
    *,
    strategy: BidStrategy = BidStrategy.CLICKS,
    max_bid: int | None = None,
    min_bid: int = 0,
    remaining: int | None = None,
    p_conversion: float = 0.05,
    avg_conversion: float = 0.05,
    order_value: int = 50_000_000,
    avg_order_value: int = 50_000_000,
    participation: float = 1.0,
) -> Candidate:
    return Candidate(
        line_item_id=line_item_id,
        product_id=product_id,
        strategy=strategy,
        target_bid_micros=bid,
        max_bid_micros=max_bid,
        min_bid_micros=min_bid,
        remaining_micros=remaining,
        p_click=p_click,
        p_conversion=p_conversion,
        avg_conversion=avg_conversion,
        order_value_micros=order_value,
        avg_order_value_micros=avg_order_value,
        participation=participation,
    )


def auction(
    candidates: list[Candidate], placement: Placement | None = None, draw: float = 0.5
) -> AuctionResult:
    return run_auction(CandidateSet.from_candidates(candidates), placement or Placement(), draw)


def prices(result: AuctionResult) -> list[tuple[int, int, int]]:
    """(slot, line item, price) per winner."""
    return [(w.slot, w.line_item_id, w.price_micros) for w in result.winners]


def reasons(result: AuctionResult) -> dict[int, LossReason | None]:
    return {e.line_item_id: e.reason for e in result.explain()}


# --- prices, by hand -------------------------------------------------------------------------


def test_second_price_pays_the_runner_up_value_over_its_own_click_rate_plus_a_cent() -> None:
    a = cand(1, 10, 1_000_000, 1 / 32)  # score 1,000,000 / 32 = 31,250
    b = cand(2, 20, 1_500_000, 1 / 64)  # score 1,500,000 / 64 = 23,437.5
    # A pays floor(23,437.5 / (1/32)) + 10,000 = 750,000 + 10,000 = 760,000 (less than its 1,000,000)
    assert prices(auction([a, b])) == [(1, 1, 760_000)]
    # First price: A pays its own bid.
    assert prices(auction([a, b], Placement(pricing=Pricing.FIRST_PRICE))) == [(1, 1, 1_000_000)]


def test_the_reserve_is_a_floor_and_the_own_bid_a_ceiling() -> None:
    a = cand(1, 10, 1_000_000, 1 / 32)  # 31,250
    b = cand(2, 20, 1_500_000, 1 / 64)  # 23,437.5 -> 760,000 as above
    # max(reserve 900,000, 760,000) = 900,000
    assert prices(auction([a, b], Placement(reserve_micros=900_000))) == [(1, 1, 900_000)]
    close = cand(2, 20, 1_990_000, 1 / 64)  # 31,093.75, just below A
    # 31,093.75 * 32 + 10,000 = 995,000 + 10,000 = 1,005,000 > A's bid: A pays its bid, 1,000,000
    assert prices(auction([a, close])) == [(1, 1, 1_000_000)]


def test_a_lone_bidder_pays_a_cent_or_the_reserve() -> None:
    a = cand(1, 10, 1_000_000, 1 / 32)
    # nobody left: 0 / (1/32) + 10,000 = 10,000
    assert prices(auction([a])) == [(1, 1, CENT)]
    assert prices(auction([a], Placement(reserve_micros=250_000))) == [(1, 1, 250_000)]


def test_the_product_min_bid_is_a_floor_price_too() -> None:
    a = replace(cand(1, 10, 1_000_000, 1 / 32), min_bid_micros=400_000)
    # alone: a cent, raised to the product's minBid 400,000 (the reserve, 250,000, is lower)
    assert prices(auction([a], Placement(reserve_micros=250_000))) == [(1, 1, 400_000)]


def test_each_slot_pays_against_the_next_ranked_candidate() -> None:
    a = cand(1, 10, 1_000_000, 1 / 16)  # 62,500
    b = cand(2, 20, 2_000_000, 1 / 64)  # 31,250
    c = cand(3, 30, 800_000, 1 / 32)  # 25,000
    d = cand(4, 40, 640_000, 1 / 32)  # 20,000
    result = auction([d, c, b, a], Placement(slots=2))
    # slot 1, A: 31,250 * 16 + 10,000 = 510,000
    # slot 2, B: 25,000 * 64 + 10,000 = 1,610,000 (<= its 2,000,000)
    assert prices(result) == [(1, 1, 510_000), (2, 2, 1_610_000)]
    # Per click B pays more than A (its click rate is a quarter of A's); per impression it pays
    # less: 510,000 / 16 = 31,875 >= 1,610,000 / 64 = 25,156.25. That is the order prices keep.
    assert reasons(result) == {1: None, 2: None, 3: LossReason.OUTRANKED, 4: LossReason.OUTRANKED}
    assert [(w.slot, w.index, w.bid_micros, w.score) for w in result.winners] == [
        (1, 3, 1_000_000, 62_500.0),
        (2, 2, 2_000_000, 31_250.0),
    ]


def test_fewer_candidates_than_slots_fill_what_they_can() -> None:
    a = cand(1, 10, 1_000_000, 1 / 16)  # 62,500
    b = cand(2, 20, 2_000_000, 1 / 64)  # 31,250
    # A: 31,250 * 16 + 10,000 = 510,000; B, nobody after it: 10,000
    assert prices(auction([a, b], Placement(slots=3))) == [(1, 1, 510_000), (2, 2, CENT)]
    assert auction([], Placement(slots=3)).winners == ()


# --- bid strategies ----------------------------------------------------------------------------


def bid_of(candidate: Candidate) -> int:
    [record] = auction([candidate]).explain()
    return record.bid_micros


def test_clicks_bid_the_target_flat() -> None:
    assert bid_of(cand(1, 10, 700_000, 1 / 32, max_bid=100_000, p_conversion=0.5)) == 700_000


def test_conversion_scales_the_target_by_predicted_over_average_conversion_capped_by_max_bid() -> None:
    conversion = {"strategy": BidStrategy.CONVERSION, "p_conversion": 3 / 32, "avg_conversion": 1 / 16}
    # 1,000,000 * (3/32) / (1/16) = 1,000,000 * 1.5 = 1,500,000
    assert bid_of(cand(1, 10, 1_000_000, 1 / 32, **conversion)) == 1_500_000
    assert bid_of(cand(1, 10, 1_000_000, 1 / 32, max_bid=1_200_000, **conversion)) == 1_200_000
    # Rounded down to whole micros: 333,333 * 1.5 = 499,999.5 -> 499,999
    assert bid_of(cand(1, 10, 333_333, 1 / 32, **conversion)) == 499_999
    # No history on the line item (average 0): bid the target.
    assert (
        bid_of(cand(1, 10, 1_000_000, 1 / 32, strategy=BidStrategy.CONVERSION, avg_conversion=0.0))
        == 1_000_000
    )


def test_revenue_also_scales_by_predicted_over_average_order_value() -> None:
    revenue = {
        "strategy": BidStrategy.REVENUE,
        "p_conversion": 3 / 32,
        "avg_conversion": 1 / 16,  # 1.5
        "order_value": 60_000_000,
        "avg_order_value": 40_000_000,  # 1.5
    }
    # 1,000,000 * (1.5 * 1.5) = 2,250,000
    assert bid_of(cand(1, 10, 1_000_000, 1 / 32, **revenue)) == 2_250_000
    assert bid_of(cand(1, 10, 1_000_000, 1 / 32, max_bid=2_000_000, **revenue)) == 2_000_000


# --- why candidates lose -----------------------------------------------------------------------


def test_every_loss_reason_in_one_auction() -> None:
    result = auction(
        [
            cand(1, 10, 1_000_000, 1 / 16),  # 62,500: wins
            # conversion bid 1,000,000 * (1/32) / (1/16) = 500,000 < minBid 600,000
            cand(
                2,
                20,
                1_000_000,
                1 / 16,
                strategy=BidStrategy.CONVERSION,
                p_conversion=1 / 32,
                avg_conversion=1 / 16,
                min_bid=600_000,
            ),
            cand(3, 30, 100_000, 1 / 16),  # under the reserve of 200,000
            cand(4, 40, 900_000, 1 / 16, remaining=899_999),  # one micro short of its bid
            cand(5, 50, 900_000, 0.0),  # no chance of a click
            cand(6, 60, 900_000, 1 / 16, participation=0.0),  # paced out
            cand(7, 10, 900_000, 1 / 16),  # 56,250: same product as the winner
            cand(8, 80, 800_000, 1 / 16),  # 50,000: eligible, outranked
        ],
        Placement(reserve_micros=200_000),
    )
    assert reasons(result) == {
        1: None,
        2: LossReason.BELOW_MIN_BID,
        3: LossReason.BELOW_RESERVE,
        4: LossReason.BUDGET_EXHAUSTED,
        5: LossReason.ZERO_SCORE,
        6: LossReason.PACED,
        7: LossReason.DUPLICATE_PRODUCT,
        8: LossReason.OUTRANKED,
    }
    # The runner-up is line item 7, which would have shown product 10 without the winner:
    # 56,250 * 16 + 10,000.
    assert prices(result) == [(1, 1, 910_000)]
    won, *lost = result.explain()
    assert won == Explanation(1, 10, 1_000_000, 62_500.0, Outcome.WON, None, 1, 910_000)
    assert lost[0] == Explanation(
        2, 20, 500_000, 31_250.0, Outcome.LOST, LossReason.BELOW_MIN_BID, None, None
    )
    assert list(result.reason_codes()) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_a_remaining_cap_equal_to_the_bid_can_still_win() -> None:
    assert reasons(auction([cand(1, 10, 900_000, 1 / 16, remaining=900_000)])) == {1: None}


def test_the_same_product_from_two_line_items_is_shown_once_and_the_next_product_takes_slot_two() -> None:
    result = auction(
        [
            cand(1, 10, 1_000_000, 1 / 16),  # 62,500
            cand(2, 10, 960_000, 1 / 16),  # 60,000: product 10 again
            cand(3, 30, 800_000, 1 / 16),  # 50,000
        ],
        Placement(slots=2),
    )
    # Slot 1 pays against line item 2, which would have shown product 10 without line item 1:
    # 60,000 * 16 + 10,000 = 970,000. Slot 2: product 10 is shown above, nobody else: 10,000.
    assert prices(result) == [(1, 1, 970_000), (2, 3, CENT)]
    assert reasons(result)[2] == LossReason.DUPLICATE_PRODUCT


def test_a_winner_pays_against_a_rival_on_its_product_but_never_against_itself() -> None:
    one_slot = Placement(slots=1)
    alone = auction([cand(1, 10, 700_000, 1 / 16), cand(2, 10, 600_000, 1 / 16)], one_slot)
    assert prices(alone) == [(1, 1, 610_000)]  # not one cent: line item 2 bids on product 10 too
    # Line item 1's own second product ranks next: it sets no price; line item 3's 470,000 does.
    own = auction(
        [cand(1, 10, 700_000, 1 / 16), cand(1, 20, 600_000, 1 / 16), cand(3, 10, 470_000, 1 / 16)], one_slot
    )
    assert prices(own) == [(1, 1, 480_000)]


def test_ties_go_to_the_lower_line_item_id_then_the_lower_product_id_whatever_the_order() -> None:
    tied = [cand(7, 70, 1_000_000, 1 / 16), cand(3, 90, 1_000_000, 1 / 16), cand(3, 80, 500_000, 1 / 8)]
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        result = auction([tied[i] for i in order], Placement(slots=3))
        # all score 62,500: each pays 62,500 / its click rate + a cent, capped by its bid
        assert [(w.line_item_id, w.product_id, w.price_micros) for w in result.winners] == [
            (3, 80, 500_000),  # 62,500 * 8 + 10,000 = 510,000 > bid 500,000
            (3, 90, 1_000_000),
            (7, 70, CENT),
        ]


# --- pacing ------------------------------------------------------------------------------------


def test_participation_follows_the_share_of_budget_left_over_the_share_of_day_left() -> None:
    assert pacing_participation(0, None, 0.9) == 1.0  # no daily cap: nothing to spread
    assert pacing_participation(4_000_000, 10_000_000, 0.5) == 1.0  # behind schedule
    assert pacing_participation(5_000_000, 10_000_000, 0.5) == 1.0  # on schedule
    # ahead: 25% of the cap left, 50% of the day: bid in half the auctions
    assert pacing_participation(7_500_000, 10_000_000, 0.5) == 0.5
    assert pacing_participation(10_000_000, 10_000_000, 0.5) == 0.0  # spent
    assert pacing_participation(0, 0, 0.1) == 0.0  # a zero cap
    assert pacing_participation(9_000_000, 10_000_000, 1.0) == 1.0  # last moment, money left
    with pytest.raises(ValueError, match="day_fraction"):
        pacing_participation(0, 10, 1.5)


def test_one_draw_throttles_each_line_item_with_its_participation_and_a_line_item_as_a_whole() -> None:
    line_items = range(1, 2_001)
    candidates = [cand(i, p, 1_000_000, 1 / 16, participation=0.3) for i in line_items for p in (1, 2)]
    cs = CandidateSet.from_candidates(candidates)
    rng = random.Random(7)
    for _ in range(5):
        records = run_auction(cs, Placement(), rng.random()).explain()
        taking_part = {r.line_item_id for r in records if r.reason is not LossReason.PACED}
        assert 0.25 < len(taking_part) / len(line_items) < 0.35
        # both products of a line item are in or out together
        assert len({r.line_item_id for r in records if r.reason is LossReason.PACED}) * 2 == sum(
            r.reason is LossReason.PACED for r in records
        )
    # over many draws one line item takes part in about 30% of the auctions
    one = CandidateSet.from_candidates([cand(42, 1, 1_000_000, 1 / 16, participation=0.3)])
    won = sum(bool(run_auction(one, Placement(), rng.random()).winners) for _ in range(4_000))
    assert 0.27 < won / 4_000 < 0.33


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"p_click": 1.5}, "p_click"),
        ({"p_click": math.nan}, "p_click"),
        ({"participation": -0.1}, "participation"),
        ({"target_bid_micros": -1}, "target_bid_micros"),
        ({"max_bid_micros": -1}, "max_bid_micros"),
        ({"min_bid_micros": -5}, "min_bid_micros"),
    ],
)
def test_out_of_range_candidates_are_refused_naming_the_field(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CandidateSet.from_candidates([replace(cand(1, 10, 1_000_000, 1 / 16), **change)])


def test_a_pair_twice_a_bad_placement_or_a_bad_draw_are_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        CandidateSet.from_candidates([cand(1, 10, 1, 1 / 16), cand(1, 10, 2, 1 / 16)])
    with pytest.raises(ValueError, match="slots"):
        Placement(slots=0)
    with pytest.raises(ValueError, match="reserve"):
        Placement(reserve_micros=-1)
    with pytest.raises(ValueError, match="draw"):
        auction([cand(1, 10, 1, 1 / 16)], draw=1.0)


# --- the reference implementation: one candidate at a time, in plain Python -------------------


def reference_bid(c: Candidate) -> int:
    if c.strategy is BidStrategy.CLICKS:
        return c.target_bid_micros
    ceiling = float(2**53)
    conversion = min(c.p_conversion / c.avg_conversion, ceiling) if c.avg_conversion > 0 else 1.0
    factor = conversion
    if c.strategy is BidStrategy.REVENUE:
        value = c.order_value_micros / c.avg_order_value_micros if c.avg_order_value_micros > 0 else 1.0
        factor = conversion * value
    bid = math.floor(min(c.target_bid_micros * factor, ceiling))
    return bid if c.max_bid_micros is None else min(bid, c.max_bid_micros)


def reference_auction(candidates: list[Candidate], placement: Placement, draw: float) -> list[Explanation]:
    bids = [reference_bid(c) for c in candidates]
    scores = [bid * c.p_click for bid, c in zip(bids, candidates, strict=True)]

    def ineligible(i: int) -> LossReason | None:
        c, bid = candidates[i], bids[i]
        if bid < c.min_bid_micros:
            return LossReason.BELOW_MIN_BID
        if bid < placement.reserve_micros:
            return LossReason.BELOW_RESERVE
        if c.remaining_micros is not None and c.remaining_micros < bid:
            return LossReason.BUDGET_EXHAUSTED
        if not scores[i] > 0:
            return LossReason.ZERO_SCORE
        u = draw + pacing_phase(c.line_item_id)
        if u >= 1.0:
            u -= 1.0
        if not u < c.participation:
            return LossReason.PACED
        return None

    reason = {i: ineligible(i) for i in range(len(candidates))}
    ranked = sorted(
        (i for i in reason if reason[i] is None),
        key=lambda i: (-scores[i], candidates[i].line_item_id, candidates[i].product_id),
    )
    contenders: list[int] = []
    for i in ranked:
        if any(candidates[j].product_id == candidates[i].product_id for j in contenders):
            reason[i] = LossReason.DUPLICATE_PRODUCT
        else:
            contenders.append(i)
    won: dict[int, tuple[int, int]] = {}
    for k, i in enumerate(contenders):
        if k >= placement.slots:
            reason[i] = LossReason.OUTRANKED
        elif placement.pricing is Pricing.FIRST_PRICE:
            won[i] = (k + 1, bids[i])
        else:
            # Against whoever would have had the slot without it: the next ranked candidate of
            # another line item, whose product is not shown above (it may be this slot's product).
            above = {candidates[j].product_id for j in contenders[:k]}
            rivals = [
                j
                for j in ranked[ranked.index(i) + 1 :]
                if candidates[j].line_item_id != candidates[i].line_item_id
                and candidates[j].product_id not in above
            ]
            next_score = scores[rivals[0]] if rivals else 0.0
            price = math.floor(next_score / candidates[i].p_click) + CENT
            floor = max(placement.reserve_micros, candidates[i].min_bid_micros)
            won[i] = (k + 1, min(bids[i], max(floor, price)))
    return [
        Explanation(
            line_item_id=c.line_item_id,
            product_id=c.product_id,
            bid_micros=bids[i],
            score=scores[i],
            outcome=Outcome.WON if i in won else Outcome.LOST,
            reason=reason[i],
            slot=won[i][0] if i in won else None,
            price_micros=won[i][1] if i in won else None,
        )
        for i, c in enumerate(candidates)
    ]


# --- properties over random auctions -----------------------------------------------------------

# Few distinct ids and values, so that ties, shared products and shared line items are common;
# most candidates eligible, so that slots fill and duplicates and runners-up meet.
micros = st.sampled_from([0, 1, 99_999, 100_000, 250_000, 500_000, 1_000_000, 1_000_000, 2_500_000])
rates = st.sampled_from([0.0, 0.001, 0.01, 1 / 64, 1 / 32, 0.05, 0.1, 1 / 3, 0.5, 1.0])
click_rates = st.sampled_from([0.001, 0.01, 1 / 64, 1 / 32, 0.05, 0.1, 1 / 3]) | rates
order_values = st.sampled_from([20_000_000, 40_000_000, 60_000_000]) | st.integers(0, 10**9)


@st.composite
def candidate(draw: st.DrawFn) -> Candidate:
    return Candidate(
        line_item_id=draw(st.integers(1, 8)),
        product_id=draw(st.integers(1, 6)),
        strategy=draw(st.sampled_from(BidStrategy)),
        target_bid_micros=draw(micros),
        max_bid_micros=draw(st.none() | micros),
        min_bid_micros=draw(st.sampled_from([0, 0, 0, 10_000, 100_000, 500_000])),
        remaining_micros=draw(st.none() | st.none() | st.integers(-10, 5_000_000)),
        p_click=draw(click_rates),
        p_conversion=draw(click_rates),
        avg_conversion=draw(click_rates),
        order_value_micros=draw(order_values),
        avg_order_value_micros=draw(order_values),
        participation=draw(st.sampled_from([0.0, 0.2, 0.7, 1.0, 1.0, 1.0]) | st.floats(0, 1)),
    )


candidate_lists = st.lists(candidate(), max_size=40, unique_by=lambda c: (c.line_item_id, c.product_id))
placements = st.builds(
    Placement,
    slots=st.integers(1, 4),
    reserve_micros=st.sampled_from([0, 0, 10_000, 100_000, 600_000]),
    pricing=st.sampled_from(Pricing),
)
draws = st.floats(0, 1, exclude_max=True)


@settings(max_examples=400, deadline=None)
@given(candidate_lists, placements, draws)
def test_the_vectorised_auction_agrees_with_the_reference(
    candidates: list[Candidate], placement: Placement, draw: float
) -> None:
    result = auction(candidates, placement, draw)
    expected = reference_auction(candidates, placement, draw)
    assert result.explain() == expected
    assert [(w.slot, candidates[w.index].line_item_id, w.price_micros) for w in result.winners] == sorted(
        (e.slot, e.line_item_id, e.price_micros) for e in expected if e.slot is not None
    )


@settings(max_examples=300, deadline=None)
@given(candidate_lists, placements, draws)
def test_what_winners_pay(candidates: list[Candidate], placement: Placement, draw: float) -> None:
    result = auction(candidates, placement, draw)
    for w in result.winners:
        c = candidates[w.index]
        assert type(w.price_micros) is int and type(w.bid_micros) is int
        assert max(placement.reserve_micros, c.min_bid_micros) <= w.price_micros <= w.bid_micros
        assert c.remaining_micros is None or c.remaining_micros >= w.bid_micros  # it can cover its bid
        assert c.participation > 0
    assert [w.slot for w in result.winners] == list(range(1, len(result.winners) + 1))
    assert len({w.product_id for w in result.winners}) == len(result.winners)
    # Expected price per impression (price x click rate) never rises from one slot to the next
    # when another line item wins it (a line item's own slots do not price each other).
    for upper, lower in itertools.pairwise(result.winners):
        if upper.line_item_id != lower.line_item_id:
            per_impression = [w.price_micros * candidates[w.index].p_click for w in (upper, lower)]
            assert per_impression[0] >= per_impression[1]


@settings(max_examples=200, deadline=None)
@given(candidate_lists, placements, draws, click_rates)
def test_with_one_click_rate_prices_per_click_fall_with_the_slot(
    candidates: list[Candidate], placement: Placement, draw: float, p_click: float
) -> None:
    same_rate = [replace(c, p_click=p_click) for c in candidates]
    winners = auction(same_rate, placement, draw).winners
    for upper, lower in itertools.pairwise(winners):
        if upper.line_item_id != lower.line_item_id:  # a line item's slots do not price each other
            assert upper.price_micros >= lower.price_micros


@settings(max_examples=200, deadline=None)
@given(candidate_lists, placements, draws, st.randoms(use_true_random=False))
def test_the_outcome_does_not_depend_on_the_order_of_the_candidates(
    candidates: list[Candidate], placement: Placement, draw: float, rng: random.Random
) -> None:
    shuffled = candidates[:]
    rng.shuffle(shuffled)
    before = auction(candidates, placement, draw)
    after = auction(shuffled, placement, draw)
    key = lambda e: (e.line_item_id, e.product_id)  # noqa: E731
    assert sorted(before.explain(), key=key) == sorted(after.explain(), key=key)
    assert [(w.slot, w.line_item_id, w.product_id, w.price_micros) for w in before.winners] == [
        (w.slot, w.line_item_id, w.product_id, w.price_micros) for w in after.winners
    ]


def test_large_random_auctions_with_many_duplicates_agree_with_the_reference() -> None:
    # Hundreds of candidates over 12 products: the top of the ranking is mostly duplicates, so the
    # auction walks past many of them to fill its slots.
    rng = random.Random(2026)
    for _ in range(40):
        pairs = rng.sample([(li, p) for li in range(1, 61) for p in range(1, 13)], 400)
        candidates = [
            cand(
                li,
                p,
                rng.choice([100_000, 250_000, 500_000, 1_000_000]),
                rng.choice([0.01, 1 / 64, 0.02, 1 / 32]),
                strategy=rng.choice(list(BidStrategy)),
                p_conversion=rng.choice([0.02, 0.05, 0.08]),
                remaining=rng.choice([None, 300_000, 2_000_000]),
                participation=rng.choice([1.0, 1.0, 0.5]),
            )
            for li, p in pairs
        ]
        placement = Placement(slots=rng.randint(1, 6), reserve_micros=rng.choice([0, 200_000]))
        draw = rng.random()
        result = auction(candidates, placement, draw)
        assert result.explain() == reference_auction(candidates, placement, draw)
        assert len(result.winners) == placement.slots
