"""/v2/network/applications: publishers apply to offers (seed 000's "Submit Network
Application"), publisher-wide or for one of their channels; the offer's advertiser (or the
network) approves or rejects them (seed 003's approval statuses and reject reasons). See
docs/api-v2-channels.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from pydantic import Field

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.channels import parse_channel_id, publisher_param
from auctera.api.v2.schemas import Count, DecimalJSONRoute, QueryInt, _Write
from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal, render_account_id
from auctera.domain.programs import (
    MAX_REASON_TEXT,
    MAX_VOLUME_ESTIMATE,
    Application,
    ApprovalStatus,
    RejectReason,
)
from auctera.errors import NotFound, ValidationFailed
from auctera.services.campaigns import DEFAULT_PAGE, MAX_PAGE
from auctera.services.channels import (
    APPLICATION_PREFIX,
    CHANNEL_PREFIX,
    MAX_TRAFFIC_TYPE,
    SEGMENT_PREFIX,
    UNSET,
    ApplicationQuery,
    ChannelService,
)
from auctera.services.offers import OFFER_PREFIX

router = IndexedRouter(prefix="/v2/network/applications", tags=["applications"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]
StatusLabel = Literal["pending_manual_review", "approved", "rejected"]
_BY_LABEL = {s.label: s for s in ApprovalStatus}


class ApplicationIn(_Write):
    offer_id: str = Field(description="off_… of the offer (public or private)")
    traffic_type: str | None = Field(default=None, max_length=MAX_TRAFFIC_TYPE, description="e.g. SEO")
    volume_estimate: Count | None = Field(
        default=None, ge=0, le=MAX_VOLUME_ESTIMATE, description="expected clicks or leads a month"
    )
    channel_id: str | None = Field(default=None, description="chn_…: apply for this channel only")
    publisher_id: str | None = Field(default=None, description="Network keys: the publisher (pub_…)")


class ApproveIn(_Write):
    segment_id: str | None = Field(default=None, description="seg_… of the offer's program")


class RejectIn(_Write):
    reject_reason: Count | None = Field(default=None, description="0-12, required (see the docs)")
    reason_text: str | None = Field(default=None, max_length=MAX_REASON_TEXT)


class MoveIn(_Write):
    segment_id: str | None = Field(description="seg_… of the offer's program; null: the standard segment")


def _service(request: Request) -> ChannelService:
    c = container_of(request)
    return ChannelService(c.uow, c.ids, c.clock)


def _app_id(text: str) -> int | None:
    return idfmt.parse(APPLICATION_PREFIX, text)


def _segment(text: str | None) -> int | None:
    if text is None:
        return None
    value = idfmt.parse(SEGMENT_PREFIX, text)
    if value is None:
        raise NotFound("segment not found in this offer's program", field="segment_id")
    return value


def _filter_id(prefix: str, text: str | None, field: str) -> int | None:
    if text is None:
        return None
    value = idfmt.parse(prefix, text)
    if value is None:
        raise ValidationFailed(f"not a {prefix}_… id: {text}", field=field)
    return value


def application_json(a: Application) -> dict[str, Any]:
    return {
        "application_id": idfmt.render(APPLICATION_PREFIX, a.id),
        "offer_id": idfmt.render(OFFER_PREFIX, a.program_id),
        "publisher_id": render_account_id(AccountKind.PUBLISHER, a.publisher_id),
        "channel_id": None if a.channel_id is None else idfmt.render(CHANNEL_PREFIX, a.channel_id),
        "status": a.status.label,
        "approval_status": int(a.status),
        "traffic_type": a.traffic_type,
        "volume_estimate": a.volume_estimate,
        "segment_id": None if a.segment_id is None else idfmt.render(SEGMENT_PREFIX, a.segment_id),
        "reject_reason": None if a.reject_reason is None else int(a.reject_reason),
        "reason_text": a.reason_text,
        "applied_at": a.applied_at.isoformat(),
        "decided_at": None if a.decided_at is None else a.decided_at.isoformat(),
    }


@router.post("", status_code=201, summary="Apply to run an offer (pending manual review)")
def apply(request: Request, body: ApplicationIn, caller: Caller) -> dict[str, Any]:
    created = _service(request).apply(
        caller,
        idfmt.parse(OFFER_PREFIX, body.offer_id),
        traffic_type=body.traffic_type,
        volume_estimate=body.volume_estimate,
        channel_id=None if body.channel_id is None else parse_channel_id(body.channel_id),
        channel_given=body.channel_id is not None,
        publisher_id=publisher_param(body.publisher_id),
    )
    return {
        "success": True,
        "application_id": idfmt.render(APPLICATION_PREFIX, created.id),
        "status": created.status.label,
    }


@router.get("", summary="Applications: a publisher's own, an advertiser's offers', the network's all")
def list_applications(
    request: Request,
    caller: Caller,
    status: StatusLabel | None = None,
    offer_id: Annotated[str | None, Query(description="off_…")] = None,
    channel_id: Annotated[str | None, Query(description="chn_…")] = None,
    publisher_id: Annotated[str | None, Query(description="pub_…: one publisher's")] = None,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    query = ApplicationQuery(
        status=None if status is None else _BY_LABEL[status],
        offer_id=_filter_id(OFFER_PREFIX, offer_id, "offer_id"),
        channel_id=_filter_id(CHANNEL_PREFIX, channel_id, "channel_id"),
        limit=limit,
        cursor=cursor,
    )
    page = _service(request).list_applications(caller, query, publisher_id=publisher_param(publisher_id))
    return {
        "data": [application_json(a) for a in page.applications],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }


@router.get("/{application_id}", summary="One application")
def get_application(request: Request, application_id: str, caller: Caller) -> dict[str, Any]:
    return application_json(_service(request).get_application(caller, _app_id(application_id)))


@router.post("/{application_id}/approve", summary="Approve (the offer's advertiser or the network)")
def approve(
    request: Request, application_id: str, caller: Caller, body: ApproveIn | None = None
) -> dict[str, Any]:
    segment = UNSET if body is None or not body.given("segment_id") else _segment(body.segment_id)
    return application_json(_service(request).approve(caller, _app_id(application_id), segment))


@router.post("/{application_id}/reject", summary="Reject with a reason 0-12 (advertiser or network)")
def reject(request: Request, application_id: str, body: RejectIn, caller: Caller) -> dict[str, Any]:
    reason = None
    if body.reject_reason is not None:
        try:
            reason = RejectReason(body.reject_reason)
        except ValueError:
            raise ValidationFailed("a reject reason is 0-12", field="reject_reason") from None
    app_id = _app_id(application_id)
    if app_id is None:
        raise NotFound("application not found", field="application_id")
    decided = _service(request).decide(caller, app_id, ApprovalStatus.REJECTED, reason, body.reason_text)
    return application_json(decided)


@router.patch("/{application_id}", summary="Move an application into a segment (null: standard)")
def move(request: Request, application_id: str, body: MoveIn, caller: Caller) -> dict[str, Any]:
    return application_json(
        _service(request).move(caller, _app_id(application_id), _segment(body.segment_id))
    )
