"""/v2/campaigns: the seed's Campaign Management endpoints, plus the operator's manual review.

The two reads answer with bytes from orjson (no response-model validation or re-encoding on
the hot reads); money is rendered as the seed's decimal numbers by `schemas`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import BackgroundTasks, Depends, FastAPI, Query, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of, read
from auctera.api.middleware import send_error
from auctera.api.raw_routes import documented_route, served_raw
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import (
    CampaignCreate,
    CampaignUpdate,
    Day,
    DecimalJSONRoute,
    QueryInt,
    ReviewDecision,
    campaign_json,
    campaign_list_item,
)
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal, parse_account_id
from auctera.domain.campaigns import Campaign, CampaignStatus, CampaignType
from auctera.domain.dates import DatePreset
from auctera.errors import AucteraError, NotFound, ValidationFailed
from auctera.services.campaigns import MAX_PAGE, CampaignQuery, CampaignService

router = IndexedRouter(prefix="/v2", tags=["campaigns"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]
StatusFilter = Literal["pending_review", "active", "paused", "rejected", "archived", "all"]


def _service(request: Request) -> CampaignService:
    return container_of(request).campaigns


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _campaign_id(text: str) -> int:
    value = idfmt.parse("cmp", text)
    if value is None:
        raise NotFound(f"campaign {text} not found", field="campaign_id")
    return value


class _RenderedCampaigns:
    """The JSON of the campaigns served lately, by id. A campaign read again and found *equal* to
    the one rendered (a value comparison of the fresh read: never stale) is not rendered again,
    which is most of what GET /v2/campaigns/{id} would otherwise spend beyond its SELECT. Bounded
    (oldest out first); only the event loop touches it (the endpoint renders there)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._bodies: dict[int, tuple[Campaign, str, bytes]] = {}

    def body(self, campaign: Campaign, tracking_url: str) -> bytes:
        seen = self._bodies.get(campaign.id)
        if seen is not None and seen[0] == campaign and seen[1] == tracking_url:
            return seen[2]
        body = orjson.dumps(campaign_json(campaign, tracking_url))
        if seen is None and len(self._bodies) >= self._size:
            del self._bodies[next(iter(self._bodies))]
        self._bodies[campaign.id] = (campaign, tracking_url, body)
        return body


_rendered = _RenderedCampaigns(4096)


def _review_after_commit(tasks: BackgroundTasks, service: CampaignService, campaign: Campaign) -> None:
    # Runs once the response is sent, so the caller sees `pending_review` as the seed shows; a
    # restart in between leaves the campaign pending for `review_pending` to pick up.
    if campaign.status is CampaignStatus.PENDING_REVIEW:
        tasks.add_task(service.review, campaign.id)


@router.get("/campaigns", summary="List campaigns with performance figures")
def list_campaigns(
    request: Request,
    caller: Caller,
    status: Annotated[StatusFilter | None, Query(description="Default: every status but archived")] = None,
    type: CampaignType | None = None,
    date_range: Annotated[
        DatePreset | None, Query(description="Scopes spend, conversions, current_cpa, roas; default today")
    ] = None,
    start_date: Day | None = None,
    end_date: Day | None = None,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
    advertiser_id: Annotated[
        str | None, Query(description="Network keys: one advertiser's campaigns")
    ] = None,
) -> Response:
    advertiser = None
    if advertiser_id is not None:
        advertiser = parse_account_id(advertiser_id)
        if advertiser is None:
            raise ValidationFailed(f"not an account id: {advertiser_id}", field="advertiser_id")
    page = _service(request).list_campaigns(
        caller,
        CampaignQuery(
            status=None if status in (None, "all") else CampaignStatus(status),
            all_statuses=status == "all",
            type=type,
            advertiser_id=advertiser,
            date_range=date_range,
            start_date=start_date,
            end_date=end_date,
            limit=limit,
            cursor=cursor,
        ),
    )
    return _json(
        {
            "data": [campaign_list_item(c, page.performance.get(c.id)) for c in page.campaigns],
            "pagination": {"next_cursor": page.next_cursor, "limit": limit},
            "date_range": {"start_date": page.span.start.isoformat(), "end_date": page.span.end.isoformat()},
        }
    )


