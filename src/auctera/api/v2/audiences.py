"""/v2/audiences: the seed's Audiences & Targeting endpoints, sync job status, and the audience
targeting of campaigns and line items.

`POST /v2/audiences/sync` reads its body whole (at most `MAX_SYNC_BODY` bytes), then on a worker
thread: the common shape, identifiers all of one type laid out alike, by `audience_sync_body`
and hashed a window at a time (`AudienceService.stage_runs`); any other body by ijson, each
identifier hashed as soon as it is parsed (`AudienceService.stage`). Raw values are never
stored or logged, and the body is dropped with the request.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any

import ijson
from fastapi import Body, Depends, Header, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of, read
from auctera.api.routing import IndexedRouter
from auctera.api.v2.audience_sync_body import TOP_FIELDS, NotUniform, uniform
from auctera.api.v2.schemas import Count, DecimalJSONRoute, Exact, QueryInt, _Write
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.audiences import (
    STD_DEVS,
    Audience,
    AudienceSource,
    PixelEvent,
    PixelRule,
    SyncAction,
    SyncJob,
    Targets,
)
from auctera.domain.ids import from_decimal
from auctera.errors import AucteraError, Conflict, NotFound, ValidationFailed
from auctera.services.audiences import (
    JOB_PREFIX,
    MAX_PAGE,
    AudienceService,
    Identifier,
    Staged,
    parse_id,
    render_id,
)
from auctera.services.campaigns import decode_cursor, encode_cursor

router = IndexedRouter(prefix="/v2", tags=["audiences"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]
_CONFIDENCE = {1: 0.6827, 2: 0.9545, 3: 0.9973}[STD_DEVS]


def _service(request: Request) -> AudienceService:
    return container_of(request).audiences


# --- requests ---------------------------------------------------------------------------------


class RuleIn(_Write):
    event: PixelEvent = Field(description="impression, click or conversion")
    within_days: Count = Field(ge=1, le=180)
    campaign_ids: list[str] = Field(default_factory=list, max_length=100, description="cmp_… ids; none: all")
    without: PixelEvent | None = Field(default=None, description="and no such event in the window")


class AudienceIn(_Write):
    name: str = Field(min_length=1, max_length=255)
    source: str = Field(default="CRM Sync", description="'CRM Sync' or 'Pixel Event'")
    rule: RuleIn | None = None


class LookalikeIn(_Write):
    seed_audience_id: str
    similarity_percentage: Exact = Field(description="1 to 10: the share of the geo's users kept")
    geo: list[str] = Field(default_factory=list, max_length=250, description="ISO 3166-1 alpha-2")


class TargetsIn(_Write):
    include: list[str] = Field(default_factory=list, description="aud_… ids: a visitor must be in one")
    exclude: list[str] = Field(default_factory=list, description="aud_… ids: a visitor must be in none")


def _rule(body: RuleIn) -> PixelRule:
    campaigns = []
    for text in body.campaign_ids:
        value = idfmt.parse("cmp", text)
        if value is None:
            raise NotFound(f"campaign {text} not found", field="rule.campaign_ids")
        campaigns.append(value)
    return PixelRule(body.event, body.within_days, tuple(campaigns), body.without)


# --- responses --------------------------------------------------------------------------------


def audience_json(a: Audience) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": render_id(a.id),
        "name": a.name,
        "size_estimate": a.size_estimate,
        "match_rate": a.match_rate,
        "source": a.source.label,
        "status": a.status.value,
        "members": a.size,
        "created_at": a.created_at.isoformat(),
        "updated_at": a.updated_at.isoformat(),
    }
    if a.rule is not None:
        rule = a.rule.as_json()
        rule["campaign_ids"] = [idfmt.render("cmp", c) for c in a.rule.campaign_ids]
        body["rule"] = rule
        body["refreshed_at"] = a.refreshed_at.isoformat() if a.refreshed_at else None
    if a.lookalike is not None:
        la = a.lookalike
        body["lookalike"] = {
            "seed_audience_id": render_id(la.seed_id),
            "similarity_percentage": float(Decimal(la.percent_bp) / 100),
            "geo": list(la.geo),
            "holdout_auc": la.auc,
        }
    if a.error:
        body["error"] = a.error
    return body


def job_json(job: SyncJob) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": job.state.value != "failed",
        "job_id": idfmt.render(JOB_PREFIX, job.id),
        "audience_id": render_id(job.audience_id),
        "action": job.action.value,
        "status": job.state.value,
        "progress": job.progress,
        "records_received": job.received,
        "records_processed": job.processed,
        "records_malformed": job.malformed,
        "estimated_match_rate": job.estimated_match_rate,
        "malformed_samples": list(job.malformed_samples),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.error:  # a failed job says why, as a failed audience does
        body["error"] = job.error
    return body


def _targets_json(t: Targets) -> dict[str, Any]:
    return {"include": [render_id(i) for i in t.include], "exclude": [render_id(i) for i in t.exclude]}


# --- audiences --------------------------------------------------------------------------------


@router.post("/audiences", status_code=201, summary="Create an audience (CRM Sync or Pixel Event)")
async def create_audience(request: Request, body: AudienceIn, caller: Caller) -> dict[str, Any]:
    source = AudienceSource.parse(body.source)
    rule = _rule(body.rule) if body.rule is not None else None
    audience = await run_in_threadpool(_service(request).create, caller, body.name, source, rule)
    return audience_json(audience)


@router.get("/audiences", summary="List audiences")
async def list_audiences(
    request: Request,
    caller: Caller,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    before = decode_cursor(cursor) if cursor else None
    rows, more = await read(request, _service(request).list_audiences, caller, before, limit)
    return {
        "data": [audience_json(a) for a in rows],
        "pagination": {"next_cursor": encode_cursor(rows[-1].id) if more else None, "limit": limit},
    }


@router.get("/audiences/overlap", summary="Overlap of two or more audiences")
async def audience_overlap(
    request: Request, caller: Caller, ids: Annotated[str, Query(description="aud_… ids, comma-separated")]
) -> dict[str, Any]:
    wanted = [parse_id(i, field="ids") for i in ids.split(",") if i.strip()]
    answer = await run_in_threadpool(_service(request).overlap, caller, wanted)
    o = answer.overlap
    return {
        "overlap_percentage": o.percentage,
        "estimated_unique_users": o.unique_users,
        "estimated_common_users": o.common_users,
        "exact": o.exact,
        "error_bound": {
            "confidence": _CONFIDENCE,
            "overlap_percentage": {"low": o.percentage_low, "high": o.percentage_high},
            "estimated_unique_users": {"low": o.unique_low, "high": o.unique_high},
        },
        "audiences": [{"id": render_id(a.id), "size_estimate": a.size_estimate} for a in answer.audiences],
    }


@router.post("/audiences/lookalike", status_code=202, summary="Build a lookalike audience")
async def create_lookalike(request: Request, body: LookalikeIn, caller: Caller) -> dict[str, Any]:
    seed = parse_id(body.seed_audience_id, field="seed_audience_id")
    audience = await run_in_threadpool(
        _service(request).request_lookalike, caller, seed, body.similarity_percentage, body.geo
    )
    return {"success": True, "lookalike_audience_id": render_id(audience.id), "status": audience.status.value}


@router.get("/audiences/sync/{job_id}", summary="A sync job's progress")
async def get_sync_job(request: Request, job_id: str, caller: Caller) -> dict[str, Any]:
    value = idfmt.parse(JOB_PREFIX, job_id)
    if value is None:
        raise NotFound(f"job {job_id} not found", field="job_id")
    return job_json(await read(request, _service(request).job, caller, value))


@router.get("/audiences/{audience_id}", summary="One audience")
async def get_audience(request: Request, audience_id: str, caller: Caller) -> dict[str, Any]:
    return audience_json(await read(request, _service(request).get, caller, parse_id(audience_id)))


@router.delete("/audiences/{audience_id}", summary="Delete an audience and purge its identity links")
async def delete_audience(request: Request, audience_id: str, caller: Caller) -> dict[str, Any]:
    purge = await run_in_threadpool(_service(request).delete, caller, parse_id(audience_id))
    return {
        "success": True,
        "status": "deleted",
        "paused_campaigns": [idfmt.render("cmp", c) for c in purge.paused_campaigns],
    }


# --- sync: a body of up to a million identifiers ----------------------------------------------

MAX_SYNC_BODY = 256 << 20  # bytes: 1M identifiers of up to ~250 bytes each, as JSON


class _BodyTooLarge(AucteraError):
    status_code = 413
    code = "payload_too_large"


class _SyncBody:
    """The general parser: ijson events, the top-level fields filled in as the identifiers go by."""

    def __init__(self) -> None:
        self.fields: dict[str, str | None] = {}

    def identifiers(self, stream: io.BytesIO) -> Iterator[Identifier]:
        """(type, value) per identifier; anything but an object of two strings, `type` and
        `value`, comes out as ("", "") or (type, ""): counted as malformed, never fatal."""
        kind = value = None
        odd = False
        listed = False  # `identifiers` seen, as a list: without it a `replace` would empty the audience
        try:
            # The hot loop: seven parser events per identifier, the commonest tested first.
            for prefix, event, data in ijson.parse(stream, use_float=True):
                if prefix == "identifiers.item.value":
                    if event == "string":
                        value = data
                    else:
                        odd = True
                elif prefix == "identifiers.item.type":
                    if event == "string":
                        kind = data
                    else:
                        odd = True
                elif prefix == "identifiers.item":
                    if event == "map_key":
                        if data != "type" and data != "value":
                            odd = True
                    elif event == "end_map":
                        yield (kind or "", "" if odd or value is None else value)
                        kind = value = None
                        odd = False
                    elif event == "end_array":  # a list item, whatever it held: one malformed
                        yield ("", "")
                        kind = value = None
                        odd = False
                    elif event not in ("start_map", "start_array"):
                        yield ("", "")  # a scalar, not an object
                elif prefix.startswith("identifiers.item."):
                    odd = True  # a nested value
                elif prefix == "identifiers":
                    if event == "start_array":
                        listed = True
                    elif event != "end_array":
                        raise ValidationFailed(
                            "identifiers must be a list of {type, value} objects", field="identifiers"
                        )
                elif prefix == "":
                    if event == "map_key":
                        if data not in TOP_FIELDS:
                            raise ValidationFailed(f"unknown field {data!r}", field=str(data))
                    elif event not in ("start_map", "end_map"):
                        raise ValidationFailed("the body must be a JSON object", field="body")
                elif prefix in TOP_FIELDS and prefix != "identifiers":
                    if event not in ("string", "null"):
                        raise ValidationFailed(f"{prefix} must be a string", field=prefix)
                    self.fields[prefix] = data
        except ijson.JSONError:
            raise ValidationFailed("the body is not valid JSON", field="body") from None
        if not listed:
            raise ValidationFailed("identifiers is required (a list; [] for none)", field="identifiers")


def _fields(body: bytes) -> dict[str, str | None]:
    """The body's fields but its identifiers, checked as a sync checks them; nothing hashed."""
    try:
        return uniform(body).fields
    except NotUniform:
        pass
    general = _SyncBody()
    for _ in general.identifiers(io.BytesIO(body)):
        pass
    return general.fields


