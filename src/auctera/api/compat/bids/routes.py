"""`/management/v0/...` with `X-API-KEY`: the bids with the status of their latest operation,
bid uploads (seed 001), and the hierarchy they live in (networks, network campaigns, ad sets).

Bodies are parsed here by hand (translate.py), not by FastAPI, so numbers stay exact decimals
and a bad body answers 400 `{"error"}` naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from auctera.api.auth import api_key_principal
from auctera.api.deps import container_of, read
from auctera.api.errors import register_envelope
from auctera.api.json_body import parse_json
from auctera.api.responses import OrjsonResponse
from auctera.api.routing import IndexedRouter
from auctera.domain.accounts import Principal
from auctera.domain.ids import from_decimal
from auctera.errors import AucteraError, NotFound
from auctera.services.bid_sync import BidSyncStatus
from auctera.services.bids import BidService, paused_collector

from . import translate
from .envelope import PREFIX, bids_envelope
from .schemas import AdSetBody, CampaignBody, NetworkBody

router = IndexedRouter(prefix=PREFIX.rstrip("/"), tags=["bid management (seed 001)"])
register_envelope(PREFIX, bids_envelope)
MAX_STUCK = 1000


def _service(request: Request) -> BidService:
    c = container_of(request)
    return BidService(c.uow, c.ids, c.clock, c.partner_targets)


def _path_id(value: str, name: str) -> int:
    number = from_decimal(value)
    if number:  # ids start at 1
        return number
    raise NotFound(f"{name} {value} not found", field=name)


async def _body(request: Request) -> Any:
    raw = await request.body()
    return parse_json(raw) if raw.strip() else None


def _required(body: Any, *names: str) -> None:
    for name in names:
        if getattr(body, name) is None:
            raise AucteraError(f"'{name}' is required", field=name, code="validation_error")


# --- bids ---------------------------------------------------------------------------------------


@router.post("/bids", summary="Fetch current bids with the status of their latest operation")
async def list_bids(request: Request, principal: Principal = Depends(api_key_principal)) -> Any:
    offset, limit, found = translate.page_and_filter(await _body(request))
    bids = await read(request, _service(request).bids, principal, found, offset=offset, limit=limit)
    return OrjsonResponse([translate.bid_json(b) for b in bids])


@router.get("/bids/operations", summary="Bid operations still pending past the settle bound (stuck)")
async def stuck_operations(
    request: Request,
    status: str = "stuck",
    limit: str = "100",  # read here, not by FastAPI: a bad one is this surface's 400, not a 422
    principal: Principal = Depends(api_key_principal),
) -> Any:
    if status != "stuck":
        raise AucteraError(
            "status must be stuck (the operations pending past the settle bound)", field="status"
        )
    count = from_decimal(limit)
    if count is None or not 1 <= count <= MAX_STUCK:
        raise AucteraError(f"limit must be from 1 to {MAX_STUCK}", field="limit")
    c = container_of(request)
    view = BidSyncStatus(c.uow, c.clock, timedelta(seconds=c.settings.bid_settle_seconds))
    stuck = await read(request, view.stuck, principal.account_id, limit=count)
    return OrjsonResponse([translate.stuck_json(o, b) for o, b in stuck])


@router.post("/bids/upload", status_code=204, response_class=Response, summary="Upload a batch of bids")
async def upload_bids(request: Request, principal: Principal = Depends(api_key_principal)) -> Response:
    with paused_collector():  # from the parse on: 100k rows make it a third of the work
        rows = translate.upload_rows(await _body(request))
        result = await run_in_threadpool(_service(request).upload, principal, rows)
    if result.rejections:
        return OrjsonResponse(translate.rejected_json(result.rejections, len(rows)), status_code=400)
    return Response(status_code=204)


# --- networks -----------------------------------------------------------------------------------


@router.post("/networks", status_code=201, summary="Create a network (an ad network you bid on)")
async def create_network(request: Request, principal: Principal = Depends(api_key_principal)) -> Any:
    body = translate.parse(NetworkBody, await _body(request))
    _required(body, "name", "kind")
    draft = translate.network_changes(body, translate.new_network())
    network = await run_in_threadpool(_service(request).create_network, principal, draft)
    return OrjsonResponse(translate.network_json(network), status_code=201)


@router.get("/networks", summary="Your networks")
async def networks(request: Request, principal: Principal = Depends(api_key_principal)) -> Any:
    found = await read(request, _service(request).networks, principal)
    return OrjsonResponse([translate.network_json(n) for n in found])


@router.get("/networks/{networkId}", summary="A network")
async def network(request: Request, networkId: str, principal: Principal = Depends(api_key_principal)) -> Any:
    found = await read(request, _service(request).network, principal, _path_id(networkId, "networkId"))
    return OrjsonResponse(translate.network_json(found))


@router.patch("/networks/{networkId}", summary="Change a network's settings")
async def update_network(
    request: Request, networkId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    network_id = _path_id(networkId, "networkId")
    service = _service(request)
    await read(request, service.network, principal, network_id)  # 404 before the body is judged
    body = translate.parse(NetworkBody, await _body(request))
    updated = await run_in_threadpool(
        service.update_network, principal, network_id, lambda n: translate.network_changes(body, n)
    )
    return OrjsonResponse(translate.network_json(updated))


# --- network campaigns --------------------------------------------------------------------------


@router.post("/networks/{networkId}/campaigns", status_code=201, summary="Create a campaign on a network")
async def create_campaign(
    request: Request, networkId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    network_id = _path_id(networkId, "networkId")
    service = _service(request)
    await read(request, service.network, principal, network_id)
    body = translate.parse(CampaignBody, await _body(request))
    _required(body, "name", "countries", "optimizationType")
    draft = translate.campaign_changes(body, translate.new_campaign())
    campaign = await run_in_threadpool(service.create_campaign, principal, network_id, draft)
    return OrjsonResponse(translate.campaign_json(campaign), status_code=201)


@router.get("/networks/{networkId}/campaigns", summary="A network's campaigns")
async def campaigns(
    request: Request, networkId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    found = await read(request, _service(request).campaigns, principal, _path_id(networkId, "networkId"))
    return OrjsonResponse([translate.campaign_json(c) for c in found])


@router.get("/campaigns/{networkCampaignId}", summary="A network campaign")
async def campaign(
    request: Request, networkCampaignId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    campaign_id = _path_id(networkCampaignId, "campaignId")
    found = await read(request, _service(request).campaign, principal, campaign_id)
    return OrjsonResponse(translate.campaign_json(found))


@router.patch("/campaigns/{networkCampaignId}", summary="Change a network campaign")
async def update_campaign(
    request: Request, networkCampaignId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    campaign_id = _path_id(networkCampaignId, "campaignId")
    service = _service(request)
    await read(request, service.campaign, principal, campaign_id)
    body = translate.parse(CampaignBody, await _body(request))
    updated = await run_in_threadpool(
        service.update_campaign, principal, campaign_id, lambda c: translate.campaign_changes(body, c)
    )
    return OrjsonResponse(translate.campaign_json(updated))


# --- ad sets ------------------------------------------------------------------------------------


@router.post("/campaigns/{networkCampaignId}/ad-sets", status_code=201, summary="Create an ad set")
async def create_ad_set(
    request: Request, networkCampaignId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    campaign_id = _path_id(networkCampaignId, "campaignId")
    service = _service(request)
    await read(request, service.campaign, principal, campaign_id)
    body = translate.parse(AdSetBody, await _body(request))
    _required(body, "name")
    draft = translate.ad_set_changes(body, translate.new_ad_set())
    ad_set = await run_in_threadpool(service.create_ad_set, principal, campaign_id, draft)
    return OrjsonResponse(translate.ad_set_json(ad_set), status_code=201)


@router.get("/campaigns/{networkCampaignId}/ad-sets", summary="A network campaign's ad sets")
async def ad_sets(
    request: Request, networkCampaignId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    campaign_id = _path_id(networkCampaignId, "campaignId")
    found = await read(request, _service(request).ad_sets, principal, campaign_id)
    return OrjsonResponse([translate.ad_set_json(a) for a in found])


@router.get("/ad-sets/{adSetId}", summary="An ad set")
async def ad_set(request: Request, adSetId: str, principal: Principal = Depends(api_key_principal)) -> Any:
    found = await read(request, _service(request).ad_set, principal, _path_id(adSetId, "adSetId"))
    return OrjsonResponse(translate.ad_set_json(found))


@router.patch("/ad-sets/{adSetId}", summary="Change an ad set")
async def update_ad_set(
    request: Request, adSetId: str, principal: Principal = Depends(api_key_principal)
) -> Any:
    ad_set_id = _path_id(adSetId, "adSetId")
    service = _service(request)
    await read(request, service.ad_set, principal, ad_set_id)
    body = translate.parse(AdSetBody, await _body(request))
    updated = await run_in_threadpool(
        service.update_ad_set, principal, ad_set_id, lambda a: translate.ad_set_changes(body, a)
    )
    return OrjsonResponse(translate.ad_set_json(updated))
