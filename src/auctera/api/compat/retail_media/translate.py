"""Pure translation between retail-media JSON and the domain: request bodies to writes (every
problem at once, named by the seed's attribute), states to resources, pages to `metadata`.

Money arrives as a JSON number or a numeric string ("1.00") and leaves as a JSON number written
from the integer micros (`orjson.Fragment`: exact, no float on the way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from auctera.domain.accounts import Account, AccountKind
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignStatus
from auctera.domain.ids import from_decimal
from auctera.domain.line_items import (
    AMOUNT_ATTRIBUTES,
    MAX_MICROS,
    BidStrategy,
    LineItemInvalid,
    LineItemSettings,
    LineItemState,
    LineItemStatus,
    Problem,
    attribute_problems,
)
from auctera.domain.money import to_micros
from auctera.services.line_items import LineItemWrite, RetailCampaign

from .schemas import (
    ACCOUNT_TYPE,
    CAMPAIGN_ACCEPTED,
    CAMPAIGN_TYPE,
    CAMPAIGN_WRITABLE,
    LINE_ITEM,
    PRODUCT_TYPE,
    Attribute,
    Kind,
    ReadOnly,
)

MICROS = Decimal(1_000_000)
_CENT = Decimal("0.01")
_MISSING = object()


# --- values ------------------------------------------------------------------------------------


def money(micros: int | None) -> orjson.Fragment | None:
    """12_345_000 -> 12.345, 5_000_000 -> 5.00: at least the cents, never a float."""
    if micros is None:
        return None
    value = Decimal(micros) / MICROS
    text = f"{value:.2f}" if value == value.quantize(_CENT) else format(value.normalize(), "f")
    return orjson.Fragment(text.encode())


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).replace(microsecond=0).isoformat()  # 2023-01-23T22:02:42+00:00


# A money string: ASCII digits with an optional fraction and exponent. Decimal() alone also takes
# "1_000", "NaN", "Infinity" and non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MAX_AMOUNT = Decimal(MAX_MICROS).scaleb(-6)


def _micros(value: Any, name: str, found: list[Problem]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        found.append(Problem(name, "invalid-number", f"{name} must be a number"))
        return None
    if isinstance(value, Decimal):  # a JSON number: the JSON grammar has checked its form
        amount = value
    else:
        text = str(value).strip()
        if not _NUMBER.fullmatch(text):
            found.append(Problem(name, "invalid-number", f"{name} must be a number, not {value!r}"))
            return None
        amount = Decimal(text)
    if not amount.is_finite():
        found.append(Problem(name, "invalid-number", f"{name} must be a number"))
        return None
    if amount.copy_abs() > _MAX_AMOUNT:  # compared, not multiplied: 1e999999999999 overflows
        found.append(Problem(name, "out-of-range", f"{name} must be at most {MAX_MICROS // 1_000_000}"))
        return None
    try:
        return to_micros(amount)  # exact: refuses a 7th decimal place, also 1e-999999999999's
    except ValueError:
        found.append(Problem(name, "invalid-number", f"{name} takes at most 6 decimal places"))
        return None


def _id(value: Any, name: str, found: list[Problem]) -> int | None:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    number = from_decimal(text) if isinstance(text, str) else None
    if number is not None:
        return number
    found.append(Problem(name, "invalid-id", f"{name} must be an int64 id as a string"))
    return None


# The seed's "Accepted Value: YYYY-MM-DD". date.fromisoformat (3.11) also takes "20260101" and
# ISO week dates ("2026-W49-1"), which are the same length or shorter.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# A campaign date: a date, or a datetime that starts with one (not a week or ordinal date).
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:T.*)?", re.ASCII | re.DOTALL)


def _date(value: Any, name: str, found: list[Problem]) -> date | None:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    found.append(Problem(name, "invalid-date", f"{name} must be a date YYYY-MM-DD"))
    return None


def _local_date(value: Any, name: str, tz: str, found: list[Problem]) -> date | None:
    """A campaign date: the SDKs send a datetime ("2025-01-01T00:00:00"), a date is taken too. An
    offset given is honoured: the date is the one it falls on in the account's time zone."""
    if isinstance(value, str) and _DATETIME.fullmatch(value):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            # Converting 0001-01-01T00:00+14:00 or 9999-12-31T23:00-14:00 leaves the calendar.
            return at.astimezone(ZoneInfo(tz)).date() if at.tzinfo else at.date()
        except (ValueError, OverflowError):
            pass
    found.append(Problem(name, "invalid-date", f"{name} must be a date or an ISO-8601 datetime"))
    return None


