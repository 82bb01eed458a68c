"""The event log as an identity graph: which visitors (the `uid` of clicks and impressions) a
hashed email or phone has been seen with, and their touches.

Clicks carry the hashes a publisher passed on the link (`em`, `ph`), conversions those an
advertiser's postback sent; each also carries the visitor's `uid`. One query per batch of
offline events resolves every hash to its visitors and returns their clicks and impressions.
"""

from __future__ import annotations

from auctera.events.codec import COLUMNS

_EVENT_COLUMNS = ", ".join(f'e."{c}"' for c in COLUMNS)


# `->>` binds more loosely than `=` and `IN` in DuckDB: every extraction is parenthesised.


def identity_touches_sql(source: str) -> str:
    """SQL over `source` (a relation of events) with parameters $account, $hashes (a list of
    lowercase hex), $lo and $hi (UTC micros): (hash, the event's columns...) for each click or
    impression of a visitor seen with one of the hashes, IVT excluded, oldest first."""
    return f"""
WITH e AS (SELECT * FROM {source} WHERE account_id = $account AND "at" >= $lo AND "at" < $hi),
wanted AS (SELECT unnest($hashes) AS h),
seen AS (
    SELECT DISTINCT h, (attrs->>'uid') AS uid FROM (
        SELECT (attrs->>'email_sha256') AS h, attrs FROM e
        WHERE (attrs->>'email_sha256') IN (SELECT h FROM wanted)
        UNION ALL
        SELECT (attrs->>'phone_sha256') AS h, attrs FROM e
        WHERE (attrs->>'phone_sha256') IN (SELECT h FROM wanted)
    ) WHERE (attrs->>'uid') IS NOT NULL
)
SELECT seen.h, {_EVENT_COLUMNS}
FROM e JOIN seen ON (e.attrs->>'uid') = seen.uid
WHERE e.type IN ('click', 'impression', 'viewable_impression') AND NOT e.ivt
ORDER BY e."at", e.id
"""