def _target(fields: dict[str, str | None]) -> tuple[int, SyncAction]:
    """The audience and action a sync body names."""
    for name in ("audience_id", "action"):
        if not fields.get(name):
            raise ValidationFailed(f"{name} is required", field=name)
    try:
        action = SyncAction(str(fields["action"]))
    except ValueError:
        raise ValidationFailed("action must be add, remove or replace", field="action") from None
    return parse_id(str(fields["audience_id"])), action


def _stage(
    service: AudienceService, body: bytes, default_region: str | None
) -> tuple[Staged, dict[str, str | None]]:
    """The body's identifiers staged, and its other fields."""
    try:
        shape = uniform(body)
        return service.stage_runs(shape.kind, shape.runs(), default_region), shape.fields
    except NotUniform:
        pass
    general = _SyncBody()
    return service.stage(general.identifiers(io.BytesIO(body)), default_region), general.fields


async def _body(request: Request) -> bytes:
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_SYNC_BODY:
            raise _BodyTooLarge(
                f"the body is over {MAX_SYNC_BODY >> 20} MiB; split the list", field="identifiers"
            )
        if chunk:
            chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one chunk (in-process): no copy


@router.post(
    "/audiences/sync",
    status_code=202,
    summary="Sync identifiers into a CRM audience (add, remove, replace): an asynchronous job",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "example": {
                        "audience_id": "aud_77b3x",
                        "action": "add",
                        "identifiers": [{"type": "email_sha256", "value": "a1b2..."}],
                    }
                }
            },
        }
    },
)
async def sync_audience(
    request: Request,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    default_region: Annotated[
        str | None,
        Query(min_length=2, max_length=2, description="ISO 3166-1 alpha-2: reads phones without +country"),
    ] = None,
) -> dict[str, Any]:
    service = _service(request)
    if idempotency_key:  # a retried call: its job is the answer, its identifiers are not hashed again
        seen = await read(request, service.job_for_key, caller, idempotency_key)
        if seen is not None:
            audience_id, action = _target(await run_in_threadpool(_fields, await _body(request)))
            if seen.audience_id != audience_id or seen.action is not action:
                # Not a retry but another call under a used key: as with a reused `job_key`.
                raise Conflict(
                    "this Idempotency-Key was used for another audience or action", field="Idempotency-Key"
                )
            return job_json(seen)
    body = await _body(request)
    staged, fields = await run_in_threadpool(_stage, service, body, default_region)
    del body
    try:
        audience_id, action = _target(fields)
    except AucteraError:
        service.discard(staged)
        raise
    job_key = idempotency_key or fields.get("job_key")
    key_field = "Idempotency-Key" if idempotency_key else "job_key"
    job, _ = await run_in_threadpool(
        service.sync, caller, audience_id, action, staged, job_key=job_key, key_field=key_field
    )
    return job_json(job)


