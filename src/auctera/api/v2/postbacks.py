"""/v2/network/postbacks: the publisher's postback URLs (outbound webhooks), their delivery log,
dead letters and replay (seed 000, "GET/POST /v2/network/postbacks"). See
docs/api-v2-network-postbacks.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from pydantic import Field

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import DecimalJSONRoute, QueryInt, _Write
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.webhooks import POSTBACK_PREFIX, Delivery, PublisherPostback
from auctera.services.webhooks import OFFER_PREFIX, TRANSACTION_PREFIX, WebhookService

router = IndexedRouter(prefix="/v2/network/postbacks", tags=["postbacks"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]


class PostbackIn(_Write):
    event: str = Field(description="purchase, lead, install, any conversion event type, or reversal")
    url: str = Field(
        description="http(s) URL with macros: {click_id} {payout} {currency} {geo} {offer_id} "
        "{transaction_id} {event} {status} {sub_id1}…{sub_id5}"
    )
    method: Literal["GET", "POST"] = "GET"
    offer_id: str | None = Field(default=None, description="off_…: only this offer's conversions")
    status: Literal["active", "paused"] = "active"


class PostbackPatch(_Write):
    status: Literal["active", "paused"]


def _service(request: Request) -> WebhookService:
    return container_of(request).webhooks


def postback_json(p: PublisherPostback) -> dict[str, Any]:
    return {
        "id": idfmt.render(POSTBACK_PREFIX, p.id),
        "event": p.event,
        "url": p.url,
        "method": p.method,
        "offer_id": idfmt.render(OFFER_PREFIX, p.offer_id) if p.offer_id is not None else None,
        "status": p.status.value,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.webhook_id,
        "postback_id": idfmt.render(POSTBACK_PREFIX, d.postback_id),
        "transaction_id": idfmt.render(TRANSACTION_PREFIX, d.transaction_id),
        "event": d.payload.get("event"),
        "method": d.method,
        "url": d.url,
        "state": d.state.value,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.state.value == "pending" else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "last_latency_ms": d.last_latency_ms,
        "created_at": d.created_at.isoformat(),
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        "log": list(d.log),
    }


StateParam = Annotated[
    Literal["pending", "delivered", "dead"] | None, Query(description="Only deliveries in this state")
]
Limit = Annotated[QueryInt, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(description="pagination.next_cursor of the previous page")]


@router.get("", summary="The publisher's postbacks")
def list_postbacks(request: Request, caller: Caller) -> dict[str, Any]:
    return {"data": [postback_json(p) for p in _service(request).list_postbacks(caller)]}


@router.post("", status_code=201, summary="Register a postback URL")
def create_postback(request: Request, body: PostbackIn, caller: Caller) -> dict[str, Any]:
    created = _service(request).create(caller, body.event, body.url, body.method, body.offer_id, body.status)
    return {
        "success": True,
        "postback_id": idfmt.render(POSTBACK_PREFIX, created.id),
        "status": created.status.value,
        # Shown once: receivers verify the webhook-signature header with it (Standard Webhooks).
        "secret": created.secret,
    }


@router.get("/deliveries", summary="Deliveries of the caller's postbacks (e.g. ?state=dead: dead letters)")
def list_deliveries(
    request: Request, caller: Caller, state: StateParam = None, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    page = _service(request).deliveries(caller, state=state, cursor=cursor, limit=limit)
    return {
        "data": [delivery_json(d) for d in page.deliveries],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }


@router.post("/deliveries/{delivery_id}/replay", summary="Queue a delivery again (a dead letter)")
def replay_delivery(request: Request, delivery_id: str, caller: Caller) -> dict[str, Any]:
    replayed = _service(request).replay(caller, delivery_id)
    return {"success": True, "delivery_id": replayed.webhook_id, "state": replayed.state.value}


@router.patch("/{postback_id}", summary="Pause or resume a postback")
def update_postback(
    request: Request, postback_id: str, body: PostbackPatch, caller: Caller
) -> dict[str, Any]:
    return postback_json(_service(request).set_status(caller, postback_id, body.status))


@router.get("/{postback_id}/deliveries", summary="A postback's delivery log: attempts, status codes, latency")
def postback_deliveries(
    request: Request,
    postback_id: str,
    caller: Caller,
    state: StateParam = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page = _service(request).deliveries(
        caller, postback_id=postback_id, state=state, cursor=cursor, limit=limit
    )
    return {
        "data": [delivery_json(d) for d in page.deliveries],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }
