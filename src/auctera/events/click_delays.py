"""Each publisher's conversions by delay after their click, from the event log.

A conversion's delay is its time less its click's (joined by `click_id`; conversions attributed
to an impression have no click and are left out). Every conversion counts, rejected ones too:
the question is how the publisher's traffic converts, and a click-injection rejection is a
delay of seconds. Reversals do not change when a sale followed its click.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from auctera.domain.click_delays import BUCKET_BOUNDS, Delays
from auctera.events.codec import to_micros
from auctera.events.duckdb_store import DuckDBEventStore

# How far before the first conversion its click is looked for: longer than any lookback.
_CLICKS_BEFORE = timedelta(days=120)
_BUCKETS = ", ".join(
    [f"count(*) FILTER (WHERE seconds <= {BUCKET_BOUNDS[0]})"]
    + [
        f"count(*) FILTER (WHERE seconds > {low} AND seconds <= {high})"
        for low, high in pairwise(BUCKET_BOUNDS)
    ]
    + [f"count(*) FILTER (WHERE seconds > {BUCKET_BOUNDS[-1]})"]
)
CLICK_DELAYS_SQL = f"""
, converted AS (
    SELECT c.account_id, c.publisher_id, (c."at" - k."at") / 1e6 AS seconds
    FROM events c JOIN events k
      ON k.type = 'click' AND k.click_id = c.click_id AND k.account_id = c.account_id
    WHERE c.type = 'conversion' AND c.publisher_id IS NOT NULL
      AND ($account IS NULL OR c.account_id = $account)
      AND ($campaign IS NULL OR c.campaign_id = $campaign)
      AND c."at" >= $lo AND c."at" < $hi AND k."at" >= $clicks_from AND k."at" <= c."at"
)
SELECT account_id, publisher_id, count(*), count(*) FILTER (WHERE seconds > $late), {_BUCKETS},
       quantile_cont(seconds, 0.5), quantile_cont(seconds, 0.9)
FROM converted GROUP BY account_id, publisher_id ORDER BY account_id, publisher_id"""


class EventLogClickDelays:
    def __init__(self, events: DuckDBEventStore) -> None:
        self._events = events

    def click_delays(
        self,
        account_id: int | None,
        campaign_id: int | None,
        start: datetime,
        end: datetime,
        late_after: timedelta,
    ) -> dict[tuple[int, int], Delays]:
        params = {
            "account": account_id,
            "campaign": campaign_id,
            "lo": to_micros(start),
            "hi": to_micros(end),
            "clicks_from": to_micros(start - _CLICKS_BEFORE),
            "late": late_after.total_seconds(),
        }
        found = {}
        for account, publisher, conversions, late, *rest in self._events.query(CLICK_DELAYS_SQL, params):
            *buckets, median, p90 = rest
            found[(int(account), int(publisher))] = Delays(
                int(conversions), tuple(int(b) for b in buckets), int(late), median, p90
            )
        return found
