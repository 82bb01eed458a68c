"""/v2/smartlinks: a publisher's SmartLinks (seed 002): create, list, read, archive.

A SmartLink's id is its auction id, the number at the end of `<tracking host>/s/<auction id>`,
rendered as a numeric string as the seed shows it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import Field

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import DecimalJSONRoute, QueryInt, _Write
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.ids import from_decimal
from auctera.errors import NotFound, ValidationFailed
from auctera.services.ports import SmartLink
from auctera.services.smartlinks import MAX_PAGE, SmartLinkCreate, SmartLinkService

router = IndexedRouter(prefix="/v2", tags=["smartlinks"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]
SMARTLINK_PATH = "/s/"


class SmartLinkIn(_Write):
    product_url: str | None = Field(default=None, description="a product page at a merchant we know")
    product_id: str | None = Field(default=None, description="our product id (prd_…)")
    ean: str | None = Field(default=None, description="EAN-13 (or any GTIN)")
    gtin: str | None = Field(default=None, description="GTIN-8/12/13/14 (UPC, EAN)")
    name: str | None = Field(default=None, description="for your own listings")
    fallback_url: str | None = Field(
        default=None, description="where the link goes when no merchant bids; default: the product page"
    )


def smartlink_json(link: SmartLink, tracking_url: str) -> dict[str, Any]:
    return {
        "auction_id": str(link.id),
        "smartlink": f"{tracking_url.rstrip('/')}{SMARTLINK_PATH}{link.id}",
        "name": link.name,
        "product_id": idfmt.render("prd", link.product_id) if link.product_id else None,
        "product_url": link.product_url,
        "gtin": link.gtin,
        "match_key": link.match_key,
        "fallback_url": link.fallback_url,
        "status": "archived" if link.archived_at else "active",
        "created_at": link.created_at.isoformat(),
        "archived_at": link.archived_at.isoformat() if link.archived_at else None,
    }


def _service(request: Request) -> SmartLinkService:
    return container_of(request).smartlinks


def _link_id(text: str) -> int:
    value = from_decimal(text)
    if value is None:
        raise NotFound(f"SmartLink {text} not found", field="auction_id")
    return value


def _create_body(body: SmartLinkIn) -> SmartLinkCreate:
    if body.ean is not None and body.gtin is not None:
        raise ValidationFailed("send ean or gtin, not both", field="gtin")
    product_id = None
    if body.product_id is not None:
        text = body.product_id
        product_id = from_decimal(text) if text.isdigit() else idfmt.parse("prd", text)
        if product_id is None:
            raise ValidationFailed(f"product {text} not found", field="product_id")
    return SmartLinkCreate(
        product_id=product_id,
        product_url=body.product_url,
        gtin=body.ean if body.ean is not None else body.gtin,
        gtin_field="ean" if body.ean is not None else "gtin",
        name=body.name,
        fallback_url=body.fallback_url,
    )


@router.post("/smartlinks", status_code=201, summary="Create a SmartLink (publisher keys)")
def create_smartlink(request: Request, body: SmartLinkIn, caller: Caller) -> dict[str, Any]:
    link = _service(request).create(caller, _create_body(body))
    return smartlink_json(link, container_of(request).settings.tracking_url)


@router.get("/smartlinks", summary="The caller's SmartLinks, newest first")
def list_smartlinks(
    request: Request,
    caller: Caller,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
    include_archived: bool = False,
) -> dict[str, Any]:
    page = _service(request).list(caller, limit=limit, cursor=cursor, include_archived=include_archived)
    tracking_url = container_of(request).settings.tracking_url
    return {
        "data": [smartlink_json(link, tracking_url) for link in page.links],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }


@router.get("/smartlinks/{auction_id}", summary="One SmartLink")
def get_smartlink(request: Request, auction_id: str, caller: Caller) -> dict[str, Any]:
    link = _service(request).get(caller, _link_id(auction_id))
    return smartlink_json(link, container_of(request).settings.tracking_url)


@router.delete("/smartlinks/{auction_id}", summary="Archive a SmartLink: it then goes to its fallback URL")
def archive_smartlink(request: Request, auction_id: str, caller: Caller) -> dict[str, Any]:
    container = container_of(request)
    link = _service(request).archive(caller, _link_id(auction_id))
    container.auctions.forget_smartlink(link.id)
    return smartlink_json(link, container.settings.tracking_url)