@router.get(
    "/campaigns/{campaign_id}",
    summary="Full configuration of one campaign",
)
async def get_campaign(request: Request, campaign_id: str, caller: Caller) -> Response:
    # Served by `campaign_route` in the app; declared here for the documentation and the tests.
    return Response(await _campaign_body(request, caller, campaign_id), media_type="application/json")


async def _campaign_body(request: Request, caller: Principal, campaign_id: str) -> bytes:
    # Async with an inline read (see `deps.read`): the hottest management read pays no thread hop.
    campaign = await read(request, _service(request).get, caller, _campaign_id(campaign_id))
    return _rendered.body(campaign, container_of(request).settings.tracking_url)


CAMPAIGN_PREFIX = "/v2/campaigns/"  # RootApp hands the paths under it to `campaign_route`


def campaign_route(api: FastAPI, *, require_https: bool) -> ASGIApp:
    """`GET /v2/campaigns/{id}`, the management API's busiest read, served raw (api/raw_routes.py):
    the same auth, answer and errors as `get_campaign`, which documents it. Deeper paths
    (`.../review`, `.../audiences`) and the other methods are FastAPI's."""
    documented = documented_route(router.routes, "/v2/campaigns/{campaign_id}", "GET")

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            caller = await bearer_principal(request)
            body = await _campaign_body(request, caller, scope["path"][len(CAMPAIGN_PREFIX) :])
        except AucteraError as exc:
            await send_error(api, scope, receive, send, exc)
            return
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    raw = served_raw(api, documented, "GET", handler, require_https=require_https)

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        text = scope["path"][len(CAMPAIGN_PREFIX) :]
        if not text or "/" in text:
            await api(scope, receive, send)
            return
        await raw(scope, receive, send)

    return route


@router.post("/campaigns", status_code=201, summary="Create a campaign; it enters pending_review")
def create_campaign(
    request: Request, body: CampaignCreate, caller: Caller, tasks: BackgroundTasks
) -> dict[str, Any]:
    advertiser = None
    if body.advertiser_id is not None:
        advertiser = parse_account_id(body.advertiser_id)
        if advertiser is None:
            raise NotFound(f"advertiser {body.advertiser_id} not found", field="advertiser_id")
    service = _service(request)
    campaign = service.create(caller, body.type, body.patch(), advertiser_id=advertiser)
    _review_after_commit(tasks, service, campaign)
    return {"success": True, "campaign_id": idfmt.render("cmp", campaign.id), "status": campaign.status.value}


@router.patch("/campaigns/{campaign_id}", summary="Change budget, targeting, bidding...; pause or resume")
def update_campaign(
    request: Request, campaign_id: str, body: CampaignUpdate, caller: Caller, tasks: BackgroundTasks
) -> dict[str, Any]:
    service = _service(request)
    status = CampaignStatus(body.status) if body.status is not None else None
    campaign = service.update(caller, _campaign_id(campaign_id), body.patch(), status)
    _review_after_commit(tasks, service, campaign)
    return {
        "success": True,
        "campaign_id": idfmt.render("cmp", campaign.id),
        "updated_fields": body.updated_fields(),
        "status": campaign.status.value,
    }


@router.delete("/campaigns/{campaign_id}", summary="Archive a campaign (terminal, idempotent)")
def archive_campaign(request: Request, campaign_id: str, caller: Caller) -> dict[str, Any]:
    campaign = _service(request).archive(caller, _campaign_id(campaign_id))
    return {"success": True, "campaign_id": idfmt.render("cmp", campaign.id), "status": campaign.status.value}


@router.post(
    "/campaigns/{campaign_id}/review",
    summary="Approve or reject a campaign by hand (network operator)",
)
def review_campaign(
    request: Request, campaign_id: str, body: ReviewDecision, caller: Caller
) -> dict[str, Any]:
    campaign = _service(request).decide(
        caller, _campaign_id(campaign_id), approve=body.decision == "approve", reasons=body.reasons
    )
    return {
        "success": True,
        "campaign_id": idfmt.render("cmp", campaign.id),
        "status": campaign.status.value,
        "reasons": list(campaign.review.reasons),
    }
