"""/v2/retailers: retailers, their product catalogs, and product feed imports.

A feed is uploaded as the raw request body (Content-Type says the format) or as the `file` part
of a multipart form. The raw body is streamed: the import reads it a block at a time from the
connection, in a worker thread, so a feed of any size takes flat memory. (A multipart upload is
spooled to a temporary file by Starlette first, also in flat memory.)
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import anyio.from_thread
import anyio.lowlevel
from fastapi import Depends, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import DecimalJSONRoute, QueryInt, _Write, money
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal, parse_account_id, render_account_id
from auctera.domain.catalog import FeedFormat, FeedImport, Product, Retailer
from auctera.errors import NotFound, ValidationFailed
from auctera.feeds import detect_format
from auctera.services.catalog import MAX_PAGE, CatalogService, ProductQuery

# A file name is only the import's label: control characters and lone surrogates are dropped.
_UNSTORABLE_NAME = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")

router = IndexedRouter(prefix="/v2", tags=["retailers"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]


# --- requests and responses -----------------------------------------------------------------


class RetailerCreate(_Write):
    name: str = Field(description="Display name, 1-255 characters")
    domain: str = Field(description="The retailer's web site host name, e.g. shop.example.com")
    account_id: str | None = Field(
        default=None,
        description="Network keys: the account the retailer belongs to, a publisher (a retail site "
        "serving sponsored products) or an advertiser (a merchant whose products win SmartLinks)",
    )


def retailer_json(r: Retailer) -> dict[str, Any]:
    return {
        "retailer_id": idfmt.render("ret", r.id),
        "account_id": render_account_id(r.account_kind, r.account_id),
        "name": r.name,
        "domain": r.domain,
        "created_at": r.created_at.isoformat(),
    }


def product_json(p: Product) -> dict[str, Any]:
    return {
        "product_id": idfmt.render("prd", p.id),
        "retailer_id": idfmt.render("ret", p.retailer_id),
        "external_id": p.external_id,
        "name": p.name,
        "description": p.description,
        "price": money(p.price_micros),
        "currency": p.currency,
        "min_bid": money(p.min_bid_micros),
        "url": p.url,
        "image_url": p.image_url,
        "in_stock": p.in_stock,
        "category": p.category,
        "brand": p.brand,
        "gtin": p.gtin,
        "sku": p.sku,
        "match_key": p.match_key,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }


def import_json(r: FeedImport) -> dict[str, Any]:
    return {
        "import_id": idfmt.render("imp", r.id),
        "retailer_id": idfmt.render("ret", r.retailer_id),
        "source": r.source,
        "format": r.format.value,
        "status": r.status.value,
        "rows_read": r.rows_read,
        "rows_valid": r.rows_valid,
        "rows_invalid": r.rows_invalid,
        "marked_out_of_stock": r.marked_out_of_stock,
        "errors": [{"line": e.line, "field": e.field, "reason": e.reason} for e in r.errors],
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
    }


# --- helpers --------------------------------------------------------------------------------


def _service(request: Request) -> CatalogService:
    return container_of(request).catalog


def _id(prefix: str, text: str, what: str, field: str) -> int:
    value = idfmt.parse(prefix, text)
    if value is None:
        raise NotFound(f"{what} {text} not found", field=field)
    return value


class _RequestBody:
    """The request body as a blocking byte stream for the import, which runs off the event loop:
    each read waits for the next chunk from the connection on the loop. (Reads may come from
    pyarrow's own I/O thread, hence the loop's token rather than anyio's worker-thread context.)"""

    def __init__(self, request: Request) -> None:
        self._token = anyio.lowlevel.current_token()
        self._chunks = request.stream().__aiter__()
        self._buffer = b""
        self._done = False

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = anyio.from_thread.run(self._next, token=self._token)
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


# --- routes ---------------------------------------------------------------------------------


@router.post(
    "/retailers",
    status_code=201,
    summary="Create a retailer (a retail site or a merchant, with a product catalog)",
)
def create_retailer(request: Request, body: RetailerCreate, caller: Caller) -> dict[str, Any]:
    account_id = None
    if body.account_id is not None:
        account_id = parse_account_id(body.account_id)
        if account_id is None:
            raise NotFound(f"account {body.account_id} not found", field="account_id")
    retailer = _service(request).create_retailer(caller, body.name, body.domain, account_id=account_id)
    return retailer_json(retailer)


@router.get("/retailers", summary="List retailers, newest first")
def list_retailers(
    request: Request,
    caller: Caller,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    page = _service(request).list_retailers(caller, limit=limit, cursor=cursor)
    return {
        "data": [retailer_json(r) for r in page.retailers],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }


@router.get("/retailers/{retailer_id}", summary="One retailer")
def get_retailer(request: Request, retailer_id: str, caller: Caller) -> dict[str, Any]:
    rid = _id("ret", retailer_id, "retailer", "retailer_id")
    return retailer_json(_service(request).get_retailer(caller, rid))


@router.post(
    "/retailers/{retailer_id}/feeds",
    status_code=201,
    summary="Import a product feed (CSV, TSV, JSON, JSON Lines, XML); answers the import report",
)
async def import_feed(
    request: Request,
    retailer_id: str,
    caller: Caller,
    format: Annotated[
        FeedFormat | None, Query(description="Overrides the format the Content-Type or file name says")
    ] = None,
) -> dict[str, Any]:
    rid = _id("ret", retailer_id, "retailer", "retailer_id")
    service = _service(request)
    await run_in_threadpool(service.get_retailer, caller, rid)  # 404 before reading the feed
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=10)
        except HTTPException as exc:  # Starlette's 400 for a form it cannot parse
            raise ValidationFailed(f"the multipart form cannot be read: {exc.detail}", field="file") from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ValidationFailed("the multipart form needs the feed as its 'file' part", field="file")
            fmt = _format(format or detect_format(upload.filename, upload.content_type))
            source = _UNSTORABLE_NAME.sub("", upload.filename or "") or "api"
            report = await run_in_threadpool(
                service.import_feed, caller, rid, upload.file, fmt, source=source
            )
        finally:
            await form.close()  # the spooled file
    else:
        fmt = _format(format or detect_format(None, content_type))
        body: Any = _RequestBody(request)  # a blocking byte stream, as the readers take
        report = await run_in_threadpool(service.import_feed, caller, rid, body, fmt, source="api")
    return import_json(report)


def _format(found: FeedFormat | None) -> FeedFormat:
    if found is None:
        raise ValidationFailed(
            "unknown feed format: send Content-Type text/csv, text/tab-separated-values, application/json, "
            "application/x-ndjson or application/xml, or pass ?format=",
            field="format",
        )
    return found


@router.get("/retailers/{retailer_id}/feeds/{import_id}", summary="A feed import's progress or report")
def get_import(request: Request, retailer_id: str, import_id: str, caller: Caller) -> dict[str, Any]:
    rid = _id("ret", retailer_id, "retailer", "retailer_id")
    iid = _id("imp", import_id, "feed import", "import_id")
    return import_json(_service(request).get_import(caller, rid, iid))


@router.get("/retailers/{retailer_id}/products", summary="A retailer's products, newest first")
def list_products(
    request: Request,
    retailer_id: str,
    caller: Caller,
    in_stock: bool | None = None,
    gtin: Annotated[str | None, Query(description="GTIN-8/12/13/14 (EAN, UPC)")] = None,
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="pagination.next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    rid = _id("ret", retailer_id, "retailer", "retailer_id")
    query = ProductQuery(in_stock=in_stock, gtin=gtin, limit=limit, cursor=cursor)
    page = _service(request).list_products(caller, rid, query)
    return {
        "data": [product_json(p) for p in page.products],
        "pagination": {"next_cursor": page.next_cursor, "limit": limit},
    }


@router.get("/retailers/{retailer_id}/products/{product_id}", summary="One product")
def get_product(request: Request, retailer_id: str, product_id: str, caller: Caller) -> dict[str, Any]:
    rid = _id("ret", retailer_id, "retailer", "retailer_id")
    pid = _id("prd", product_id, "product", "product_id")
    return product_json(_service(request).get_product(caller, rid, pid))
