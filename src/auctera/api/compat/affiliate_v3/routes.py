"""`/v3/partner/...` and `/v3/client/...` as seed 003 documents them, plus the feed files we
serve at signed URLs (`/v3/productfeed`).

Every path answers with and without a trailing slash (no redirect). Bodies are parsed here, not
by FastAPI: a non-JSON content type is 415, a bad field 400 naming it, in the v3 envelope.
Quotas are counted per token, apart from /v2's and apart for the partner and client endpoints.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from auctera.api.auth import V3, authenticated, v3_credential
from auctera.api.deps import container_of, read
from auctera.api.json_body import parse_json
from auctera.api.routing import IndexedRouter
from auctera.domain.accounts import Principal
from auctera.domain.ids import from_decimal
from auctera.domain.programs import ApprovalStatus, ProgramStatus, RejectReason
from auctera.errors import AucteraError, NotFound, RateLimited, ValidationFailed
from auctera.services import feed_formats
from auctera.services.feed_files import chunks_of, served
from auctera.services.partner_programs import (
    BadRequest,
    ChannelFilter,
    Page,
    PartnerProgramService,
    ProductFeed,
    ProgramCard,
    ProgramFilter,
)

from . import translate
from .envelope import V3Response
from .schemas import ChannelDecision, ChannelsRequest, FeedRequest, ProgramsRequest

router = IndexedRouter(prefix="/v3", tags=["affiliate v3 (seed 003)"])


class _Unsupported(AucteraError):
    status_code = 415
    code = "unsupported_media_type"


FEED_PATH = "/v3/productfeed"
FILE_FORMATS = {"XML": feed_formats.XML, "CSV": feed_formats.CSV}
# ChannelService names fields as /v2 does; v3 callers sent these.
_V3_FIELDS = {"reject_reason": "rejectReason", "reason_text": "reasonText", "status": "approvalStatus"}

B = TypeVar("B", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])


def _both(method: str, path: str, summary: str) -> Callable[[F], F]:
    """The route at `path` and at `path/` (the second hidden from the OpenAPI document)."""

    def register(fn: F) -> F:
        router.add_api_route(path, fn, methods=[method], summary=summary)
        router.add_api_route(path + "/", fn, methods=[method], include_in_schema=False)
        return fn

    return register


# --- plumbing ----------------------------------------------------------------------------------


def _service(request: Request) -> PartnerProgramService:
    return container_of(request).partner_programs


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(container_of(request).settings.network_timezone)


async def _principal(request: Request, *, client: bool) -> Principal:
    """The token's account, its request counted against its v3 quota (X-RateLimit-* headers,
    the reset in epoch milliseconds as the seed's examples have it; 429 past the quota)."""
    container = container_of(request)
    principal = await authenticated(request, V3, v3_credential(request))
    settings = container.settings
    default = settings.v3_client_rate_limit_per_minute if client else settings.v3_rate_limit_per_minute
    limit = principal.rate_limit_per_minute or default
    decision = container.rate_limiter.hit(
        f"v3-{'client' if client else 'partner'}:{principal.credential_id}", limit
    )
    reset_ms = decision.reset_at * 1000
    request.state.rate_limit = replace(decision, reset_at=reset_ms)
    request.state.principal = principal  # the access log names the account, a throttled one's too
    if not decision.allowed:
        # "Until reset" is until X-RateLimit-Reset (the full quota back, on the limiter's wall
        # clock); Retry-After is sooner: when one request is admitted again.
        until_reset = max(math.ceil(decision.reset_at - time.time()), decision.retry_after)
        raise RateLimited(
            f"quota of {limit} requests per minute exceeded: {until_reset} s until reset"
            f" (X-RateLimit-Reset {reset_ms}); the next request is admitted in"
            f" {decision.retry_after} s (Retry-After)",
            retry_after=decision.retry_after,
        )
    return principal


