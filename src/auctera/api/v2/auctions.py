"""/v2: the retailer's sponsored-product decision, and the auction log.

`POST /v2/retailers/{retailer_id}/sponsored-products` runs the open auction among the line items
targeting the retailer for one page (search, category or product page) and answers the winning
products with their click, impression and viewable URLs. `GET /v2/auctions/{auction_id}` explains
an auction: the account that ran it sees every candidate; an advertiser its own line items only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.json_body import json_number
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import Amount, Count, DecimalJSONRoute, _Write, money
from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal, render_account_id
from auctera.domain.auction import Pricing
from auctera.domain.audiences import member_key
from auctera.domain.campaigns import MAX_MICROS
from auctera.domain.identifiers import InvalidIdentifier
from auctera.domain.ids import from_decimal
from auctera.domain.money import MICROS, to_micros
from auctera.errors import NotFound, ValidationFailed
from auctera.services.auctions import (
    AUCTION_PREFIX,
    MAX_SLOTS,
    AuctionLog,
    Decision,
    DecisionRequest,
    Served,
)
from auctera.services.page_targeting import Page, PageType

router = IndexedRouter(prefix="/v2", tags=["auctions"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]
MAX_RESERVE = Decimal(MAX_MICROS) / MICROS  # as for campaign budgets: a billion currency units
_PAGE_FIELD = {PageType.SEARCH: "keywords", PageType.CATEGORY: "category", PageType.PRODUCT: "product_id"}


class PageIn(_Write):
    type: Literal["search", "category", "product"]
    keywords: str | None = Field(default=None, max_length=500, description="search pages: the query")
    category: str | None = Field(
        default=None, max_length=255, description='category pages: e.g. "Shoes > Running"'
    )
    product_id: str | None = Field(
        default=None, max_length=255, description="product pages: the retailer's product id (feed id)"
    )


class UserIn(_Write):
    ip: str | None = Field(default=None, max_length=64, description="the shopper's IP address")
    user_agent: str | None = Field(default=None, max_length=1024, description="the shopper's User-Agent")
    # Audience targeting (docs/api-v2-audiences.md): who the shopper is, as far as the page knows.
    uid: str | None = Field(default=None, max_length=128, description="the visitor id of our tracking events")
    email_sha256: str | None = Field(
        default=None, max_length=64, description="SHA-256 of the normalised email"
    )
    phone_sha256: str | None = Field(default=None, max_length=64, description="SHA-256 of the E.164 phone")
    maid: str | None = Field(default=None, max_length=36, description="mobile advertising id (IDFA/GAID)")


class DecisionIn(_Write):
    page: PageIn
    # Strict: a retailer's server sending "2" has a bug to see, not a guess made for it.
    slots: Count = Field(default=1, ge=1, le=MAX_SLOTS)
    placement: str = Field(default="default", min_length=1, max_length=64)
    # A JSON number: `"0.5"` (or `true`) is a mistake in the retailer's code, not 0.5.
    reserve: Annotated[Amount, BeforeValidator(json_number)] | None = Field(
        default=None, ge=0, le=MAX_RESERVE, description="lowest price per click a slot sells for"
    )
    pricing: Pricing = Pricing.SECOND_PRICE
    user: UserIn | None = None


def _decision_request(body: DecisionIn) -> DecisionRequest:
    kind = PageType(body.page.type)
    needed = _PAGE_FIELD[kind]
    if not (getattr(body.page, needed) or "").strip():
        raise ValidationFailed(f"a {kind.value} page needs page.{needed}", field=f"page.{needed}")
    user = body.user or UserIn()
    return DecisionRequest(
        page=Page(kind, body.page.keywords, body.page.category, body.page.product_id),
        slots=body.slots,
        placement=body.placement,
        reserve_micros=to_micros(body.reserve or Decimal(0)),
        pricing=body.pricing,
        ip=user.ip,
        user_agent=user.user_agent,
        uid=user.uid or None,
        identifiers=_user_keys(user),
    )


def _user_keys(user: UserIn) -> tuple[str, ...]:
    keys = []
    for kind in ("email_sha256", "phone_sha256", "maid"):
        value = getattr(user, kind)
        if value:
            try:
                keys.append(member_key(kind, value))
            except InvalidIdentifier as exc:
                raise ValidationFailed(exc.reason, field=f"user.{kind}") from None
    return tuple(keys)


def served_json(s: Served) -> dict[str, Any]:
    p = s.product
    return {
        "slot": s.slot,
        "product": {
            "product_id": idfmt.render("prd", p.id),
            "retailer_id": idfmt.render("ret", p.retailer_id),
            "external_id": p.external_id,
            "name": p.name,
            "price": money(p.price_micros),
            "currency": p.currency,
            "url": p.url,
            "image_url": p.image_url,
            "in_stock": p.in_stock,
            "category": p.category,
            "brand": p.brand,
        },
        "line_item_id": str(s.bidder.line_item_id) if s.bidder.line_item_id else None,
        "click_url": s.urls.click,
        "impression_url": s.urls.impression.replace("&r={RAND}", ""),
        "viewable_url": s.urls.viewable.replace("&r={RAND}", ""),
    }


def decision_json(d: Decision) -> dict[str, Any]:
    return {
        "auction_id": idfmt.render(AUCTION_PREFIX, d.auction_id),
        "products": [served_json(s) for s in d.served],
    }


def _auction_id(text: str) -> int:
    """`au_<base36>` (sponsored products) or the digits of a SmartLink auction result id."""
    value = from_decimal(text) if text.isdigit() else idfmt.parse(AUCTION_PREFIX, text)
    if value is None:
        raise NotFound(f"auction {text} not found", field="auction_id")
    return value


# The log's ids as the rest of /v2 renders them; line items keep the numbers the retail-media
# surface gives them, SmartLinks the auction ids of their links.
_PREFIXES = {"product_id": "prd", "campaign_id": "cmp", "retailer_id": "ret"}


def _rendered(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key, prefix in _PREFIXES.items():
        if out.get(key) is not None:
            out[key] = idfmt.render(prefix, int(out[key]))
    if out.get("account_id") is not None:  # a bidder: an advertiser
        out["account_id"] = render_account_id(AccountKind.ADVERTISER, int(out["account_id"]))
    return out


def log_json(log: AuctionLog, rendered_id: str) -> dict[str, Any]:
    return {
        "auction_id": rendered_id,
        "at": log.at.isoformat(),
        "placement": _rendered(log.placement),
        "ivt": log.ivt,
        "complete": log.complete,
        "winners": [_rendered(w) for w in log.winners],
        "candidates": [_rendered(c) for c in log.candidates],
    }


@router.post(
    "/retailers/{retailer_id}/sponsored-products",
    summary="Sponsored products for one retailer page (runs the open auction)",
)
def sponsored_products(
    request: Request, retailer_id: str, body: DecisionIn, caller: Caller
) -> dict[str, Any]:
    value = idfmt.parse("ret", retailer_id)
    if value is None:
        raise NotFound(f"retailer {retailer_id} not found", field="retailer_id")
    decision = container_of(request).auctions.decide(caller, value, _decision_request(body))
    return decision_json(decision)


@router.get("/auctions/{auction_id}", summary="Why an auction was won and lost, per candidate")
async def get_auction(request: Request, auction_id: str, caller: Caller) -> dict[str, Any]:
    value = _auction_id(auction_id)
    try:
        log = await run_in_threadpool(container_of(request).auctions.auction_log, caller, value)
    except NotFound:  # named as the caller wrote it, not by the number inside
        raise NotFound(f"auction {auction_id} not found", field="auction_id") from None
    return log_json(log, auction_id)
