"""/v2/conversions: signed S2S postbacks, reversals and the fraud log (seed 000, "Conversions &
Attribution"). See docs/api-v2-conversions.md and docs/signing.md."""

from __future__ import annotations

import codecs
import csv
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, cast

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.errors import field_from_loc, validation_failure
from auctera.api.json_body import parse_json
from auctera.api.middleware import send_error
from auctera.api.raw_routes import documented_route, served_raw
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import Amount, DecimalJSONRoute, QueryInt, _Write, money
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.conversions import Conversion, ReversalReason
from auctera.domain.dates import utc_text
from auctera.domain.identifiers import IdentifierType, hashed
from auctera.domain.money import to_micros
from auctera.domain.signatures import HEADER
from auctera.errors import AucteraError, ValidationFailed
from auctera.services.conversions import (
    OFFLINE_BATCH,
    OFFLINE_EVENT_TYPE,
    TRANSACTION_PREFIX,
    ConversionService,
    OfflineEvent,
    Postback,
    PostbackRequest,
)
from auctera.services.group_commit import GroupCommit

if TYPE_CHECKING:  # the API never imports the composition root at run time
    from auctera.bootstrap import Container

router = IndexedRouter(prefix="/v2", tags=["conversions"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]


def _service(request: Request) -> ConversionService:
    return container_of(request).conversions


class _Identified(_Write):
    """Identifiers that tie a conversion to a person for offline matching: raw values are
    normalised and hashed on arrival, never stored or logged (docs/identifiers.md)."""

    hashed_email: str | None = Field(
        default=None, max_length=64, description="SHA-256 hex of the normalised email"
    )
    email: str | None = Field(default=None, max_length=320, description="Hashed on arrival, never stored")
    hashed_phone: str | None = Field(
        default=None, max_length=64, description="SHA-256 hex of the E.164 phone"
    )
    phone: str | None = Field(default=None, max_length=40, description="E.164, hashed on arrival")

    def identifiers(self) -> tuple[tuple[str, str], ...]:
        found: dict[str, tuple[str, str]] = {}  # hashed kind -> (field, digest)
        for name, kind in _IDENTIFIER_FIELDS.items():
            value = getattr(self, name)
            if value is not None:
                hashed_kind, digest = hashed(kind, value, field=name)
                first = found.setdefault(hashed_kind.value, (name, digest))
                if first[1] != digest:  # which one is the person? Guessing would link a stranger
                    raise ValidationFailed(
                        f"{first[0]} and {name} name different people: send one, or both of the same",
                        field=name,
                    )
        return tuple((kind, digest) for kind, (_, digest) in found.items())


_IDENTIFIER_FIELDS = {
    "hashed_email": IdentifierType.EMAIL_SHA256,
    "email": IdentifierType.EMAIL,
    "hashed_phone": IdentifierType.PHONE_SHA256,
    "phone": IdentifierType.PHONE,
}


class PostbackIn(_Identified):
    click_id: str = Field(min_length=1, max_length=64)
    event_type: str = Field(min_length=1, max_length=64, description="purchase, lead, install, ...")
    revenue: Amount = Field(default=Decimal(0), ge=0, description="In `currency`")
    currency: str | None = Field(
        default=None, min_length=3, max_length=3, description="ISO 4217; default: the account's"
    )
    order_id: str | None = Field(default=None, min_length=1, max_length=255)
    event_time: datetime | None = Field(default=None, description="ISO 8601 with offset; default: now")
    category: str | None = Field(
        default=None, min_length=1, max_length=255, description="Product category (per-category commissions)"
    )


_POSTBACK_SCHEMA = PostbackIn.model_json_schema()


class ReversalIn(_Write):
    transaction_id: str = Field(min_length=1, max_length=64)
    reason: ReversalReason


@router.post(
    "/conversions",
    summary="Server-to-server postback (HMAC-signed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PostbackIn.model_json_schema()}},
        }
    },
)
async def record_conversion(
    request: Request,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> Response:
    """Served by `postback_route` in front of FastAPI; this route documents it in OpenAPI."""
    conversion = await _postback(request, caller, idempotency_key)
    return Response(_answer(conversion), media_type="application/json")


async def _postback(request: Request, caller: Principal, idempotency_key: str | None) -> Conversion:
    service = container_of(request).conversions
    body = await request.body()
    return await _recorded(service, None, caller, request.headers.get(HEADER), body, idempotency_key)


async def _recorded(
    service: ConversionService,
    batcher: GroupCommit[PostbackRequest, Conversion] | None,
    caller: Principal,
    signature: str | None,
    body: bytes,
    idempotency_key: str | None,
) -> Conversion:
    # The raw body is read by the caller, not validated by FastAPI: the signature is checked on
    # the exact bytes first (an unsigned request learns nothing about what it sent), then the body
    # is validated, then recorded. With SQLite (a `batcher`) that runs on the event loop, like the
    # other short local reads and writes (`Container.inline_reads`), and the postbacks that arrive
    # together are written in one transaction (`GroupCommit`); with PostgreSQL in the threadpool.
    if batcher is not None:
        postback = _parsed(service, caller, signature, body)
        return await batcher.submit(PostbackRequest(caller, postback, idempotency_key))
    return await run_in_threadpool(_record, service, caller, signature, body, idempotency_key)


async def _body(receive: Receive) -> bytes:
    """The request body, read straight from the server (what `Request.body` does, without its
    async generator: postbacks are small and arrive in one message)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _answer(conversion: Conversion) -> bytes:
    answer = {
        "success": True,
        "transaction_id": idfmt.render(TRANSACTION_PREFIX, conversion.id),
        "fraud_score": conversion.fraud_score,
        "status": conversion.status.value,
    }
    refused = conversion.attrs.get("payout_refused")
    if refused is not None:  # recorded, but the budget or the balance could not pay it (D48)
        answer["payout_refused"] = refused
    return orjson.dumps(answer)


def postback_route(api: FastAPI, *, require_https: bool) -> ASGIApp:
    """`POST /v2/conversions` as a hot route: the same handler, auth, error envelope, request id,
    rate-limit headers, access log and metrics, without FastAPI's routing (a scan of every route)
    and dependency solving. Other methods go to FastAPI (405, with its Allow header)."""
    documented = documented_route(router.routes, "/v2/conversions", "POST")
    container = cast("Container", api.state.container)
    service = container.conversions
    batcher = GroupCommit(service.record_many) if container.inline_reads else None

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            caller = await bearer_principal(request)
            given = request.headers
            key = given.get("idempotency-key")
            if key is not None and not (key.strip() and len(key) <= MAX_IDEMPOTENCY_KEY):
                # An empty key (a client's unset variable) would make every postback a copy of the first.
                raise ValidationFailed(
                    f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} characters, not blank",
                    field="idempotency-key",
                )
            signature = given.get(HEADER)
            conversion = await _recorded(service, batcher, caller, signature, await _body(receive), key)
            body = _answer(conversion)
        except AucteraError as exc:
            await send_error(api, scope, receive, send, exc)
            return
        # The same answer as FastAPI's JSON response, without building a Response object.
        headers = [(b"content-length", str(len(body)).encode()), _JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return served_raw(api, documented, "POST", handler, require_https=require_https)


MAX_IDEMPOTENCY_KEY = 255
_JSON = (b"content-type", b"application/json")


def _record(
    service: ConversionService, caller: Principal, signature: str | None, body: bytes, key: str | None
) -> Conversion:
    return service.record(caller, _parsed(service, caller, signature, body), key)


def _parsed(service: ConversionService, caller: Principal, signature: str | None, body: bytes) -> Postback:
    """The postback in `body`, once its signature is verified and its fields validated."""
    service.verify_signature(caller, signature, body)
    try:
        postback = PostbackIn.model_validate(parse_json(body))
    except ValidationError as exc:
        raise validation_failure(exc) from None
    return Postback(
        click_id=postback.click_id,
        event_type=postback.event_type,
        revenue_micros=to_micros(postback.revenue),
        currency=postback.currency,
        order_id=postback.order_id,
        event_time=postback.event_time,
        identifiers=postback.identifiers(),
        category=postback.category,
    )


class OfflineEventIn(_Identified):
    event_id: str | None = Field(
        default=None, min_length=1, max_length=255, description="Makes re-uploads idempotent"
    )
    value: Amount = Field(default=Decimal(0), ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    event_time: datetime | None = Field(default=None, description="ISO 8601 with offset; default: now")
    event_type: str = Field(default=OFFLINE_EVENT_TYPE, min_length=1, max_length=64)


OFFLINE_FIELDS = frozenset(OfflineEventIn.model_fields)
MAX_OFFLINE_EVENTS = 100_000
MAX_REPORTED_ERRORS = 100


@router.post(
    "/conversions/offline",
    summary="Upload offline conversions (JSON or CSV), matched to earlier clicks and impressions",
    openapi_extra={"requestBody": {"content": {"application/json": {}, "text/csv": {}}}},
)
async def upload_offline(
    request: Request,
    caller: Caller,
    lookback_days: Annotated[QueryInt, Query(ge=1, le=90)] = 30,
) -> dict[str, Any]:
    """A CSV upload is read from the socket as it arrives and matched in batches of
    `OFFLINE_BATCH` events, so memory stays flat however large the file; a JSON document is read
    whole (up to `MAX_OFFLINE_EVENTS` events). Events past that limit are refused, not recorded."""
    service, lookback = _service(request), timedelta(days=lookback_days)
    service.check_offline_uploader(caller)  # before reading a byte of the upload
    if request.headers.get("content-type", "").split(";")[0].strip() == "text/csv":
        rows: AsyncIterator[Any] = _csv_rows(request.stream())
    else:
        rows = _each(_json_rows(await request.body()))
    matched = unmatched = invalid = 0
    errors: list[dict[str, Any]] = []
    batch: list[OfflineEvent] = []
    indexes: list[int] = []  # each batched event's index in the upload

    async def flush() -> None:
        nonlocal matched, unmatched, invalid, batch, indexes
        if batch:
            result = await run_in_threadpool(service.record_offline, caller, batch, lookback)
            matched, unmatched = matched + result.matched, unmatched + result.unmatched
            invalid += len(result.invalid)
            for problem in result.invalid:
                errors.append(
                    {"index": indexes[problem.position], "field": problem.field, "message": problem.message}
                )
            batch, indexes = [], []

    index = 0
    async for row in rows:
        if index == MAX_OFFLINE_EVENTS:
            message = f"beyond the {MAX_OFFLINE_EVENTS:,} events of one upload: send the rest in another"
            errors.append({"index": index, "field": "events", "message": message})
        if index >= MAX_OFFLINE_EVENTS:
            invalid += 1
        else:
            event = _offline_event(index, row, errors)
            if event is None:
                invalid += 1
            else:
                batch.append(event)
                indexes.append(index)
                if len(batch) == OFFLINE_BATCH:
                    await flush()
        index += 1
    await flush()
    errors.sort(key=lambda e: e["index"])
    return {
        "success": True,
        "matched_events": matched,
        "unmatched_events": unmatched,
        "invalid_events": invalid,
        "errors": errors[:MAX_REPORTED_ERRORS],
    }


async def _each(rows: list[Any]) -> AsyncIterator[Any]:
    for row in rows:
        yield row


def _json_rows(body: bytes) -> list[Any]:
    document = parse_json(body)
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise ValidationFailed('expected {"events": [...]}', field="events")
    unknown = sorted(set(document) - {"events"})
    if unknown:  # as every /v2 body: a misspelt member is said, not ignored
        raise ValidationFailed(f"unknown field '{unknown[0]}'", field=unknown[0], code="unknown_field")
    return list(document["events"])


# A CSV line longer than this is refused on its own, its bytes dropped as they arrive (memory stays
# flat): the csv module's own cell limit, far above any valid event (its longest cell, an email, is
# 320 characters).
MAX_CSV_LINE = 131_072
_BOM = codecs.BOM_UTF8


async def _csv_rows(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any] | ValidationFailed]:
    """Rows of a CSV body as its bytes arrive: a header line naming the columns, then one event
    per line. Offline events hold no line breaks inside a field, so each line is read alone: one
    the reader cannot read (not UTF-8, a NUL, a stray carriage return, longer than `MAX_CSV_LINE`)
    is its event's error and the upload goes on, as for any invalid event; the lines before it
    may be recorded already, so it must never fail the upload. A header that cannot be read fails
    it, before anything is recorded."""
    header: list[str] | None = None
    number = 0  # the line's number in the file, the header's being 1
    async for line in _csv_lines(chunks):
        number += 1
        if header is None:
            header = _csv_header(_csv_cells(line, number, first=True))
            continue
        try:
            values = _csv_cells(line, number)
        except ValidationFailed as exc:
            yield exc
            continue
        if values:
            yield _csv_event(header, values, number)
    if header is None:
        _csv_header([])


async def _csv_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes | None]:
    """The lines of a body as its bytes arrive (split on LF, which is never part of a multi-byte
    UTF-8 character); None for a line longer than `MAX_CSV_LINE`, whose bytes are not kept."""
    pending = b""
    overlong = False  # the line being received is past the limit: dropped up to its end
    async for chunk in chunks:
        parts = chunk.split(b"\n")
        for part in parts[:-1]:
            line = None if overlong else pending + part
            yield None if line is None or len(line) > MAX_CSV_LINE else line
            pending, overlong = b"", False
        if not overlong:
            pending += parts[-1]
            if len(pending) > MAX_CSV_LINE:
                pending, overlong = b"", True
    if overlong:
        yield None
    elif pending.strip():
        yield pending


def _csv_cells(line: bytes | None, number: int, *, first: bool = False) -> list[str]:
    """The cells of one line (none for a blank line), or the error naming the line."""
    if line is None:
        raise _line_error(number, f"longer than {MAX_CSV_LINE:,} bytes")
    if first and line.startswith(_BOM):
        line = line[len(_BOM) :]
    try:
        text = line.decode()
    except UnicodeDecodeError:
        raise _line_error(number, "not UTF-8") from None
    if "\x00" in text:  # no store can hold a NUL (decision D45)
        raise _line_error(number, "holds a NUL character")
    try:
        return next(csv.reader([text]), [])
    except csv.Error as exc:  # e.g. a carriage return inside an unquoted cell
        raise _line_error(number, f"cannot be read as CSV ({exc})") from None


def _line_error(number: int, why: str) -> ValidationFailed:
    return ValidationFailed(f"line {number} of the CSV: {why}", field="events")


def _csv_event(header: list[str], values: list[str], number: int) -> dict[str, Any] | ValidationFailed:
    """A CSV line's event (empty and missing trailing cells are absent fields), or, for a line
    with more cells than the header has columns (a shifted row: an unquoted comma in a value),
    the row's error: taking the first cells would put values under the wrong columns."""
    if len(values) > len(header):
        return _line_error(
            number,
            f"{len(values)} values for the header's {len(header)} columns "
            "(a comma inside a value must be quoted)",
        )
    return {k: v for k, v in zip(header, values, strict=False) if v}


def _csv_header(names: list[str]) -> list[str]:
    columns = [n.strip() for n in names]
    unknown = set(columns) - OFFLINE_FIELDS
    if not columns or unknown:
        raise ValidationFailed(
            f"CSV header: unknown columns {sorted(unknown)}; use {sorted(OFFLINE_FIELDS)}", field="events"
        )
    return columns


def _offline_event(index: int, row: Any, errors: list[dict[str, Any]]) -> OfflineEvent | None:
    """The event of one uploaded row, or None with its error (index, field, message) noted: one
    bad row does not cost the rest of the upload. Messages never repeat a raw identifier."""
    try:
        if isinstance(row, ValidationFailed):  # a CSV line that cannot be read as an event
            raise row
        parsed = OfflineEventIn.model_validate(row)
        identifiers = parsed.identifiers()
        if not identifiers:
            raise ValidationFailed("needs hashed_email, email, hashed_phone or phone", field="hashed_email")
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_from_loc(("body", *first["loc"]))
        errors.append({"index": index, "field": field, "message": first["msg"]})
        return None
    except ValidationFailed as exc:
        errors.append({"index": index, "field": exc.field, "message": exc.message})
        return None
    return OfflineEvent(
        identifiers=identifiers,
        value_micros=to_micros(parsed.value),
        currency=parsed.currency,
        event_time=parsed.event_time,
        event_id=parsed.event_id,
        event_type=parsed.event_type,
    )


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
        "click_id": idfmt.render(idfmt.CLICK_PREFIX, c.click_id),
        "recorded_at": utc_text(c.created_at),
    }
