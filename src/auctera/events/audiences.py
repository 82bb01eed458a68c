"""The event log read for audiences: the identity graph (hash -> visitors), pixel-event rules, and
per-visitor features for lookalikes. Every query is scoped to one account and skips IVT."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from auctera.domain.audiences import PixelRule
from auctera.events.codec import to_micros
from auctera.events.duckdb_store import DuckDBEventStore

# `->>` binds more loosely than `=` and `IN` in DuckDB: every extraction is parenthesised.
_VISITORS = """
SELECT DISTINCT h, uid FROM (
    SELECT (attrs->>'email_sha256') AS h, (attrs->>'uid') AS uid FROM events
    WHERE account_id = $account AND (attrs->>'email_sha256') IN (SELECT unnest(string_split($hashes, ',')))
    UNION ALL
    SELECT (attrs->>'phone_sha256') AS h, (attrs->>'uid') AS uid FROM events
    WHERE account_id = $account AND (attrs->>'phone_sha256') IN (SELECT unnest(string_split($hashes, ',')))
) WHERE uid IS NOT NULL
"""

_FEATURES = """
SELECT (attrs->>'uid') AS uid,
       mode(CAST(publisher_id AS VARCHAR)),
       mode(country),
       mode(device_type),
       mode(CAST(("at" // 3600000000) % 24 AS INTEGER)),
       mode(CAST(campaign_id AS VARCHAR)),
       count(*) FILTER (WHERE type IN ('impression', 'viewable_impression')),
       count(*) FILTER (WHERE type = 'click'),
       count(*) FILTER (WHERE type = 'conversion')
FROM events
WHERE account_id = $account AND "at" >= $lo AND NOT ivt AND (attrs->>'uid') IS NOT NULL
  AND type IN ('impression', 'viewable_impression', 'click', 'conversion')
GROUP BY 1
"""


class EventAudienceGraph:
    def __init__(self, events: DuckDBEventStore) -> None:
        self._events = events

    def visitors_of(self, account_id: int, hashes: Sequence[str]) -> list[tuple[str, str]]:
        if not hashes:
            return []
        # One comma-joined string: DuckDB converts a Python list parameter item by item, slowly.
        rows = self._events.query(_VISITORS, {"account": account_id, "hashes": ",".join(hashes)})
        return [(str(h), str(u)) for h, u in rows]

    def pixel_visitors(self, account_id: int, rule: PixelRule, now: datetime) -> list[str]:
        params: dict[str, Any] = {
            "account": account_id,
            "lo": to_micros(now - timedelta(days=rule.within_days)),
            "hi": to_micros(now),
            "event": rule.event.value,
        }
        scope = ""
        if rule.campaign_ids:
            scope = " AND campaign_id IN (SELECT CAST(unnest(string_split($campaigns, ',')) AS BIGINT))"
            params["campaigns"] = ",".join(str(c) for c in rule.campaign_ids)
        base = (
            "SELECT (attrs->>'uid') AS uid, max(\"at\") AS last FROM events "
            'WHERE account_id = $account AND "at" >= $lo AND "at" <= $hi AND NOT ivt '
            f"AND (attrs->>'uid') IS NOT NULL{scope} AND type = "
        )
        sql = f"SELECT uid FROM ({base}$event GROUP BY 1) AS did"
        if rule.without is not None:  # ...and nothing of `without` since, e.g. no conversion
            params["without"] = rule.without.value
            sql += f" WHERE NOT EXISTS (SELECT 1 FROM ({base}$without GROUP BY 1) AS w WHERE w.uid = did.uid)"
        return [str(r[0]) for r in self._events.query(sql + " ORDER BY uid", params)]

    def visitor_features(self, account_id: int, since: datetime) -> list[tuple[Any, ...]]:
        return self._events.query(_FEATURES, {"account": account_id, "lo": to_micros(since)})
