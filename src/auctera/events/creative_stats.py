"""Impressions, clicks and conversions per DCO variant of one creative, from the event log.

Clicks and impressions carry the creative (`creative_id`) and the variant (`attrs.variant`) of
their link; a conversion counts for the variant of the click it is attributed to (`click_id`).
Conversions are net of their reversals (a chargeback takes its conversion back), as the reports
count them, so the bandit never rewards a variant for sales that were charged back. IVT is left
out.
"""

from __future__ import annotations

from auctera.domain.dco import VariantStats
from auctera.events.duckdb_store import DuckDBEventStore

_VARIANT = "json_extract_string(attrs, '$.variant')"
_SQL = f"""
, touches AS (
    SELECT type, click_id, {_VARIANT} AS variant FROM events
    WHERE account_id = $account AND creative_id = $creative AND type IN ('impression', 'click')
      AND NOT coalesce(ivt, false) AND {_VARIANT} IS NOT NULL
), converted AS (
    SELECT t.variant,
           count(*) FILTER (WHERE c.type = 'conversion' AND NOT coalesce(c.ivt, false))
           - count(*) FILTER (WHERE c.type = 'reversal') AS conversions
    FROM events c JOIN touches t ON t.type = 'click' AND t.click_id = c.click_id
    WHERE c.account_id = $account AND c.type IN ('conversion', 'reversal')
    GROUP BY t.variant
)
SELECT t.variant, count(*) FILTER (WHERE t.type = 'impression'), count(*) FILTER (WHERE t.type = 'click'),
       greatest(coalesce(any_value(v.conversions), 0), 0)
FROM touches t LEFT JOIN converted v ON v.variant = t.variant
GROUP BY t.variant"""


class EventLogVariantStats:
    def __init__(self, events: DuckDBEventStore) -> None:
        self._events = events

    def variant_stats(self, account_id: int, creative_id: int) -> dict[str, VariantStats]:
        rows = self._events.query(_SQL, {"account": account_id, "creative": creative_id})
        return {str(v): VariantStats(int(i), int(c), int(k)) for v, i, c, k in rows}
