"""Multi-touch attribution: every model on hand-computed paths, and the Markov chain against an
independent exact reference (the fundamental matrix of the absorbing chain, in Fractions)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest

from auctera.domain.attribution import (
    CONVERSION,
    DEFAULT_HALF_LIFE,
    NULL,
    START,
    AttributionModel,
    MarkovModel,
    Touchpoint,
    credits,
    round_credits,
    within_lookback,
)

CONVERTED_AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
F = Fraction


def touch(channel: str, interaction: str, days_before: float) -> Touchpoint:
    return Touchpoint(channel, interaction, CONVERTED_AT - timedelta(days=days_before))


def attribute(
    path: list[Touchpoint],
    model: AttributionModel,
    *,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    markov: MarkovModel | None = None,
) -> list[Fraction]:
    return credits(path, model, converted_at=CONVERTED_AT, half_life=half_life, markov=markov)


# -- rule-based models ----------------------------------------------------------------------------

PATH = [
    touch("DSP", "impression", 14),
    touch("Retargeting", "click", 7),
    touch("Affiliate", "click", 3),
    touch("SmartLink", "impression", 0),
]


def test_last_click_credits_the_last_click_not_a_later_impression() -> None:
    assert attribute(PATH, AttributionModel.LAST_CLICK) == [0, 0, 1, 0]


def test_first_click_credits_the_first_click_not_an_earlier_impression() -> None:
    assert attribute(PATH, AttributionModel.FIRST_CLICK) == [0, 1, 0, 0]


def test_without_clicks_first_and_last_touch_win() -> None:
    views = [touch("DSP", "impression", 2), touch("SmartLink", "impression", 1)]
    assert attribute(views, AttributionModel.LAST_CLICK) == [0, 1]
    assert attribute(views, AttributionModel.FIRST_CLICK) == [1, 0]


def test_linear() -> None:
    assert attribute(PATH, AttributionModel.LINEAR) == [F(1, 4)] * 4
    assert credits(PATH, "linear", converted_at=CONVERTED_AT) == [F(1, 4)] * 4  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, [F(1)]),
        (2, [F(1, 2), F(1, 2)]),  # no middle: the 20% is shared like the rest, 50/50
        (3, [F(2, 5), F(1, 5), F(2, 5)]),
        (5, [F(2, 5), F(1, 15), F(1, 15), F(1, 15), F(2, 5)]),  # 20% / 3 = 1/15 each
    ],
)
def test_position_based(count: int, expected: list[Fraction]) -> None:
    path = [touch(f"C{i}", "click", count - i) for i in range(count)]
    assert attribute(path, AttributionModel.POSITION_BASED) == expected


def test_time_decay_halves_per_half_life() -> None:
    # 14, 7 and 0 days before the conversion, half-life 7 days: weights 1/4, 1/2, 1, total 7/4,
    # so 1/7, 2/7, 4/7.
    path = [touch("DSP", "impression", 14), touch("Affiliate", "click", 7), touch("SmartLink", "click", 0)]
    assert attribute(path, AttributionModel.TIME_DECAY, half_life=timedelta(days=7)) == [
        F(1, 7),
        F(2, 7),
        F(4, 7),
    ]
    # Half-life 14 days: weights 1/2, 1/sqrt(2), 1 (floats), still summing to exactly 1.
    shares = attribute(path, AttributionModel.TIME_DECAY, half_life=timedelta(days=14))
    assert sum(shares) == 1
    assert [round(float(s), 6) for s in shares] == [0.226541, 0.320377, 0.453082]  # 0.5/2.2071...


def test_time_decay_of_a_very_old_touch_underflows_to_zero_not_the_whole_path() -> None:
    path = [touch("DSP", "impression", 30_000), touch("Affiliate", "click", 20_000)]
    assert attribute(path, AttributionModel.TIME_DECAY, half_life=timedelta(days=1)) == [0, 1]


@pytest.mark.parametrize("model", list(AttributionModel))
def test_credits_sum_to_one_in_the_order_given(model: AttributionModel) -> None:
    rng = random.Random(7)
    markov = MarkovModel.fit(random_paths(rng, 200))
    for _ in range(50):
        path = [
            touch(rng.choice(CHANNELS), rng.choice(["impression", "click"]), rng.uniform(0, 30))
            for _ in range(rng.randint(1, 8))
        ]
        shares = attribute(path, model, markov=markov)
        assert sum(shares) == 1 and all(s >= 0 for s in shares)
        in_time = sorted(range(len(path)), key=lambda i: path[i].at)
        assert [shares[i] for i in in_time] == attribute([path[i] for i in in_time], model, markov=markov)


def test_input_order_does_not_matter_only_time() -> None:
    shuffled = [PATH[2], PATH[0], PATH[3], PATH[1]]
    assert attribute(shuffled, AttributionModel.POSITION_BASED) == [F(1, 10), F(2, 5), F(2, 5), F(1, 10)]


def test_bad_input() -> None:
    assert attribute([], AttributionModel.LINEAR) == []
    with pytest.raises(ValueError, match="after the conversion"):
        attribute([touch("DSP", "click", -1)], AttributionModel.LINEAR)
    with pytest.raises(ValueError, match="half_life"):
        attribute(PATH, AttributionModel.TIME_DECAY, half_life=timedelta(0))
    with pytest.raises(ValueError, match="MarkovModel"):
        attribute(PATH, AttributionModel.DATA_DRIVEN)
    with pytest.raises(ValueError, match="not a valid AttributionModel"):
        credits(PATH, "u_shaped", converted_at=CONVERTED_AT)  # type: ignore[arg-type]


def test_within_lookback_keeps_the_window_oldest_first() -> None:
    touches = [
        touch("A", "click", 1),
        touch("B", "click", 31),
        touch("C", "click", 30),
        touch("D", "click", -1),
    ]
    kept = within_lookback(touches, converted_at=CONVERTED_AT, lookback=timedelta(days=30))
    assert [t.channel for t in kept] == ["C", "A"]


# -- rounding -----------------------------------------------------------------------------------


def test_round_credits_keeps_the_sum() -> None:
    assert round_credits([F(1, 5), F(4, 5)], 2) == [Decimal("0.20"), Decimal("0.80")]
    assert round_credits([F(1, 3)] * 3) == [Decimal("0.3334"), Decimal("0.3333"), Decimal("0.3333")]
    # 14.28.., 28.57.., 57.14..: floors sum to 99, the one missing unit goes to the largest
    # remainder (.57 of 2/7).
    assert round_credits([F(1, 7), F(2, 7), F(4, 7)], 2) == [
        Decimal("0.14"),
        Decimal("0.29"),
        Decimal("0.57"),
    ]
    assert round_credits([]) == []
    rng = random.Random(3)
    for _ in range(200):
        weights = [F(rng.randint(1, 999)) for _ in range(rng.randint(1, 9))]
        shares = [w / sum(weights) for w in weights]
        assert sum(round_credits(shares, 3)) == 1


# -- data-driven --------------------------------------------------------------------------------

CHANNELS = ["DSP", "Retargeting", "Affiliate", "SmartLink", "Email"]


def random_paths(rng: random.Random, count: int) -> list[tuple[list[str], bool]]:
    """Paths with repeats and loops; DSP and Affiliate make a conversion likelier."""
    paths = []
    for _ in range(count):
        channels = rng.choices(CHANNELS, weights=[5, 3, 2, 1, 1], k=rng.randint(1, 6))
        lift = 0.15 * ("DSP" in channels) + 0.25 * ("Affiliate" in channels)
        paths.append((channels, rng.random() < 0.05 + lift))
    return paths


def test_the_textbook_example() -> None:
    # C1 > C2 > C3 > conversion, C1 > null, C2 > C3 > null. Transitions: start->C1 2/3, start->C2 1/3,
    # C1->C2 1/2, C1->null 1/2, C2->C3 1, C3->conversion 1/2, C3->null 1/2.
    # P = 2/3 * 1/2 * 1 * 1/2 + 1/3 * 1 * 1/2 = 1/6 + 1/6 = 1/3.
    # Without C1: only start->C2 converts, 1/6: effect 1 - (1/6)/(1/3) = 1/2.
    # Without C2 or C3 nothing converts: effect 1 each. Normalised 1/2 : 1 : 1 = 1/5, 2/5, 2/5.
    model = MarkovModel.fit([(["C1", "C2", "C3"], True), (["C1"], False), (["C2", "C3"], False)])
    assert model.conversion_probability() == F(1, 3)
    assert model.conversion_probability("C1") == F(1, 6)
    assert model.removal_effects() == {"C1": F(1, 2), "C2": F(1), "C3": F(1)}
    assert model.credits(["C1", "C2", "C3"]) == [F(1, 5), F(2, 5), F(2, 5)]


def test_a_loop_solved_by_hand() -> None:
    # (A, B, A) converted, (B) not: start->A 1/2, start->B 1/2, A->B 1/2, A->conversion 1/2,
    # B->A 1/2, B->null 1/2.
    # x_A = x_B/2 + 1/2, x_B = x_A/2  =>  x_A = 2/3, x_B = 1/3, P = (2/3 + 1/3)/2 = 1/2.
    # Without A: x_B = 0, P = 0, effect 1. Without B: x_A = 1/2, P = 1/4, effect 1/2.
    model = MarkovModel.fit([(["A", "B", "A"], True), (["B"], False)])
    assert model.conversion_probability() == F(1, 2)
    assert model.removal_effects() == {"A": F(1), "B": F(1, 2)}
    # A: 1 / (3/2) = 2/3, B: 1/3; in (A, B, A) A's 2/3 is split over its two touches.
    assert model.credits(["A", "B"]) == [F(2, 3), F(1, 3)]
    assert model.credits(["A", "B", "A"]) == [F(1, 3), F(1, 3), F(1, 3)]
    path = [touch("A", "impression", 2), touch("B", "click", 1)]
    assert attribute(path, AttributionModel.DATA_DRIVEN, markov=model) == [F(2, 3), F(1, 3)]


def reference_probability(paths: list[tuple[list[str], bool]], removed: str | None) -> Fraction:
    """B = N R with N = (I - Q)^-1, by Gauss-Jordan inversion over Fractions; removal makes the
    channel a state that always moves to null."""
    transient = [START, *sorted({c for channels, _ in paths for c in channels})]
    absorbing = [CONVERSION, NULL]
    states = transient + absorbing
    counts = {s: dict.fromkeys(states, 0) for s in transient}
    for channels, converted in paths:
        if not channels:
            continue
        walk = [START, *channels, CONVERSION if converted else NULL]
        for a, b in pairwise(walk):
            counts[a][b] += 1
    if removed is not None:
        counts[removed] = dict.fromkeys(states, 0) | {NULL: 1}
    p = {s: {t: F(n, sum(row.values())) for t, n in row.items()} for s, row in counts.items()}
    size = len(transient)
    # [I - Q | I] -> [I | N]
    m = [
        [F(int(i == j)) - p[s][t] for j, t in enumerate(transient)] + [F(int(i == j)) for j in range(size)]
        for i, s in enumerate(transient)
    ]
    for col in range(size):
        pivot = next(r for r in range(col, size) if m[r][col] != 0)
        m[col], m[pivot] = m[pivot], m[col]
        m[col] = [v / m[col][col] for v in m[col]]
        for r in range(size):
            if r != col and m[r][col] != 0:
                m[r] = [a - m[r][col] * b for a, b in zip(m[r], m[col], strict=True)]
    n_start = m[0][size:]
    return sum((n_start[j] * p[t][CONVERSION] for j, t in enumerate(transient)), F(0))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_removal_effects_equal_the_fundamental_matrix_reference(seed: int) -> None:
    paths = random_paths(random.Random(seed), 400)
    model = MarkovModel.fit(paths)
    base = reference_probability(paths, None)
    assert model.conversion_probability() == base
    for channel in CHANNELS:
        assert model.conversion_probability(channel) == reference_probability(paths, channel)
    expected = {c: 1 - reference_probability(paths, c) / base for c in CHANNELS}
    assert model.removal_effects() == expected
    # A path's credits: each channel's effect over the path's total, split among its touches.
    path = ["DSP", "Email", "DSP", "Affiliate"]
    total = expected["DSP"] + expected["Email"] + expected["Affiliate"]
    assert model.credits(path) == [
        expected["DSP"] / total / 2,
        expected["Email"] / total,
        expected["DSP"] / total / 2,
        expected["Affiliate"] / total,
    ]


def test_counts_round_trip() -> None:
    model = MarkovModel.fit(random_paths(random.Random(5), 300))
    again = MarkovModel(model.transition_counts)
    assert again.channels == model.channels == tuple(sorted(CHANNELS))
    assert again.removal_effects() == model.removal_effects()


# -- degenerate cases ---------------------------------------------------------------------------


def test_no_conversions_at_all_falls_back_to_linear() -> None:
    model = MarkovModel.fit([(["A", "B"], False), (["B"], False)])
    assert model.conversion_probability() == 0
    assert model.removal_effects() == {"A": 0, "B": 0}
    assert model.credits(["A", "B", "B"]) == [F(1, 3)] * 3


def test_nothing_fitted() -> None:
    model = MarkovModel.fit([([], True)])  # an empty path says nothing about channels
    assert model.channels == ()
    assert model.conversion_probability() == 0
    assert model.credits(["A"]) == [1]


def test_a_channel_that_never_converts_earns_nothing() -> None:
    model = MarkovModel.fit([(["A"], True), (["B"], False)])
    assert model.removal_effects() == {"A": 1, "B": 0}
    assert model.credits(["B", "A", "B"]) == [0, 1, 0]


def test_unknown_channels_earn_nothing_unless_all_are_unknown() -> None:
    model = MarkovModel.fit([(["A"], True), (["A", "B"], False)])
    assert model.credits(["Unseen", "A"]) == [0, 1]
    assert model.credits(["Unseen", "Other"]) == [F(1, 2), F(1, 2)]


def test_states_leading_nowhere_or_only_in_circles_never_convert() -> None:
    # B has no way out (hand-built counts); C and D only feed each other. Only start->A (1/3)
    # converts, always: P = 1/3.
    model = MarkovModel(
        {
            (START, "A"): 1,
            ("A", CONVERSION): 1,
            (START, "B"): 1,
            (START, "C"): 1,
            ("C", "D"): 1,
            ("D", "C"): 1,
        }
    )
    assert model.conversion_probability() == F(1, 3)
    assert model.removal_effects() == {"A": 1, "B": 0, "C": 0, "D": 0}


@pytest.mark.parametrize("name", [START, CONVERSION, NULL])
def test_reserved_channel_names_are_rejected(name: str) -> None:
    for channels in ([name], ["A", name], [name, "A"]):
        for converted in (True, False):
            with pytest.raises(ValueError, match="reserved"):
                MarkovModel.fit([(channels, converted)])


def test_negative_counts_are_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        MarkovModel({(START, "A"): -1})