# --- targeting --------------------------------------------------------------------------------


def _campaign(text: str) -> int:
    value = idfmt.parse("cmp", text)
    if value is None:
        raise NotFound(f"campaign {text} not found", field="campaign_id")
    return value


def _line_item(text: str) -> int:
    value = from_decimal(text)
    if value is None:
        raise NotFound(f"line item {text} not found", field="line_item_id")
    return value


def _targets(body: TargetsIn) -> Targets:
    return Targets(
        tuple(parse_id(i, field="audiences.include") for i in body.include),
        tuple(parse_id(i, field="audiences.exclude") for i in body.exclude),
    )


@router.get("/campaigns/{campaign_id}/audiences", summary="The audiences a campaign targets")
async def campaign_audiences(request: Request, campaign_id: str, caller: Caller) -> dict[str, Any]:
    t = await read(request, _service(request).targets, caller, _campaign(campaign_id), line_item=False)
    return _targets_json(t)


@router.put("/campaigns/{campaign_id}/audiences", summary="Set the audiences a campaign targets")
async def set_campaign_audiences(
    request: Request, campaign_id: str, caller: Caller, body: Annotated[TargetsIn, Body()]
) -> dict[str, Any]:
    t = await run_in_threadpool(
        _service(request).set_targets, caller, _campaign(campaign_id), _targets(body), line_item=False
    )
    return _targets_json(t)


@router.get("/line-items/{line_item_id}/audiences", summary="The audiences a line item targets")
async def line_item_audiences(request: Request, line_item_id: str, caller: Caller) -> dict[str, Any]:
    t = await read(request, _service(request).targets, caller, _line_item(line_item_id), line_item=True)
    return _targets_json(t)


@router.put("/line-items/{line_item_id}/audiences", summary="Set the audiences a line item targets")
async def set_line_item_audiences(
    request: Request, line_item_id: str, caller: Caller, body: Annotated[TargetsIn, Body()]
) -> dict[str, Any]:
    t = await run_in_threadpool(
        _service(request).set_targets, caller, _line_item(line_item_id), _targets(body), line_item=True
    )
    return _targets_json(t)