async def _body(request: Request, model: type[B]) -> B:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise _Unsupported("send the body as JSON (content-type: application/json)", field="content-type")
    raw = parse_json(await request.body())
    if not isinstance(raw, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            raise BadRequest(f"unknown field {field}", field=field) from None
        if first["type"] == "missing":
            raise BadRequest(f"{field} is required", field=field) from None
        raise BadRequest(f"{field}: {first['msg']}", field=field) from None


def _path_id(value: str, name: str) -> int:
    """The seed's ids are numbers: anything else is malformed (400); a number naming nothing, 404."""
    if not (value.isascii() and value.isdigit()):
        raise BadRequest(f"{name} must be a number, not {value!r}", field=name)
    number = from_decimal(value)
    if number:  # ids start at 1
        return number
    raise NotFound(f"{name} {value} not found", field=name)


async def _v3(produce: Callable[[], Any]) -> Any:
    """Runs an endpoint; the services' 422s are 400s here (the seed has no 422), under v3 names."""
    try:
        return await produce()
    except ValidationFailed as exc:
        field = _V3_FIELDS.get(exc.field or "", exc.field)
        raise BadRequest(exc.message, field=field, code=exc.code) from None


def _paged(body: Any, page: Page[Any]) -> V3Response:
    headers = {"count": str(page.count), "page": str(page.page), "pageSize": str(page.page_size)}
    return V3Response(body, headers=headers)


def _feed_url(
    request: Request, service: PartnerProgramService, program_id: int, channel_id: int | None
) -> translate.FeedUrl:
    """Feed id -> the signed URL of its XML file for this channel (None without a channel)."""
    base = str(request.base_url).rstrip("/")

    def url(feed_id: int) -> str | None:
        if channel_id is None:
            return None
        sig = service.feed_url_signature(program_id, channel_id, feed_id, False)
        query = urlencode(
            {"format": "XML", "apid": program_id, "asid": channel_id, "pfid": feed_id, "epi": 0, "sig": sig}
        )
        return f"{base}{FEED_PATH}?{query}"

    return url


# --- partner -----------------------------------------------------------------------------------


async def _commissions(request: Request, programId: str, channelId: str | None = None) -> Any:
    principal = await _principal(request, client=False)
    program_id = _path_id(programId, "programId")
    channel_id = None if channelId is None else _path_id(channelId, "channelId")

    async def produce() -> Any:
        found, currency = await read(
            request, _service(request).commissions, principal, program_id, channel_id
        )
        return V3Response([translate.commission(t, currency) for t in found])

    return await _v3(produce)


_both("GET", "/partner/programs/commissions/{programId}", "The standard segment's commission types")(
    _commissions
)
_both(
    "GET",
    "/partner/programs/commissions/{programId}/{channelId}",
    "The commission types of the channel's segment",
)(_commissions)


@_both("POST", "/partner/products/feed", "A program's products with the channel's tracking links (streamed)")
async def product_feed(request: Request) -> Any:
    principal = await _principal(request, client=False)

    async def produce() -> Any:
        body = await _body(request, FeedRequest)
        feed = await run_in_threadpool(
            _service(request).feed,
            principal,
            body.programId,
            body.channelId,
            body.feedId,
            set_epi=body.setEpi,
            gt=body.gt,
        )
        return await _stream(request, feed, feed_formats.JSON)

    return await _v3(produce)


async def _stream(request: Request, feed: ProductFeed, fmt: feed_formats.Format) -> StreamingResponse:
    """The feed's files (rendered first if a catalog changed since), streamed with the
    channel's own `p=…&ch=…` in every link; gzip-compressed for a client that accepts it."""
    files = await run_in_threadpool(_service(request).feed_files, feed, fmt)
    value = fmt.channel_links(feed.channel_links)

    def body() -> Iterator[bytes]:
        return served(files, value, head=fmt.head, separator=fmt.separator, tail=fmt.tail)

    headers = {"count": str(feed.count), "vary": "Accept-Encoding"}
    if feed.last_updated is not None:
        headers["feed_lastupdated"] = translate.java_date(feed.last_updated, _tz(request))
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        try:
            file = await run_in_threadpool(_service(request).gzip_file, feed, fmt, body)
        finally:
            for opened in files:  # read into the gzip file, or not needed: it was there
                opened.close()
        size = os.fstat(file.fileno()).st_size
        headers.update({"content-encoding": "gzip", "content-length": str(size)})
        return StreamingResponse(chunks_of(file), media_type=fmt.media_type, headers=headers)
    return StreamingResponse(body(), media_type=fmt.media_type, headers=headers)


_REFUSED = re.compile(r"q\s*=\s*0(\.0{0,3})?")


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header names gzip without refusing it (`gzip;q=0`)."""
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if coding.lower() in ("gzip", "x-gzip"):
            return not any(_REFUSED.fullmatch(p) for p in params)
    return False


@_both("GET", "/partner/products/feedinfo/{programId}/{channelId}", "A program's product feeds")
async def feed_info(request: Request, programId: str, channelId: str) -> Any:
    principal = await _principal(request, client=False)
    program_id = _path_id(programId, "programId")
    channel_id = _path_id(channelId, "channelId")
    service = _service(request)

    async def produce() -> Any:
        feeds, standing = await read(request, service.feed_info, principal, program_id, channel_id)
        url = _feed_url(request, service, program_id, channel_id if standing.approved else None)
        tz = _tz(request)
        return V3Response([translate.feed_info(f, standing, url(f.id), tz) for f in feeds])

    return await _v3(produce)


@_both("POST", "/partner/programs", "The programs the partner may see, with terms, feeds and links")
async def programs(request: Request) -> Any:
    principal = await _principal(request, client=False)
    service = _service(request)

    async def produce() -> Any:
        body = await _body(request, ProgramsRequest)
        wanted = ProgramFilter(
            market=body.market,
            program_id=body.programId,
            channel_id=body.channelId,
            approval_status=None if body.approvalStatus is None else ApprovalStatus(body.approvalStatus),
            status=_program_status(body.status),
            page=body.page,
            page_size=body.pageSize,
        )
        page = await run_in_threadpool(service.programs, principal, wanted)
        tz = _tz(request)
        rendered = [
            translate.program(
                card,
                _feed_url(request, service, card.listed.program.id, _link_channel(card, body.channelId)),
                tz,
            )
            for card in page.items
        ]
        return _paged(rendered, page)

    return await _v3(produce)


def _program_status(value: int | None) -> ProgramStatus | None:
    if value is None:
        return None
    if value not in {int(s) for s in ProgramStatus}:
        raise BadRequest("status is 0 (live) or 3 (closing)", field="status")
    return ProgramStatus(value)


def _link_channel(card: ProgramCard, channel_id: int | None) -> int | None:
    """The channel feed URLs are for: the approved one asked about, else the approved one found."""
    if not card.standing.approved:
        return None
    return channel_id if channel_id is not None else card.standing.link_channel


# --- client ------------------------------------------------------------------------------------


@_both("POST", "/client/channels", "The channels that applied to your programs")
async def client_channels(request: Request) -> Any:
    principal = await _principal(request, client=True)
    service = _service(request)

    async def produce() -> Any:
        body = await _body(request, ChannelsRequest)
        wanted = ChannelFilter(
            program_id=body.programId,
            channel_id=body.channelId,
            affiliate_id=body.affiliateId,
            approval_status=None if body.approvalStatus is None else ApprovalStatus(body.approvalStatus),
            page=body.page,
            page_size=body.pageSize,
        )
        page = await read(request, service.channels, principal, wanted)
        tz = _tz(request)
        return _paged([translate.channel(found, tz) for found in page.items], page)

    return await _v3(produce)


@_both("PUT", "/client/channels", "Approve or reject a channel's application")
async def decide_channel(request: Request) -> Any:
    principal = await _principal(request, client=True)
    service = _service(request)

    async def produce() -> Any:
        body = await _body(request, ChannelDecision)
        status = ApprovalStatus(body.approvalStatus)
        if status is ApprovalStatus.REJECTED and body.rejectReason is None:
            raise BadRequest("rejectReason (0-12) is required when approvalStatus is 0", field="rejectReason")
        reason = None if body.rejectReason is None else RejectReason(body.rejectReason)
        await run_in_threadpool(
            service.decide, principal, body.channelId, status, reason, body.reasonText, body.programId
        )
        return V3Response({"success": True})

    return await _v3(produce)


# --- the feed files at signed URLs ---------------------------------------------------------------


@_both("GET", "/productfeed", "A product feed file (XML or CSV) at the signed URL feedinfo gives")
async def feed_file(request: Request) -> Any:
    q = request.query_params
    fmt = q.get("format", "XML").upper()
    if fmt not in FILE_FORMATS:
        raise BadRequest("format is XML or CSV", field="format")
    ids = {}
    for name in ("apid", "asid", "pfid"):
        number = from_decimal(q.get(name, ""))
        if not number:
            raise BadRequest(f"{name} must be a numeric id", field=name)
        ids[name] = number
    epi = q.get("epi", "0")
    if epi not in ("0", "1"):
        raise BadRequest("epi is 0 or 1", field="epi")
    feed = await run_in_threadpool(
        _service(request).download, ids["apid"], ids["asid"], ids["pfid"], epi == "1", q.get("sig", "")
    )
    response = await _stream(request, feed, FILE_FORMATS[fmt])
    name = f"feed-{ids['apid']}-{ids['pfid']}.{fmt.lower()}"
    response.headers["content-disposition"] = f'attachment; filename="{name}"'
    return response
