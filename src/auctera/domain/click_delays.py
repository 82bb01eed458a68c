"""Click-to-conversion time (CTIT) per publisher, and the test that reads click flooding in it.

Click flooding: a publisher sends masses of clicks (or click ids) hoping one of them is the last
click before a sale that would have happened anyway. Those sales do not follow their clicks the
way interest does, mostly within the hour: their delays spread flat over the whole attribution
window. One conversion days after its click proves nothing (people come back), so the
per-conversion signal (`fraud.timing_signals`) is weak by design; a publisher whose share of
late conversions is far above the advertiser's other publishers' is the evidence.

The test: of a publisher's `n` conversions, `late` came more than `flooding_after` after their
click. The reference is the share of late conversions among the same advertiser's other
publishers over the same days (leaving the publisher out, so a large flooder cannot set its own
norm). Under "this publisher's traffic converts like the others'", `late` is binomial(n, p_ref);
the one-sided p-value says how surprising it is. Suspected: enough conversions on both sides to
tell, a p-value below `alpha`, and a share of late conversions that matters in itself (at least
`min_share`, and `min_ratio` times the reference): a big publisher is "significantly" different
by a hair, which is no flood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Upper bounds of the delay buckets, in seconds: 10 s (click injection's range), 1 min, 10 min,
# 1 h, 6 h, 24 h, 7 days; a last bucket holds the rest.
BUCKET_BOUNDS = (10, 60, 600, 3_600, 6 * 3_600, 86_400, 7 * 86_400)


@dataclass(frozen=True, slots=True)
class Delays:
    """One publisher's conversions by delay after their click (from the event log)."""

    conversions: int
    buckets: tuple[int, ...]  # counts per BUCKET_BOUNDS, then the open last bucket
    late: int  # more than `flooding_after` after the click
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class FloodingTest:
    """`suspected` None: too few conversions, here or among the others, to tell."""

    suspected: bool | None
    late_share: float | None
    reference_late_share: float | None
    p_value: float | None


@dataclass(frozen=True, slots=True)
class FloodingRule:
    min_conversions: int = 20  # on each side: the publisher's and the others'
    alpha: float = 0.001
    min_share: float = 0.1
    min_ratio: float = 2.0

    def test(self, late: int, conversions: int, others_late: int, others: int) -> FloodingTest:
        share = late / conversions if conversions else None
        if conversions < self.min_conversions or others < self.min_conversions:
            return FloodingTest(None, share, others_late / others if others else None, None)
        reference = others_late / others
        from scipy.stats import binom  # here: at the top it would add ~0.3 s to every start

        # P(X >= late) for X ~ binomial(conversions, reference); exact, also for large counts.
        p_value = float(binom.sf(late - 1, conversions, reference)) if late else 1.0
        assert share is not None
        suspected = p_value < self.alpha and share >= self.min_share and share >= self.min_ratio * reference
        return FloodingTest(suspected, share, reference, p_value)


def flooding_tests(
    delays: Mapping[tuple[int, int], Delays], rule: FloodingRule = FloodingRule()
) -> dict[tuple[int, int], FloodingTest]:
    """Per (advertiser, publisher), `rule`'s test against the advertiser's other publishers."""
    conversions: dict[int, int] = {}
    late: dict[int, int] = {}
    for (advertiser, _), d in delays.items():
        conversions[advertiser] = conversions.get(advertiser, 0) + d.conversions
        late[advertiser] = late.get(advertiser, 0) + d.late
    return {
        (advertiser, publisher): rule.test(
            d.late, d.conversions, late[advertiser] - d.late, conversions[advertiser] - d.conversions
        )
        for (advertiser, publisher), d in delays.items()
    }
