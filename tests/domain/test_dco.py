"""DCO templates: variables, permutations, and the bandit converging on a simulated stream."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from auctera.domain.dco import (
    Template,
    TemplateError,
    VariantStats,
    check_variables,
    choose,
    fill,
    permutations,
    variable,
)


def test_variables_take_lists_or_feed_fields() -> None:
    assert variable("headline", None).feed_field == "name"  # the seed's bare names: feed fields
    assert variable("product_image", None).feed_field == "image_url"
    assert variable("cta", ["Buy now", "Shop", "Buy now"]).values == ("Buy now", "Shop")
    assert variable("price", {"feed_field": "price"}).feed_field == "price"
    with pytest.raises(TemplateError, match="feed field"):
        variable("cta", None)
    with pytest.raises(TemplateError):
        variable("Bad Name", ["x"])
    with pytest.raises(TemplateError, match="permutations"):
        check_variables([variable(f"v{i}", [str(j) for j in range(10)]) for i in range(4)])


def test_permutations_are_the_product_of_the_list_variables() -> None:
    variables = (variable("headline", ["Save 20%", "New in"]), variable("cta", ["Buy!", "buy"]))
    keys = [v.key for v in permutations(variables)]
    assert keys == ["save_20+buy", "save_20+buy_1", "new_in+buy", "new_in+buy_1"]
    template = Template(1, 1, "t", (*variables, variable("image", None)), datetime.now(UTC))
    served = fill(template, permutations(variables)[2], {"image_url": "https://x.example/p.jpg"})
    assert served == {"headline": "New in", "cta": "Buy!", "image": "https://x.example/p.jpg"}


def simulate(
    rates: dict[str, float], rounds: int, seed: int, *, conversions: dict[str, float] | None = None
) -> dict[str, int]:
    """A click stream: each round the bandit picks, the simulated visitor clicks (and converts)
    with the variant's true rate; returns how often each was served."""
    rng, world = random.Random(seed), random.Random(seed + 1)
    stats = {k: VariantStats() for k in rates}
    served = dict.fromkeys(rates, 0)
    for _ in range(rounds):
        key = choose(list(rates), stats, rng)
        served[key] += 1
        clicked = world.random() < rates[key]
        converted = clicked and conversions is not None and world.random() < conversions[key]
        s = stats[key]
        stats[key] = VariantStats(s.impressions + 1, s.clicks + clicked, s.conversions + converted)
    return served


def test_the_bandit_converges_to_the_best_click_rate() -> None:
    served = simulate({"blue_cta": 0.02, "red_cta": 0.05, "green_cta": 0.03}, 6000, seed=42)
    assert max(served, key=served.__getitem__) == "red_cta"
    assert served["red_cta"] > 0.6 * 6000, served


def test_conversions_outweigh_clicks_once_there_are_any() -> None:
    # "bait" gets more clicks, "honest" the conversions: conversions per impression decide.
    served = simulate({"bait": 0.08, "honest": 0.05}, 8000, seed=7, conversions={"bait": 0.02, "honest": 0.4})
    assert served["honest"] > served["bait"], served
