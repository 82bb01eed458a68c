"""/v2/reports: multi-touch attribution of a conversion (seed 000, `GET /v2/reports/mta`).
See docs/api-v2-reports-mta.md."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.attribution import AttributionModel, round_credits
from auctera.services.attribution import AttributionService, Journey
from auctera.services.conversions import CLICK_PREFIX, TRANSACTION_PREFIX

router = APIRouter(prefix="/v2", tags=["reports"])
Caller = Annotated[Principal, Depends(bearer_principal)]

CREDIT_PLACES = 4
MAX_LOOKBACK_DAYS = 90


def _service(request: Request) -> AttributionService:
    return container_of(request).attribution


# A plain `def`: the journey reads the event log, and data_driven may fit a model on every path of
# the account (cached for minutes): that belongs in the threadpool, never on the event loop.
@router.get("/reports/mta", summary="Multi-touch attribution: each touchpoint's credit for a conversion")
def mta(
    request: Request,
    caller: Caller,
    conversion_id: Annotated[str, Query(min_length=1, max_length=64, description="txn_… from a postback")],
    model: Annotated[
        AttributionModel | None, Query(description="Default: the account's (last_click for now)")
    ] = None,
    half_life_hours: Annotated[
        float | None,
        Query(gt=0, le=MAX_LOOKBACK_DAYS * 24, description="time_decay only; default 168 (7 days)"),
    ] = None,
    lookback_days: Annotated[int, Query(ge=1, le=MAX_LOOKBACK_DAYS)] = 30,
) -> dict[str, Any]:
    journey = _service(request).journey(
        caller,
        conversion_id,
        model,
        half_life=timedelta(hours=half_life_hours) if half_life_hours is not None else None,
        lookback=timedelta(days=lookback_days),
    )
    return journey_json(journey, lookback_days)


def journey_json(journey: Journey, lookback_days: int) -> dict[str, Any]:
    """The seed's shape (`conversion_id`, `touchpoints: [{channel, interaction, credit}]`) plus
    what helps reading it. Credits are rounded keeping their sum at exactly 1.0000."""
    rounded = round_credits([t.credit for t in journey.touchpoints], CREDIT_PLACES)
    body: dict[str, Any] = {
        "conversion_id": idfmt.render(TRANSACTION_PREFIX, journey.conversion.id),
        "model": journey.model.value,
        "lookback_days": lookback_days,
        "converted_at": _utc(journey.conversion.occurred_at),
    }
    if journey.half_life is not None:
        body["half_life_hours"] = journey.half_life / timedelta(hours=1)
    body["touchpoints"] = [
        {
            "channel": t.touchpoint.channel,
            "interaction": t.touchpoint.interaction,
            "credit": float(credit),
            "at": _utc(t.touchpoint.at),
            "campaign_id": _id("cmp", t.touchpoint.campaign_id),
            "click_id": _id(CLICK_PREFIX, t.touchpoint.event_id) if t.touchpoint.is_click else None,
        }
        for t, credit in zip(journey.touchpoints, rounded, strict=True)
    ]
    return body


def _id(prefix: str, value: int | None) -> str | None:
    return None if value is None else idfmt.render(prefix, value)


def _utc(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
