"""/v2/offers: the publisher's offer catalogue and tracking links (seed 000, "Affiliate & Network
Offers"). See docs/api-v2-offers.md.

The service is built per request from the container's parts: it holds no state of its own.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request, Response

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.programs import rate_terms
from auctera.api.v2.schemas import DecimalJSONRoute, QueryInt, money, number
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal, parse_account_id
from auctera.errors import ValidationFailed
from auctera.services.campaigns import DEFAULT_PAGE, MAX_PAGE
from auctera.services.channels import CHANNEL_PREFIX
from auctera.services.offers import OFFER_PREFIX, Offer, OfferService

router = IndexedRouter(prefix="/v2", tags=["offers"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]
PublisherParam = Annotated[
    str | None, Query(description="Network keys: the publisher (pub_…) to act for; required for them")
]
SubId = Annotated[str | None, Query(description="Up to 255 characters, passed back on the click")]


def _service(request: Request) -> OfferService:
    c = container_of(request)
    return OfferService(c.uow, c.clock, c.events, c.settings.tracking_url)


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _publisher_id(text: str | None) -> int | None:
    if text is None:
        return None
    value = parse_account_id(text)
    if value is None:
        raise ValidationFailed(f"not an account id: {text}", field="publisher_id")
    return value


def offer_json(o: Offer) -> dict[str, Any]:
    c = o.campaign
    currency = c.budget.currency
    return {
        "offer_id": idfmt.render(OFFER_PREFIX, c.id),
        "name": c.name,
        "advertiser": o.advertiser,
        "type": c.type.value,
        "payout": money(o.payout_micros),
        "currency": currency,
        "commissions": [rate_terms(t, currency) for t in o.commissions or ()],
        "epc": None if o.epc is None else number(o.epc),
        "geo": list(c.targeting.geo),
        "promotional_rules": list(c.promotional_rules),
    }


@router.get("/offers", summary="Offers open to the publisher, with payout and EPC")
def list_offers(
    request: Request,
    caller: Caller,
    geo: Annotated[
        str | None, Query(description="ISO 3166-1 alpha-2: offers allowing this country (worldwide included)")
    ] = None,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
    publisher_id: PublisherParam = None,
) -> Response:
    page = _service(request).list_offers(caller, geo, cursor, limit, publisher_id=_publisher_id(publisher_id))
    return _json(
        {
            "data": [offer_json(o) for o in page.offers],
            "pagination": {"next_cursor": page.next_cursor, "limit": limit},
        }
    )


@router.get("/offers/links", summary="The publisher's tracking link and impression pixel for an offer")
def offer_links(
    request: Request,
    caller: Caller,
    offer_id: Annotated[str, Query(description="off_… from GET /v2/offers")],
    sub_id1: SubId = None,
    sub_id2: SubId = None,
    sub_id3: SubId = None,
    sub_id4: SubId = None,
    sub_id5: SubId = None,
    publisher_id: PublisherParam = None,
    channel_id: Annotated[
        str | None, Query(description="chn_…: a link for this channel (it must be approved for the offer)")
    ] = None,
) -> Response:
    sub_ids = {
        "sub_id1": sub_id1,
        "sub_id2": sub_id2,
        "sub_id3": sub_id3,
        "sub_id4": sub_id4,
        "sub_id5": sub_id5,
    }
    links = _service(request).links(
        caller,
        idfmt.parse(OFFER_PREFIX, offer_id),
        sub_ids,
        publisher_id=_publisher_id(publisher_id),
        channel_id=None if channel_id is None else idfmt.parse(CHANNEL_PREFIX, channel_id),
        channel_given=channel_id is not None,
    )
    return _json({"tracking_url": links.tracking_url, "impression_pixel": links.impression_pixel})
