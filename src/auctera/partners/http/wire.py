"""The JSON bid protocol's shapes (docs/api-bids.md, "Partner protocol"), both ways.

A bid is named by the partner's own ids: `{"campaign", "adSet", "country", "sourceId"}`; values
are integer micros of USD (`valueMicros`), null meaning "no bid" (delete, or none there).
"""

from __future__ import annotations

from typing import Any

from auctera.domain.bids import PartnerBidKey


def key_json(key: PartnerBidKey) -> dict[str, Any]:
    return {"campaign": key.campaign, "adSet": key.ad_set, "country": key.country, "sourceId": key.source_id}


def key_of(item: Any) -> PartnerBidKey:
    """A key from JSON; ValueError when it is not one."""
    if not isinstance(item, dict):
        raise ValueError("a bid must be an object")
    campaign, ad_set = item.get("campaign"), item.get("adSet")
    country, source_id = item.get("country"), item.get("sourceId")
    if not isinstance(campaign, str) or not campaign or not isinstance(country, str) or len(country) != 2:
        raise ValueError("a bid needs a campaign and a two-letter country")
    if not isinstance(ad_set, str | None) or not isinstance(source_id, str | None):
        raise ValueError("adSet and sourceId are strings or null")
    return PartnerBidKey(campaign, ad_set, country, source_id)


def value_of(item: dict[str, Any]) -> int | None:
    value = item.get("valueMicros")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError("valueMicros is a non-negative integer or null")
    return value
