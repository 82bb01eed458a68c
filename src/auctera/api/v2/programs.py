"""/v2/programs: an advertiser's affiliate programs, their segments and commission types (seed
003's programs and commission types, managed natively). See docs/api-v2-programs.md.

A program's id is its campaign's, rendered `off_…` as /v2/offers does (`cmp_…` is accepted).
The service is built per request from the container's parts: it holds no state of its own.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response
from pydantic import Field

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import Amount, Count, DecimalJSONRoute, QueryInt, _Write, money, number
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.money import to_micros
from auctera.domain.programs import (
    MAX_CATEGORY_ID,
    MAX_COOKIE_DAYS,
    MAX_NAME,
    MAX_URL,
    PERCENT,
    CommissionType,
    ProgramStatus,
    PromotionMethod,
    Rate,
    Segment,
    TrackingType,
    transaction_type,
)
from auctera.errors import NotFound, ValidationFailed
from auctera.services.campaigns import DEFAULT_PAGE, MAX_PAGE
from auctera.services.offers import OFFER_PREFIX
from auctera.services.programs import (
    COMMISSION_PREFIX,
    RETAILER_PREFIX,
    SEGMENT_PREFIX,
    CommissionChanges,
    CommissionSpec,
    CommissionView,
    ProgramService,
    ProgramSettings,
    ProgramView,
    RateSpec,
)

router = IndexedRouter(prefix="/v2", tags=["programs"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]

_STATUSES = {"live": ProgramStatus.LIVE, "closing": ProgramStatus.CLOSING}
_TRACKING = {"pixel": TrackingType.PIXEL, "server_to_server": TrackingType.SERVER_TO_SERVER}
RateType = Annotated[
    str, Field(min_length=1, max_length=3, description='The program\'s currency code, or "%"')
]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


def _service(request: Request) -> ProgramService:
    c = container_of(request)
    return ProgramService(c.uow, c.ids, c.clock, c.events)


# --- requests ------------------------------------------------------------------------------------


class ProgramIn(_Write):
    market: str = Field(description="ISO 3166-1 alpha-2 country code of the program's market")
    status: Literal["live", "closing"] = "live"
    cookie_duration_days: Count = Field(default=30, ge=1, le=MAX_COOKIE_DAYS)
    promotion_methods: list[PromotionMethod] | None = Field(
        default=None, description="Allowed promotion methods; default: all of them"
    )
    category_id: Count | None = Field(default=None, ge=0, le=MAX_CATEGORY_ID)
    category_name: str | None = Field(default=None, max_length=MAX_NAME)
    program_url: str | None = Field(default=None, max_length=MAX_URL)
    logo_url: str | None = Field(default=None, max_length=MAX_URL)
    tracking_type: Literal["pixel", "server_to_server"] = "server_to_server"
    feed_ids: list[str] = Field(default_factory=list, description="ret_… retailers of the same advertiser")

    def settings(self) -> ProgramSettings:
        feeds = []
        for text in self.feed_ids:
            value = idfmt.parse(RETAILER_PREFIX, text)
            if value is None:
                raise ValidationFailed(f"not a retailer id: {text}", field="feed_ids", code="unknown_feed")
            feeds.append(value)
        methods = frozenset(PromotionMethod) if self.promotion_methods is None else self.promotion_methods
        return ProgramSettings(
            market=self.market,
            status=_STATUSES[self.status],
            cookie_duration_days=self.cookie_duration_days,
            promotion_methods=frozenset(methods),
            category_id=self.category_id,
            category_name=self.category_name,
            program_url=self.program_url,
            logo_url=self.logo_url,
            tracking_type=_TRACKING[self.tracking_type],
            feed_ids=tuple(feeds),
        )


class SegmentIn(_Write):
    name: Name


class CategoryIn(_Write):
    category: Name
    type: RateType
    value: Amount = Field(ge=0)


class ThresholdIn(_Write):
    order_value: Amount = Field(ge=0, description="Orders of at least this value, in the program's currency")
    type: RateType
    value: Amount = Field(ge=0)


def _rate(type: str, value: Decimal) -> RateSpec:
    return RateSpec(type, to_micros(value))


def _categories(items: list[CategoryIn]) -> tuple[tuple[str, RateSpec], ...]:
    return tuple((c.category, _rate(c.type, c.value)) for c in items)


def _thresholds(items: list[ThresholdIn]) -> tuple[tuple[int, RateSpec], ...]:
    return tuple((to_micros(t.order_value), _rate(t.type, t.value)) for t in items)


class CommissionIn(_Write):
    segment_id: str | None = Field(default=None, description="seg_…; default: the standard segment")
    name: Name
    event_type: str = Field(min_length=1, max_length=64, description="purchase, lead, sign_up, install, ...")
    type: RateType
    value: Amount = Field(ge=0)
    categories: list[CategoryIn] = Field(default_factory=list)
    thresholds: list[ThresholdIn] = Field(default_factory=list)

    def spec(self) -> CommissionSpec:
        return CommissionSpec(
            name=self.name,
            event_type=self.event_type,
            rate=_rate(self.type, self.value),
            categories=_categories(self.categories),
            thresholds=_thresholds(self.thresholds),
            segment_id=None if self.segment_id is None else _body_segment(self.segment_id),
        )


class CommissionPatch(_Write):
    segment_id: str | None = None
    name: Name | None = None
    event_type: str | None = Field(default=None, min_length=1, max_length=64)
    type: RateType | None = None
    value: Amount | None = Field(default=None, ge=0)
    categories: list[CategoryIn] | None = None
    thresholds: list[ThresholdIn] | None = None

    def changes(self) -> CommissionChanges:
        return CommissionChanges(
            name=self.name,
            event_type=self.event_type,
            type=self.type,
            value_micros=None if self.value is None else to_micros(self.value),
            categories=None if self.categories is None else _categories(self.categories),
            thresholds=None if self.thresholds is None else _thresholds(self.thresholds),
            segment_id=None if self.segment_id is None else _body_segment(self.segment_id),
        )


# --- ids -------------------------------------------------------------------------------------------


def _program_id(text: str, field: str = "program_id") -> int:
    value = idfmt.parse(OFFER_PREFIX, text)
    if value is None:
        value = idfmt.parse("cmp", text)
    if value is None:
        raise NotFound(f"program {text} not found", field=field)
    return value


def _segment_id(text: str) -> int:
    value = idfmt.parse(SEGMENT_PREFIX, text)
    if value is None:
        raise NotFound(f"segment {text} not found", field="segment_id")
    return value


def _body_segment(text: str) -> int:
    value = idfmt.parse(SEGMENT_PREFIX, text)
    if value is None:
        raise ValidationFailed(f"not a segment id: {text}", field="segment_id")
    return value


def _commission_id(text: str) -> int:
    value = idfmt.parse(COMMISSION_PREFIX, text)
    if value is None:
        raise NotFound(f"commission type {text} not found", field="commission_id")
    return value


# --- responses ---------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _type(rate: Rate, currency: str) -> str:
    return PERCENT if rate.percent else currency


def segment_json(s: Segment) -> dict[str, Any]:
    return {
        "segment_id": idfmt.render(SEGMENT_PREFIX, s.id),
        "name": s.name,
        "standard": s.standard,
        "created_at": _iso(s.created_at),
    }


def program_json(v: ProgramView) -> dict[str, Any]:
    p = v.program
    return {
        "program_id": idfmt.render(OFFER_PREFIX, p.id),
        "campaign_id": idfmt.render("cmp", p.id),
        "name": v.campaign.name,
        "currency": v.currency,
        "market": p.market,
        "status": p.status.name.lower(),
        "cookie_duration_days": p.cookie_duration_days,
        "promotion_methods": sorted(m.value for m in p.promotion_methods),
        "category_id": p.category_id,
        "category_name": p.category_name,
        "program_url": p.program_url,
        "logo_url": p.logo_url,
        "tracking_type": p.tracking_type.name.lower(),
        "feed_ids": [idfmt.render(RETAILER_PREFIX, f) for f in p.feed_ids],
        "epc": None if v.epc is None else number(v.epc),
        "segments": [segment_json(s) for s in v.segments],
        "created_at": _iso(p.created_at),
        "updated_at": _iso(p.updated_at),
    }


def rate_terms(c: CommissionType, currency: str) -> dict[str, Any]:
    """What a commission type pays, in the shape it is written in (seed 003's `type`: the
    currency code for a fixed amount or "%" of the order value, and `value`), so the advertiser
    writing terms and the publisher reading them at /v2/offers see the same fields."""
    return {
        "name": c.name,
        "event_type": c.event_type,
        "type": _type(c.rate, currency),
        "value": money(c.rate.micros),
        "categories": [
            {"category": x.category, "type": _type(x.rate, currency), "value": money(x.rate.micros)}
            for x in c.categories
        ],
        "thresholds": [
            {
                "order_value": money(t.order_value_micros),
                "type": _type(t.rate, currency),
                "value": money(t.rate.micros),
            }
            for t in sorted(c.thresholds, key=lambda t: t.order_value_micros)
        ],
    }


def commission_json(v: CommissionView) -> dict[str, Any]:
    c: CommissionType = v.commission
    return {
        "commission_id": idfmt.render(COMMISSION_PREFIX, c.id),
        "program_id": idfmt.render(OFFER_PREFIX, c.program_id),
        "segment_id": idfmt.render(SEGMENT_PREFIX, c.segment_id),
        "segment": v.segment.name,
        **rate_terms(c, v.currency),
        "transaction_type": transaction_type(c.event_type),
        "created_at": _iso(c.created_at),
    }


# --- programs ----------------------------------------------------------------------------------


@router.put("/programs/{offer_id}", summary="Create or replace an affiliate campaign's program settings")
def put_program(
    request: Request, offer_id: str, body: ProgramIn, caller: Caller, response: Response
) -> dict[str, Any]:
    view, created = _service(request).put(caller, _program_id(offer_id, "offer_id"), body.settings())
    response.status_code = 201 if created else 200
    return program_json(view)


@router.get("/programs", summary="The caller's programs, newest first")
def list_programs(
    request: Request,
    caller: Caller,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    page = _service(request).list_programs(caller, cursor, limit)
    return {
        "data": [program_json(v) for v in page.programs],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }


@router.get("/programs/{program_id}", summary="One program, with its segments and EPC")
def get_program(request: Request, program_id: str, caller: Caller) -> dict[str, Any]:
    return program_json(_service(request).get(caller, _program_id(program_id)))


# --- segments ----------------------------------------------------------------------------------


@router.get("/programs/{program_id}/segments", summary="The program's segments, the standard one first")
def list_segments(request: Request, program_id: str, caller: Caller) -> dict[str, Any]:
    segments = _service(request).segments(caller, _program_id(program_id))
    return {"data": [segment_json(s) for s in segments]}


@router.post("/programs/{program_id}/segments", status_code=201, summary="Add a segment (e.g. Gold)")
def add_segment(request: Request, program_id: str, body: SegmentIn, caller: Caller) -> dict[str, Any]:
    return segment_json(_service(request).add_segment(caller, _program_id(program_id), body.name))


@router.patch("/programs/{program_id}/segments/{segment_id}", summary="Rename a segment")
def rename_segment(
    request: Request, program_id: str, segment_id: str, body: SegmentIn, caller: Caller
) -> dict[str, Any]:
    segment = _service(request).rename_segment(
        caller, _program_id(program_id), _segment_id(segment_id), body.name
    )
    return segment_json(segment)


@router.delete(
    "/programs/{program_id}/segments/{segment_id}",
    summary="Delete a segment and its commission types; its channels fall back to the standard segment",
)
def delete_segment(request: Request, program_id: str, segment_id: str, caller: Caller) -> dict[str, Any]:
    _service(request).delete_segment(caller, _program_id(program_id), _segment_id(segment_id))
    return {"success": True, "segment_id": segment_id}


# --- commission types --------------------------------------------------------------------------


@router.get("/programs/{program_id}/commissions", summary="The program's commission types")
def list_commissions(
    request: Request,
    program_id: str,
    caller: Caller,
    segment_id: Annotated[str | None, Query(description="seg_…: one segment's; default: all")] = None,
) -> dict[str, Any]:
    segment = None if segment_id is None else _segment_id(segment_id)
    found = _service(request).commissions(caller, _program_id(program_id), segment)
    return {"data": [commission_json(v) for v in found]}


@router.post("/programs/{program_id}/commissions", status_code=201, summary="Add a commission type")
def add_commission(request: Request, program_id: str, body: CommissionIn, caller: Caller) -> dict[str, Any]:
    return commission_json(_service(request).add_commission(caller, _program_id(program_id), body.spec()))


@router.patch("/programs/{program_id}/commissions/{commission_id}", summary="Change a commission type")
def update_commission(
    request: Request, program_id: str, commission_id: str, body: CommissionPatch, caller: Caller
) -> dict[str, Any]:
    changed = _service(request).update_commission(
        caller, _program_id(program_id), _commission_id(commission_id), body.changes()
    )
    return commission_json(changed)


@router.delete("/programs/{program_id}/commissions/{commission_id}", summary="Delete a commission type")
def delete_commission(
    request: Request, program_id: str, commission_id: str, caller: Caller
) -> dict[str, Any]:
    _service(request).delete_commission(caller, _program_id(program_id), _commission_id(commission_id))
    return {"success": True, "commission_id": commission_id}
