"""Pure translation between this surface's JSON and the domain: bids, rejections, the hierarchy.

Numbers come in as `Decimal` (the body is parsed with `parse_float=Decimal`), so 0.1 stays 0.1;
they go out as JSON numbers with the same digits. Bad input raises `AucteraError` (400) naming
the field, in the seed's field names.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import pycountry
from pydantic import BaseModel, ValidationError

from auctera.api.errors import validation_failure
from auctera.domain import ids
from auctera.domain.bids import (
    MAX_BID_MICROS,
    AdSet,
    Bid,
    BiddingSettings,
    BidFilter,
    BidOperation,
    BidRow,
    Network,
    NetworkCampaign,
    OptimizationType,
    PartnerKind,
    RequiredAttributes,
    in_bid_range,
    micros_of,
    usd,
)
from auctera.domain.dates import utc_text
from auctera.errors import AucteraError
from auctera.services.bids import Rejection
from auctera.services.ports import SyncBatchInfo

from .schemas import AdSetBody, CampaignBody, NetworkBody

MAX_ID = 2**63 - 1
MAX_BID_USD = Decimal(MAX_BID_MICROS) / 1_000_000
MAX_SOURCE_ID = 255
REJECTED_STATUS = "invalid"  # the `status` of a bidsValidation entry: the bid was not accepted
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROW_FIELDS = frozenset({"adSetId", "campaign", "country", "sourceId", "optimalBidUsd", "delete"})
_FILTER_FIELDS = ("networkId", "campaignId", "adSetId", "country", "sourceId")

M = TypeVar("M", bound=BaseModel)


def _bad(message: str, field: str) -> AucteraError:
    return AucteraError(f"{field}: {message}", field=field, code="validation_error")


@cache
def _countries() -> dict[str, tuple[int, str]]:
    """ISO 3166-1 alpha-2 -> (numeric code, name)."""
    return {c.alpha_2: (int(c.numeric), c.name) for c in pycountry.countries}


@cache
def _country_inputs() -> dict[str, str]:
    """The usual spellings of a code (upper and lower case) -> the code."""
    codes = _countries()
    return {**{code: code for code in codes}, **{code.lower(): code for code in codes}}


def _int(value: Any, field: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise _bad("must be a positive integer id" + (" or null" if optional else ""), field)
    return value


def country_code(value: Any, field: str) -> str:
    if value is None:
        raise _bad("is required: an ISO 3166-1 alpha-2 country code such as DE", field)
    if not isinstance(value, str):
        raise _bad("must be an ISO 3166-1 alpha-2 country code (a string such as DE)", field)
    if value.upper() not in _countries():
        raise _bad(f"{value!r} is not an ISO 3166-1 alpha-2 country code", field)
    return value.upper()


def _source_id(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_SOURCE_ID:
        raise _bad(f"must be a string of at most {MAX_SOURCE_ID} characters or null", field)
    return value


def _amount(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _bad("must be a number", field)
    amount = Decimal(value)
    # Bounded either way before any arithmetic: -1e30 would overflow the change's percentage. A
    # value in range at or below zero is a rule's rejection (below minimum), listed with its delta.
    if not in_bid_range(amount):
        raise _bad(f"must be a finite number from -{MAX_BID_USD} to {MAX_BID_USD}", field)
    return amount


# --- bids -----------------------------------------------------------------------------------


def page_and_filter(body: Any) -> tuple[int, int, BidFilter]:
    """`{"page": {offset, limit}, "filter": {...}}`; the seed's curl sends the filter's fields at
    the top level, which is read the same way."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise AucteraError("the request body must be a JSON object", field="body")
    unknown = sorted(set(body) - {"page", "filter", *_FILTER_FIELDS})
    if unknown:
        raise AucteraError(f"unknown field '{unknown[0]}'", field=unknown[0], code="unknown_field")
    flat = {k: v for k, v in body.items() if k in _FILTER_FIELDS}
    nested = body.get("filter") or {}
    if not isinstance(nested, dict):
        raise AucteraError("filter must be an object", field="filter")
    if flat and nested:
        raise AucteraError("give the filter either in 'filter' or at the top level, not both", field="filter")
    given = nested or flat
    prefix = "filter." if nested else ""
    unknown = sorted(set(given) - set(_FILTER_FIELDS))
    if unknown:
        field = prefix + unknown[0]
        raise AucteraError(f"unknown field '{field}'", field=field, code="unknown_field")
    country = given.get("country")
    found = BidFilter(
        network_id=_int(given.get("networkId"), prefix + "networkId", optional=True),
        campaign_id=_int(given.get("campaignId"), prefix + "campaignId", optional=True),
        ad_set_id=_int(given.get("adSetId"), prefix + "adSetId", optional=True),
        country=None if country is None else country_code(country, prefix + "country"),
        source_id=_source_id(given.get("sourceId"), prefix + "sourceId"),
    )
    page = body.get("page") or {}
    if not isinstance(page, dict) or set(page) - {"offset", "limit"}:
        raise AucteraError("page must be an object with offset and limit", field="page")
    offset, limit = page.get("offset", 0), page.get("limit", 100)
    for name, value in (("offset", offset), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad("must be an integer", f"page.{name}")
    return offset, limit, found


def bid_json(bid: Bid) -> dict[str, Any]:
    return {
        "networkId": bid.network_id,
        "campaignId": bid.campaign_id,
        "adSetId": bid.ad_set_id,
        "country": bid.country,
        "sourceId": bid.source_id,
        "status": bid.status.value,
        # null: in `error`, and what the network runs is not known (docs/api-bids.md)
        "value": None if (shown := bid.shown_micros) is None else float(usd(shown)),
    }


def _at(when: datetime | None) -> str | None:
    return None if when is None else utc_text(when)


def stuck_json(op: BidOperation, batch: SyncBatchInfo | None) -> dict[str, Any]:
    """A bid operation still pending past the settle bound, and where its partner batch is."""
    return {
        "operationId": op.id,
        "bidId": op.bid_id,
        "networkId": op.network_id,
        "kind": op.kind.value,
        "oldValue": None if op.old_value_micros is None else float(usd(op.old_value_micros)),
        "newValue": None if op.new_value_micros is None else float(usd(op.new_value_micros)),
        "status": "stuck",
        "createdAt": _at(op.created_at),
        "batch": None
        if batch is None
        else {
            "id": batch.id,
            "phase": batch.phase,
            "attempts": batch.attempts,
            "lastError": batch.error,
            "lockedUntil": _at(batch.locked_until),
            "nextAttemptAt": _at(batch.next_attempt_at),
        },
    }


def upload_rows(body: Any) -> list[BidRow]:
    """The upload's array of bids, each checked for shape (the rules come later, per bid)."""
    if not isinstance(body, list):
        raise AucteraError("the request body must be a JSON array of bids", field="body")
    if not body:
        raise AucteraError("the upload holds no bids", field="body")
    # Rows as the documented upload sends them take this quick path (an upload holds up to 100k);
    # any other goes through `_row`, which reads it or names what is wrong with it.
    countries = _country_inputs()
    rows = []
    for i, item in enumerate(body):
        # No other field: those the quick path needs (campaign, country, a value) and the optional ones.
        if type(item) is dict and len(item) == 3 + ("adSetId" in item) + ("sourceId" in item) + (
            "delete" in item
        ):
            campaign = item.get("campaign")
            ad_set_id = item.get("adSetId")
            source_id = item.get("sourceId")
            country = item.get("country")
            value = item.get("optimalBidUsd")
            delete = item.get("delete", False)
            campaign_id = campaign.get("id") if type(campaign) is dict and len(campaign) == 1 else None
            country = countries.get(country) if type(country) is str else None
            if (
                type(value) is Decimal
                and value.is_finite()
                and -MAX_BID_USD <= value <= MAX_BID_USD
                and (delete is False or delete is True)
                and type(campaign_id) is int
                and 0 < campaign_id <= MAX_ID
                and (ad_set_id is None or (type(ad_set_id) is int and 0 < ad_set_id <= MAX_ID))
                and country is not None
                and (source_id is None or (type(source_id) is str and 0 < len(source_id) <= MAX_SOURCE_ID))
            ):
                rows.append(BidRow(campaign_id, ad_set_id, country, source_id, value, delete))
                continue
        rows.append(_row(item, f"[{i}]"))
    return rows


def _row(item: Any, at: str) -> BidRow:
    if not isinstance(item, dict):
        raise _bad("each bid must be an object", at)
    if not item.keys() <= _ROW_FIELDS:
        unknown = sorted(set(item) - _ROW_FIELDS)
        raise AucteraError(
            f"unknown field '{at}.{unknown[0]}'", field=f"{at}.{unknown[0]}", code="unknown_field"
        )
    campaign = item.get("campaign")
    if not isinstance(campaign, dict) or set(campaign) != {"id"}:
        raise _bad('must be an object {"id": <campaign id>}', f"{at}.campaign")
    delete = item.get("delete", False)
    if delete is None:
        delete = False
    if not isinstance(delete, bool):
        raise _bad("must be true, false or null", f"{at}.delete")
    value = item.get("optimalBidUsd")
    return BidRow(
        campaign_id=_int(campaign["id"], f"{at}.campaign.id") or 0,
        ad_set_id=_int(item.get("adSetId"), f"{at}.adSetId", optional=True),
        country=country_code(item.get("country"), f"{at}.country"),
        source_id=_source_id(item.get("sourceId"), f"{at}.sourceId"),
        value=None if value is None and delete else _amount(value, f"{at}.optimalBidUsd"),
        delete=delete,
    )


def _number(value: Decimal | None) -> float | None:
    """An exact decimal as a JSON number: the shortest float that prints the same digits."""
    return None if value is None else float(value)


def country_json(iso2: str) -> dict[str, Any]:
    numeric, name = _countries()[iso2]
    return {"id": numeric, "name": name, "iso2": iso2}


def rejection_json(r: Rejection) -> dict[str, Any]:
    return {
        "adSetId": r.row.ad_set_id,
        "campaign": {"id": r.row.campaign_id, "name": r.campaign.name if r.campaign else None},
        "country": country_json(r.row.country),
        "delta": {
            "changePercentage": _number(r.delta.change_percentage),
            "newValue": _number(r.delta.new_value),
            "oldValue": _number(r.delta.old_value),
        },
        "network": {"id": r.network.id, "name": r.network.name} if r.network else None,
        "sourceId": r.row.source_id,
        "status": REJECTED_STATUS,
        "message": r.message,
    }


def rejected_json(rejections: list[Rejection], total: int) -> dict[str, Any]:
    return {
        "error": f"{len(rejections)} of {total} bids failed validation; no bid was stored",
        "bidsValidation": [rejection_json(r) for r in rejections],
    }


# --- the hierarchy ------------------------------------------------------------------------------


def parse(model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        failure = validation_failure(exc)
        raise AucteraError(failure.message, field=failure.field, code=failure.code) from None


def new_network() -> Network:
    """The settings a network starts with; create fills in the rest from its body."""
    return Network(
        id=0,
        account_id=0,
        name="",
        kind=PartnerKind.HTTP,
        base_url=None,
        credentials={},
        settings=BiddingSettings(),
        vendor_attributes={},
        client_vendor_attributes={},
        required=RequiredAttributes(),
        created_at=_EPOCH,
        updated_at=_EPOCH,
    )


def network_changes(body: NetworkBody, current: Network) -> Network:
    """`current` with what the body sets (a field left out keeps its value)."""
    given = body.model_fields_set
    network = current
    if "name" in given and body.name is not None:
        network = replace(network, name=body.name)
    if "kind" in given:
        try:
            network = replace(network, kind=PartnerKind(body.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in PartnerKind)
            raise _bad(f"must be one of {kinds}", "kind") from None
    if "baseUrl" in given:
        network = replace(network, base_url=body.baseUrl)
    if "credentials" in given:
        network = replace(network, credentials=body.credentials or {})
    if "vendorAttributes" in given:
        network = replace(network, vendor_attributes=body.vendorAttributes or {})
    if "clientVendorAttributes" in given:
        network = replace(network, client_vendor_attributes=body.clientVendorAttributes or {})
    if body.requiredAttributes is not None:
        r = body.requiredAttributes
        network = replace(
            network,
            required=RequiredAttributes(
                network=tuple(r.network if r.network is not None else network.required.network),
                client=tuple(r.client if r.client is not None else network.required.client),
                campaign=tuple(r.campaign if r.campaign is not None else network.required.campaign),
            ),
        )
    if body.bidding is not None:
        network = replace(network, settings=_settings(body, network.settings))
    return network


def _settings(body: NetworkBody, settings: BiddingSettings) -> BiddingSettings:
    b = body.bidding
    assert b is not None
    given = b.model_fields_set
    names = {
        "enabled": "enabled",
        "campaignBidding": "campaign_bidding",
        "adSetBidding": "ad_set_bidding",
        "sourceIdBidding": "source_id_bidding",
        "decimalPrecision": "decimal_precision",
        "batchSize": "batch_size",
        "concurrency": "concurrency",
    }
    changes: dict[str, Any] = {
        ours: getattr(b, theirs) for theirs, ours in names.items() if getattr(b, theirs) is not None
    }
    if "maxChangePercent" in given:
        changes["max_change_percent"] = b.maxChangePercent
    if b.minBidUsd is not None:
        # Bounded before it is scaled: 1E+999999 overflows Decimal's context.
        if not b.minBidUsd.is_finite() or not 0 <= b.minBidUsd <= MAX_BID_USD:
            raise _bad(f"must be a number from 0 to {MAX_BID_USD}", "bidding.minBidUsd")
        if micros_of(b.minBidUsd) != b.minBidUsd * 1_000_000:
            raise _bad("must be a number with at most 6 decimal places", "bidding.minBidUsd")
        changes["min_bid_micros"] = micros_of(b.minBidUsd)
    if b.retry is not None:
        if b.retry.maxAttempts is not None:
            changes["retry_max_attempts"] = b.retry.maxAttempts
        if b.retry.backoffMs is not None:
            changes["retry_backoff_ms"] = b.retry.backoffMs
    return replace(settings, **changes)


def network_json(n: Network) -> dict[str, Any]:
    s = n.settings
    return {
        "id": n.id,
        "name": n.name,
        "kind": n.kind.value,
        "baseUrl": n.base_url,
        "hasCredentials": n.has_credentials,
        "bidding": {
            "enabled": s.enabled,
            "campaignBidding": s.campaign_bidding,
            "adSetBidding": s.ad_set_bidding,
            "sourceIdBidding": s.source_id_bidding,
            "minBidUsd": float(usd(s.min_bid_micros)),
            "decimalPrecision": s.decimal_precision,
            "maxChangePercent": s.max_change_percent,
            "batchSize": s.batch_size,
            "concurrency": s.concurrency,
            "retry": {"maxAttempts": s.retry_max_attempts, "backoffMs": s.retry_backoff_ms},
        },
        "vendorAttributes": dict(n.vendor_attributes),
        "clientVendorAttributes": dict(n.client_vendor_attributes),
        "requiredAttributes": {
            "network": list(n.required.network),
            "client": list(n.required.client),
            "campaign": list(n.required.campaign),
        },
        "createdAt": utc_text(n.created_at),
        "updatedAt": utc_text(n.updated_at),
    }


def new_campaign() -> NetworkCampaign:
    return NetworkCampaign(
        id=0,
        account_id=0,
        network_id=0,
        name="",
        countries=frozenset(),
        optimization_type=OptimizationType.CPI,
        attributes={},
        external_id=None,
        campaign_id=None,
        created_at=_EPOCH,
        updated_at=_EPOCH,
    )


def campaign_changes(body: CampaignBody, current: NetworkCampaign) -> NetworkCampaign:
    given = body.model_fields_set
    campaign = current
    if body.name is not None:
        campaign = replace(campaign, name=body.name)
    if body.countries is not None:
        codes = [country_code(c, f"countries[{i}]") for i, c in enumerate(body.countries)]
        campaign = replace(campaign, countries=frozenset(codes))
    if body.optimizationType is not None:
        try:
            campaign = replace(campaign, optimization_type=OptimizationType(body.optimizationType))
        except ValueError:
            types = ", ".join(t.value for t in OptimizationType)
            raise _bad(f"must be one of {types}", "optimizationType") from None
    if "attributes" in given:
        campaign = replace(campaign, attributes=body.attributes or {})
    if "externalId" in given:
        campaign = replace(campaign, external_id=body.externalId)
    if "ownCampaignId" in given:
        campaign = replace(campaign, campaign_id=_own_campaign_id(body.ownCampaignId))
    return campaign


def _own_campaign_id(value: Any) -> int | None:
    """Our campaign's id as this surface writes ids (an integer), or as /v2/campaigns shows it
    (`cmp_…`), the only place a user sees it."""
    if isinstance(value, str):
        parsed = ids.parse("cmp", value)
        if parsed is None or parsed == 0:
            raise _bad(
                f"{value!r} is not a campaign id: give the cmp_… id /v2/campaigns shows, or an integer",
                "ownCampaignId",
            )
        return parsed
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID
    ):
        raise _bad(
            "must be a campaign id: the cmp_… id /v2/campaigns shows, or a positive 64-bit integer",
            "ownCampaignId",
        )
    return value


def _own_line_item_id(value: Any) -> int | None:
    """Our line item's id: an integer, or the numeric string the retail media API shows."""
    if isinstance(value, str):
        parsed = ids.from_decimal(value)
        if parsed is None or parsed == 0:
            raise _bad(
                f"{value!r} is not a line item id: give its id as the retail media API shows it",
                "ownLineItemId",
            )
        return parsed
    return _int(value, "ownLineItemId", optional=True)


def campaign_json(c: NetworkCampaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "networkId": c.network_id,
        "name": c.name,
        "countries": sorted(c.countries),
        "optimizationType": c.optimization_type.value,
        "attributes": dict(c.attributes),
        "externalId": c.external_id,
        "ownCampaignId": c.campaign_id,
        "createdAt": utc_text(c.created_at),
        "updatedAt": utc_text(c.updated_at),
    }


def new_ad_set() -> AdSet:
    return AdSet(
        id=0,
        account_id=0,
        network_id=0,
        network_campaign_id=0,
        name="",
        external_id=None,
        line_item_id=None,
        created_at=_EPOCH,
        updated_at=_EPOCH,
    )


def ad_set_changes(body: AdSetBody, current: AdSet) -> AdSet:
    given = body.model_fields_set
    ad_set = current
    if body.name is not None:
        ad_set = replace(ad_set, name=body.name)
    if "externalId" in given:
        ad_set = replace(ad_set, external_id=body.externalId)
    if "ownLineItemId" in given:
        ad_set = replace(ad_set, line_item_id=_own_line_item_id(body.ownLineItemId))
    return ad_set


def ad_set_json(a: AdSet) -> dict[str, Any]:
    return {
        "id": a.id,
        "networkId": a.network_id,
        "campaignId": a.network_campaign_id,
        "name": a.name,
        "externalId": a.external_id,
        "ownLineItemId": a.line_item_id,
        "createdAt": utc_text(a.created_at),
        "updatedAt": utc_text(a.updated_at),
    }
