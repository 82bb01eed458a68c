"""SQL for the auction's click and conversion predictions: sponsored impressions, clicks and
conversions of one time window, summed per (placement, product, bidder).

A sponsored impression or click is one the `/sp/imp` and `/sp/click` routes logged from a click
token: its `attrs` name the placement kind (`retail` or `smartlink`) and the product, the
`publisher_id` column the account showing it, and the bidder is the line item (`line_item_id`),
or for a SmartLink CPC campaign the campaign. The placement key is "<kind>:<publisher id>".

A conversion counts for the click it is attributed to (`click_id`), which may be days older
than the window: the clicks are looked up separately, only for the window's conversions of
sponsored clicks (a conversion keeps its click's placement kind and product in its attrs, so the
affiliate conversions of a busy network are never fetched), from the earliest instant their
Snowflake ids say they were issued (see `ad_stats_clicks_query`). IVT is left out everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from auctera.services.ports import AdStat

KIND: Final = "json_extract_string(attrs, '$.placement')"
PRODUCT: Final = "TRY_CAST(json_extract_string(attrs, '$.product_id') AS BIGINT)"
_SPONSORED: Final = f"{KIND} IN ('retail', 'smartlink') AND {PRODUCT} IS NOT NULL"
_KEY: Final = f"{KIND} || ':' || CAST(publisher_id AS VARCHAR)"
_BIDDER: Final = "coalesce(line_item_id, campaign_id)"


def ad_stats_query(source: str, lo: int, hi: int) -> tuple[str, dict[str, Any]]:
    """(placement, product, bidder, impressions, clicks) for lo <= at < hi (micros)."""
    sql = f"""
SELECT {_KEY} AS placement, {PRODUCT} AS product_id, {_BIDDER} AS bidder_id,
    count(*) FILTER (WHERE type = 'impression') AS impressions,
    count(*) FILTER (WHERE type = 'click') AS clicks
FROM ({source})
WHERE "at" >= $lo AND "at" < $hi AND type IN ('impression', 'click') AND NOT coalesce(ivt, false)
  AND publisher_id IS NOT NULL AND {_BIDDER} IS NOT NULL AND {_SPONSORED}
GROUP BY ALL"""
    return sql, {"lo": lo, "hi": hi}


def conversions_query(source: str, lo: int, hi: int) -> tuple[str, dict[str, Any]]:
    """(click id, conversions) of the conversions of sponsored clicks logged lo <= at < hi."""
    sql = f"""
SELECT click_id, count(*) AS conversions
FROM ({source})
WHERE "at" >= $lo AND "at" < $hi AND type = 'conversion' AND NOT coalesce(ivt, false)
  AND click_id IS NOT NULL AND {_SPONSORED}
GROUP BY click_id"""
    return sql, {"lo": lo, "hi": hi}


def ad_stats_clicks_query(
    source: str, click_ids: Sequence[str], lo: int, hi: int
) -> tuple[str, dict[str, Any]]:
    """(click id, placement, product, bidder) of the sponsored clicks among `click_ids`, logged
    lo <= at < hi: lo is the earliest issue time of those ids (minus slack), so files and row
    groups of older times are skipped."""
    sql = f"""
SELECT click_id, {_KEY} AS placement, {PRODUCT} AS product_id, {_BIDDER} AS bidder_id
FROM ({source})
WHERE "at" >= $lo AND "at" < $hi AND type = 'click' AND NOT coalesce(ivt, false)
  AND click_id IN (SELECT unnest($ids)) AND publisher_id IS NOT NULL AND {_BIDDER} IS NOT NULL
  AND {_SPONSORED}"""
    return sql, {"ids": list(click_ids), "lo": lo, "hi": hi}


def combine(
    counted: Sequence[tuple[Any, ...]],
    conversions: dict[str, int],
    clicks: Sequence[tuple[Any, ...]],
) -> list[AdStat]:
    """The window's rows, with each conversion added to its click's (placement, product, bidder)."""
    totals: dict[tuple[str, int, int], list[int]] = {}
    for placement, product_id, bidder_id, impressions, click_count in counted:
        totals[(placement, product_id, bidder_id)] = [impressions, click_count, 0]
    for click_id, placement, product_id, bidder_id in clicks:
        row = totals.setdefault((placement, product_id, bidder_id), [0, 0, 0])
        row[2] += conversions.get(click_id, 0)
    return [AdStat(key[0], key[1], key[2], *counts) for key, counts in totals.items()]