def parse_value(a: Attribute, value: Any, found: list[Problem]) -> Any:
    """The attribute's value in domain terms (micros, date, enum text); problems go to `found`."""
    if value is None:
        if not a.nullable:
            found.append(Problem(a.name, "not-nullable", f"{a.name} cannot be null"))
        return None
    if a.kind is Kind.MONEY:
        return _micros(value, a.name, found)
    if a.kind is Kind.ID:
        return _id(value, a.name, found)
    if a.kind is Kind.DATE:
        return _date(value, a.name, found)
    if a.kind is Kind.BOOL:
        if not isinstance(value, bool):
            found.append(Problem(a.name, "invalid-boolean", f"{a.name} must be true or false"))
        return value
    if a.kind is Kind.ENUM:
        if value not in a.values:
            found.append(Problem(a.name, "invalid-value", f"{a.name} must be one of {', '.join(a.values)}"))
            return None
        return value
    if not isinstance(value, str):
        found.append(Problem(a.name, "invalid-string", f"{a.name} must be a string"))
        return None
    return value


# --- request bodies ----------------------------------------------------------------------------


def _data(body: Any, found: list[Problem]) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        found.append(Problem("data", "invalid-body", 'the body must be {"data": {"attributes": {...}}}'))
        return {}
    return data


def _attributes(data: Mapping[str, Any], found: list[Problem]) -> dict[str, Any]:
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        found.append(Problem("data", "invalid-body", "data.attributes must be an object"))
        return {}
    return attributes


def _unknown(attributes: Mapping[str, Any], known: frozenset[str] | Mapping[str, Any]) -> list[Problem]:
    return [Problem(n, "unknown-attribute", f"unknown attribute '{n}'") for n in attributes if n not in known]


def line_item_write(body: Any, *, line_item_id: int | None = None) -> LineItemWrite:
    """A POST body (`line_item_id` None) or a PUT body. POST: omitted optional attributes take the
    seed's defaults. PUT: omitted nullable attributes become null, omitted required ones are an
    error, an omitted bidStrategy is kept. Raises LineItemInvalid naming every bad attribute."""
    creating = line_item_id is None
    found: list[Problem] = []
    data = _data(body, found)
    attributes = _attributes(data, found)
    if found:  # not the envelope: nothing else to say
        raise LineItemInvalid(found)
    found += _unknown(attributes, LINE_ITEM)
    if not creating and "id" in data and _id(data["id"], "id", []) != line_item_id:
        found.append(Problem("/data/id", "read-only", "id must be the line item in the path"))
    given: dict[str, Any] = {}
    for name, a in LINE_ITEM.items():
        if a.read_only is ReadOnly.IGNORED or name not in attributes:
            continue
        if name == "id" and creating:
            found.append(Problem("id", "read-only", "id is assigned by the server"))
            continue
        given[name] = parse_value(a, attributes[name], found)
    if name_value := given.get("name"):
        given["name"] = name_value.strip()
    for name, a in LINE_ITEM.items():
        required = a.required_on_create if creating else a.required_on_put
        if required and name not in attributes:
            found.append(Problem(name, "required", f"{name} is required"))
    if found:  # with what is wrong with each attribute that could be read, on its own
        named = {p.attribute for p in found}
        readable = {n: v for n, v in given.items() if n not in named and v is not None}
        amounts = {n: v for n, v in readable.items() if n in AMOUNT_ATTRIBUTES}
        raise LineItemInvalid(found + attribute_problems(readable.get("name"), **amounts))
    if "id" in given and given["id"] != line_item_id:
        raise LineItemInvalid([Problem("id", "read-only", "id must be the line item in the path")])
    defaults = LineItemSettings(name="", start_date=date.min)
    settings = LineItemSettings(
        name=given["name"],
        start_date=given["startDate"],
        end_date=given.get("endDate"),
        budget_micros=given.get("budget"),
        monthly_pacing_micros=given.get("monthlyPacing"),
        daily_pacing_micros=given.get("dailyPacing"),
        is_auto_daily_pacing=given.get("isAutoDailyPacing", defaults.is_auto_daily_pacing),
        bid_strategy=BidStrategy(given.get("bidStrategy", defaults.bid_strategy.value)),
        target_bid_micros=given.get("targetBid", defaults.target_bid_micros),
        max_bid_micros=given.get("maxBid"),
    )
    status = given.get("status")
    return LineItemWrite(
        settings=settings,
        status=LineItemStatus(status) if status else None,
        target_retailer_id=given.get("targetRetailerId"),
        campaign_id=given.get("campaignId"),
        keep_bid_strategy=not creating and "bidStrategy" not in attributes,
    )


