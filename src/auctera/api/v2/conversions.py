"""/v2/conversions: signed S2S postbacks, reversals and the fraud log (seed 000, "Conversions &
Attribution"). See docs/api-v2-conversions.md and docs/signing.md."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.v2.schemas import Amount, DecimalJSONRoute, _Write, number
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.conversions import Conversion, ReversalReason
from auctera.domain.money import display, to_micros
from auctera.domain.signatures import HEADER
from auctera.services.conversions import TRANSACTION_PREFIX, ConversionService, Postback

router = APIRouter(prefix="/v2", tags=["conversions"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]


def _service(request: Request) -> ConversionService:
    return container_of(request).conversions


async def signed_caller(request: Request, caller: Caller) -> Principal:
    """The caller, once the raw body's `X-Auctera-Signature` checks out (before the body is
    validated: an unsigned request learns nothing about what it sent)."""
    body = await request.body()
    await run_in_threadpool(_service(request).verify_signature, caller, request.headers.get(HEADER), body)
    return caller


class PostbackIn(_Write):
    click_id: str = Field(min_length=1, max_length=64)
    event_type: str = Field(min_length=1, max_length=64, description="purchase, lead, install, ...")
    revenue: Amount = Field(default=Decimal(0), ge=0, description="In `currency`")
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="ISO 4217; default: the account's"
    )
    order_id: str | None = Field(default=None, min_length=1, max_length=255)
    event_time: datetime | None = Field(default=None, description="ISO 8601 with offset; default: now")


class ReversalIn(_Write):
    transaction_id: str = Field(min_length=1, max_length=64)
    reason: ReversalReason


def money(micros: int) -> Any:
    return number(display(micros, 2))


@router.post("/conversions", summary="Server-to-server postback (HMAC-signed)")
def record_conversion(
    request: Request,
    body: PostbackIn,
    caller: Annotated[Principal, Depends(signed_caller)],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    postback = Postback(
        click_id=body.click_id,
        event_type=body.event_type,
        revenue_micros=to_micros(body.revenue),
        currency=body.currency,
        order_id=body.order_id,
        event_time=body.event_time,
    )
    conversion = _service(request).record(caller, postback, idempotency_key)
    return {
        "success": True,
        "transaction_id": idfmt.render(TRANSACTION_PREFIX, conversion.id),
        "fraud_score": conversion.fraud_score,
        "status": conversion.status.value,
    }


@router.post("/conversions/reversal", summary="Reverse a conversion (refund, chargeback), within 30 days")
def reverse_conversion(request: Request, body: ReversalIn, caller: Caller) -> dict[str, Any]:
    conversion = _service(request).reverse(caller, body.transaction_id, body.reason)
    return {
        "success": True,
        "transaction_id": idfmt.render(TRANSACTION_PREFIX, conversion.id),
        "status": conversion.status.value,
        "payout_deducted": money(conversion.payout_micros),
    }


@router.get("/conversions/fraud-log", summary="Why a conversion was rejected or flagged")
def fraud_log(
    request: Request,
    caller: Caller,
    transaction_id: Annotated[str, Query(min_length=1, max_length=64)],
) -> dict[str, Any]:
    return fraud_log_json(_service(request).get(caller, transaction_id))


def fraud_log_json(c: Conversion) -> dict[str, Any]:
    return {
        "transaction_id": idfmt.render(TRANSACTION_PREFIX, c.id),
        "status": c.status.value,
        "reason": c.fraud_reason,
        "confidence_score": c.fraud_score,
        "signals": list(c.fraud_signals),
        "click_id": idfmt.render("auc", c.click_id),
        "recorded_at": c.created_at.isoformat().replace("+00:00", "Z"),
    }