def campaign_create(body: Any, tz: str) -> CampaignPatch:
    """POST /accounts/{accountId}/campaigns (PostCampaignV202301) as a retail_media campaign.
    budget is its lifetime cap, dailyPacing its daily cap."""
    found: list[Problem] = []
    attributes = _attributes(_data(body, found), found)
    if found:
        raise LineItemInvalid(found)
    found += _unknown(attributes, CAMPAIGN_WRITABLE | CAMPAIGN_ACCEPTED)
    name = attributes.get("name", _MISSING)
    if not isinstance(name, str):
        found.append(Problem("name", "required", "name is required"))
    if attributes.get("isAutoDailyPacing", False) is not False:
        found.append(
            Problem(
                "isAutoDailyPacing", "not-supported", "auto daily pacing is set on line items, not campaigns"
            )
        )
    if attributes.get("monthlyPacing") is not None:
        found.append(
            Problem("monthlyPacing", "not-supported", "monthly pacing is set on line items, not campaigns")
        )
    if attributes.get("type", "auction") != "auction":
        found.append(Problem("type", "not-supported", "only auction campaigns are offered"))
    total = _micros(attributes["budget"], "budget", found) if attributes.get("budget") is not None else None
    daily = (
        _micros(attributes["dailyPacing"], "dailyPacing", found)
        if attributes.get("dailyPacing") is not None
        else None
    )
    start = end = None
    if attributes.get("startDate") is not None:
        start = _local_date(attributes["startDate"], "startDate", tz, found)
    if attributes.get("endDate") is not None:
        end = _local_date(attributes["endDate"], "endDate", tz, found)
    if found:
        raise LineItemInvalid(found)
    assert isinstance(name, str)
    return CampaignPatch(
        name=name,
        budget=BudgetPatch(daily_micros=daily, total_micros=total),
        start_date=start,
        end_date=end,
    )


# Field names of the campaign checks (the /v2 names) as this surface calls them.
CAMPAIGN_FIELDS = {
    "budget": "budget",
    "budget.total": "budget",
    "budget.daily": "dailyPacing",
    "start_date": "startDate",
    "end_date": "endDate",
    "name": "name",
}
# The campaign checks are shared with /v2 and name no code of their own ("validation_error"):
# each field gets one of the 400 codes docs/api-retail-media.md lists.
_CAMPAIGN_CODES = {
    "name": "invalid-name",
    "budget": "required",  # neither a lifetime nor a daily cap
    "budget.total": "out-of-range",
    "budget.daily": "out-of-range",
    "start_date": "invalid-date-range",
    "end_date": "invalid-date-range",
}
# Their messages in this surface's attribute names.
_CAMPAIGN_WORDS = (
    ("a daily or a total budget", "budget or dailyPacing"),
    ("the daily budget", "dailyPacing"),
    ("the total budget", "budget"),
    ("start_date", "startDate"),
    ("end_date", "endDate"),
)


def campaign_problem(field: str | None, code: str, message: str) -> Problem:
    """A failed campaign check (a ValidationFailed of the campaign service) as this surface
    says it: its attribute, a documented code, the message without the /v2 field names."""
    attribute = CAMPAIGN_FIELDS.get(field or "", field) or "data"
    if code == "validation_error":
        code = _CAMPAIGN_CODES.get(field or "", "invalid-value")
    detail = message.removeprefix(f"{field}: ")
    if detail.startswith("must "):  # "budget.total: must be greater than zero"
        detail = f"{attribute} {detail}"
    for old, new in _CAMPAIGN_WORDS:
        detail = detail.replace(old, new)
    return Problem(attribute, code.replace("_", "-"), detail)


PRODUCT_ATTRIBUTES = frozenset({"id", "bidOverride", "status"})


def product_refs(body: Any) -> list[str]:
    """`{"data": [{"id": "<product id>", "type": ..., "attributes": {...}}]}`: the products named.
    Per-product bid overrides and paused products are not offered, so they are refused."""
    found: list[Problem] = []
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise LineItemInvalid([Problem("data", "invalid-body", 'the body must be {"data": [{"id": ...}]}')])
    refs: list[str] = []
    for i, item in enumerate(items):
        attributes = item.get("attributes") if isinstance(item, dict) else None
        attributes = attributes if isinstance(attributes, dict) else {}
        ref = item.get("id") if isinstance(item, dict) else None
        ref = attributes.get("id") if ref is None else ref
        if isinstance(ref, int) and not isinstance(ref, bool):
            ref = str(ref)
        if not isinstance(ref, str) or not ref.strip():
            found.append(Problem(f"/data/{i}/id", "invalid-id", "each product needs an id"))
            continue
        at = f"/data/{i}/attributes/"  # problems point into this product of the array
        if attributes.get("bidOverride") is not None:
            found.append(
                Problem(f"{at}bidOverride", "not-supported", "per-product bid overrides are not offered")
            )
        if attributes.get("status") not in (None, "active"):
            found.append(Problem(f"{at}status", "not-supported", "products cannot be paused one by one"))
        found += [replace(p, attribute=at + p.attribute) for p in _unknown(attributes, PRODUCT_ATTRIBUTES)]
        refs.append(ref.strip())
    if found:
        raise LineItemInvalid(found)
    return refs


# --- resources ---------------------------------------------------------------------------------


def line_item_resource(
    state: LineItemState, type_name: str, *, id_in_attributes: bool = False
) -> dict[str, Any]:
    item, s = state.item, state.item.settings
    attributes: dict[str, Any] = {
        "campaignId": str(item.campaign_id),
        "name": s.name,
        "targetRetailerId": str(item.target_retailer_id),
        "startDate": s.start_date.isoformat(),
        "endDate": s.end_date.isoformat() if s.end_date else None,
        "budget": money(s.budget_micros),
        "budgetSpent": money(state.spend.lifetime_micros),
        "budgetRemaining": money(state.budget_remaining_micros),
        "monthlyPacing": money(s.monthly_pacing_micros),
        "dailyPacing": money(state.daily_pacing_micros),
        "isAutoDailyPacing": s.is_auto_daily_pacing,
        "bidStrategy": s.bid_strategy.value,
        "targetBid": money(s.target_bid_micros),
        "maxBid": money(s.max_bid_micros),
        "status": state.status.value,
        "createdAt": timestamp(item.created_at),
        "updatedAt": timestamp(item.updated_at),
    }
    if id_in_attributes:  # as the seed's create example shows it
        attributes["id"] = str(item.id)
    return {"type": type_name, "id": str(item.id), "attributes": attributes}


def campaign_status(status: CampaignStatus, start: date | None, end: date | None, today: date) -> str:
    """CampaignV202301's statuses: active, inactive (paused, in review, rejected), scheduled,
    ended (after its end date, or archived)."""
    if status is CampaignStatus.ARCHIVED or (end is not None and today > end):
        return "ended"
    if status is not CampaignStatus.ACTIVE:
        return "inactive"
    if start is not None and today < start:
        return "scheduled"
    return "active"


def _local_midnight(day: date | None, tz: str) -> str | None:
    return datetime.combine(day, time(), ZoneInfo(tz)).isoformat() if day else None


def campaign_resource(found: RetailCampaign, tz: str, today: date) -> dict[str, Any]:
    """CampaignV202301, with every attribute some SDK version requires; the attribution windows,
    whose values differ between versions, are left out."""
    c = found.campaign
    total = c.budget.total_micros
    return {
        "type": CAMPAIGN_TYPE,
        "id": str(c.id),
        "attributes": {
            "accountId": str(c.account_id),
            "name": c.name,
            "type": "auction",
            "status": campaign_status(c.status, c.start_date, c.end_date, today),
            "startDate": _local_midnight(c.start_date, tz),
            "endDate": _local_midnight(c.end_date, tz),
            "budget": money(total),
            "budgetSpent": money(found.spend.lifetime_micros),
            "budgetRemaining": money(None if total is None else max(total - found.spend.lifetime_micros, 0)),
            "monthlyPacing": None,
            "dailyPacing": money(c.budget.daily_micros),
            "isAutoDailyPacing": False,
            "promotedBrandIds": [],
            "drawableBalanceIds": [],
            "createdAt": timestamp(c.created_at),
            "updatedAt": timestamp(c.updated_at),
        },
    }


_ACCOUNT_TYPES = {AccountKind.ADVERTISER: "demand", AccountKind.PUBLISHER: "supply"}


def account_resource(account: Account) -> dict[str, Any]:
    return {
        "type": ACCOUNT_TYPE,
        "id": str(account.id),
        "attributes": {
            "name": account.name,
            "type": _ACCOUNT_TYPES.get(account.kind, "unknown"),
            "subtype": "brand" if account.kind is AccountKind.ADVERTISER else None,
            "countries": [],
            "currency": account.currency,
            "parentAccountLabel": account.name,
            "timeZone": account.timezone,
            "companyName": account.name,
        },
    }


def legacy_product_resource(product_id: int) -> dict[str, Any]:
    """PromotedProduct202110 (API versions up to 2024-04)."""
    return {"id": str(product_id), "type": PRODUCT_TYPE, "attributes": {"bidOverride": None}}


def product_resource(product_id: int) -> dict[str, Any]:
    """PromotedProduct (API versions from 2024-07)."""
    return {
        "id": str(product_id),
        "type": PRODUCT_TYPE,
        "attributes": {"id": str(product_id), "bidOverride": None, "status": "active"},
    }


# --- pages -------------------------------------------------------------------------------------


def page_metadata(total: int, page_index: int, page_size: int, link: Callable[[int], str]) -> dict[str, Any]:
    """`metadata` of a list: a link to a page exists only when that page does (the 2023-10 to
    2024-04 SDKs type the links as non-nullable strings, so an absent one is left out)."""
    pages = math.ceil(total / page_size)
    meta: dict[str, Any] = {
        "totalItemsAcrossAllPages": total,
        "currentPageSize": page_size,
        "currentPageIndex": page_index,
        "totalPages": pages,
    }
    if page_index + 1 < pages:
        meta["nextPage"] = link(page_index + 1)
    if 0 < page_index <= pages:
        meta["previousPage"] = link(page_index - 1)
    return meta
