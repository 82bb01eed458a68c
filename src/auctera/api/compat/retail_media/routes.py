"""`/{version}/retail-media/...`: accounts, retail-media campaigns, open-auction line items and the
products they promote, as the official SDKs of API versions 2023-10 to 2025-10 call them.

Bodies are parsed here by hand (translate.py), not by FastAPI: a bad write answers 400 with one
error per bad attribute, each pointing at it, in the surface's envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from auctera.api.auth import oauth_principal
from auctera.api.deps import container_of, read
from auctera.api.json_body import parse_json
from auctera.api.responses import OrjsonResponse
from auctera.api.routing import IndexedRouter
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.budgets import local_day
from auctera.domain.campaigns import CampaignType
from auctera.domain.ids import from_decimal
from auctera.domain.line_items import LineItemInvalid, Problem
from auctera.errors import Forbidden, NotFound, ValidationFailed

from . import translate
from .envelope import VERSIONS, errors, problem, single
from .schemas import CREATED_LINE_ITEM_TYPE, LINE_ITEM_TYPE

router = IndexedRouter(prefix="/{version}/retail-media", tags=["retail media (seed 004)"])

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
MAX_PRODUCT_LIMIT = 500  # the products list of 2024-07 and later: offset/limit
# From this version on, promoted products use the PromotedProduct model and its outcomes.
PRODUCT_OUTCOMES_SINCE = "2024-07"

P = ParamSpec("P")
T = TypeVar("T")


def _version(version: str) -> None:
    if version not in VERSIONS:
        raise NotFound(f"API version {version} is not served; use one of {', '.join(VERSIONS)}")


def _path_id(value: str, name: str) -> int:
    number = from_decimal(value)
    if number is not None:
        return number
    raise NotFound(f"{name} {value} not found", field=name)


class QueryInvalid(Exception):
    """Bad query parameters: a 400 whose errors name them as `source.parameter`, not as a
    body attribute."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _invalid(problems: list[Problem], *, query: bool = False) -> OrjsonResponse:
    found = [
        problem(400, p.code, p.message, parameter=p.attribute)
        if query
        else problem(400, p.code, p.message, p.attribute)
        for p in problems
    ]
    return OrjsonResponse(errors(found), status_code=400)


async def _call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A write, in the threadpool."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def _body(request: Request) -> Any:
    return parse_json(await request.body())


def _ints(request: Request, *specs: tuple[str, int, int, int]) -> list[int]:
    """Query integers given as (name, default, lowest, highest); every bad one named at once."""
    found: list[Problem] = []
    values = []
    for name, default, low, high in specs:
        raw = request.query_params.get(name)
        value = default if raw in (None, "") else from_decimal(raw)
        value = -1 if value is None else value
        if not low <= value <= high:
            found.append(Problem(name, "invalid-page", f"{name} must be an integer from {low} to {high}"))
        values.append(value)
    if found:
        raise QueryInvalid(found)
    return values


def _page(request: Request) -> tuple[int, int]:
    page_index, page_size = _ints(
        request, ("pageIndex", 0, 0, 10**9), ("pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    )
    return page_index, page_size


def _only_ids(request: Request) -> list[int] | None:
    """`limitToId`, repeated (the SDKs) or comma-separated. A value that is no id is refused: an
    empty page would read as "none of these exist"."""
    raw = [part for value in request.query_params.getlist("limitToId") for part in value.split(",") if part]
    if not raw:
        return None
    ids = [from_decimal(part) for part in raw]
    bad = [part for part, n in zip(raw, ids, strict=True) if n is None]
    if bad:
        detail = f"limitToId takes int64 ids, not {', '.join(map(repr, bad[:10]))}"
        raise QueryInvalid([Problem("limitToId", "invalid-id", detail)])
    return [n for n in ids if n is not None]


def _link(request: Request, page_size: int) -> Callable[[int], str]:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("pageIndex", "pageSize")]

    def to(page_index: int) -> str:
        query = urlencode([*kept, ("pageIndex", page_index), ("pageSize", page_size)])
        return str(request.url.replace(query=query))

    return to


def _today(request: Request, principal: Principal) -> date:
    return local_day(container_of(request).clock(), ZoneInfo(principal.timezone))


def _campaign_owner(principal: Principal) -> None:
    """Only an advertiser owns retail-media campaigns. A network token acts for the network's own
    account only on this surface (it lists that account and reaches its line items alone), so it
    cannot create one for an advertiser either: told so before the body is read, whatever it
    holds, rather than sent after an `advertiser_id` this surface does not take."""
    if principal.is_network:
        raise Forbidden(
            "network accounts cannot own retail-media campaigns, and a network token acts only for"
            " its own account here: create the campaign with the advertiser's own OAuth2 client"
            " (auctera clients create --account <advertiser> issues one)"
        )
    if principal.kind is not AccountKind.ADVERTISER:
        raise Forbidden(
            "publisher accounts cannot own retail-media campaigns: an advertiser creates them"
            " with its own OAuth2 client"
        )


def _account_of(principal: Principal, account_id: str) -> None:
    if _path_id(account_id, "accountId") != principal.account_id:
        # The same words for every caller: a token acts for its own account, the one /accounts lists.
        raise NotFound(
            f"account {account_id} not found: a token acts for its own account only (GET /accounts)",
            field="accountId",
        )


async def _respond(produce: Callable[[], Any]) -> Any:
    """Runs an endpoint body; validation failures become 400 in this surface's envelope."""
    try:
        return await produce()
    except LineItemInvalid as exc:
        return _invalid(list(exc.problems))
    except QueryInvalid as exc:
        return _invalid(exc.problems, query=True)
    except ValidationFailed as exc:  # the campaign checks shared with /v2
        return _invalid([translate.campaign_problem(exc.field, exc.code, exc.message)])


# --- accounts ----------------------------------------------------------------------------------


@router.get("/accounts", summary="The accounts the token can use (the caller's own)")
async def accounts(request: Request, version: str, principal: Principal = Depends(oauth_principal)) -> Any:
    _version(version)

    async def produce() -> Any:
        page_index, page_size = _page(request)
        account = await read(request, container_of(request).accounts.get_account, principal.account_id)
        only = _only_ids(request)
        found = [account] if only is None or account.id in only else []
        shown = found[page_index * page_size : (page_index + 1) * page_size]
        return OrjsonResponse(
            {
                "data": [translate.account_resource(a) for a in shown],
                "metadata": translate.page_metadata(
                    len(found), page_index, page_size, _link(request, page_size)
                ),
                "warnings": [],
                "errors": [],
            }
        )

    return await _respond(produce)


# --- campaigns ---------------------------------------------------------------------------------


@router.get("/accounts/{accountId}/campaigns", summary="The account's retail-media campaigns")
async def campaigns(
    request: Request, version: str, accountId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    _account_of(principal, accountId)

    async def produce() -> Any:
        page_index, page_size = _page(request)
        service = container_of(request).line_items
        found, total = await read(
            request,
            service.retail_campaigns,
            principal,
            page_index=page_index,
            page_size=page_size,
            only_ids=_only_ids(request),
        )
        today = _today(request, principal)
        return OrjsonResponse(
            {
                "data": [translate.campaign_resource(c, principal.timezone, today) for c in found],
                "metadata": translate.page_metadata(total, page_index, page_size, _link(request, page_size)),
                "warnings": [],
                "errors": [],
            }
        )

    return await _respond(produce)


@router.post("/accounts/{accountId}/campaigns", status_code=201, summary="Create a retail-media campaign")
async def create_campaign(
    request: Request, version: str, accountId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    _account_of(principal, accountId)  # another account's id is 404 for every kind, as on reads
    _campaign_owner(principal)
    container = container_of(request)

    async def produce() -> Any:
        fields = translate.campaign_create(await _body(request), principal.timezone)
        created = await _call(container.campaigns.create, principal, CampaignType.RETAIL_MEDIA, fields)
        # Reviewed at once (not after the response, as /v2 does): the SDK reads the status it is given.
        await _call(container.campaigns.review, created.id)
        found = await read(request, container.line_items.retail_campaign, principal, created.id)
        body = single(translate.campaign_resource(found, principal.timezone, _today(request, principal)))
        return OrjsonResponse(body, status_code=201)

    return await _respond(produce)


@router.get("/campaigns/{campaignId}", summary="A retail-media campaign")
async def campaign(
    request: Request, version: str, campaignId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    campaign_id = _path_id(campaignId, "campaignId")
    found = await read(request, container_of(request).line_items.retail_campaign, principal, campaign_id)
    return OrjsonResponse(
        single(translate.campaign_resource(found, principal.timezone, _today(request, principal)))
    )


# --- line items --------------------------------------------------------------------------------


@router.get("/campaigns/{campaignId}/auction-line-items", summary="A campaign's open-auction line items")
async def line_items(
    request: Request, version: str, campaignId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    campaign_id = _path_id(campaignId, "campaignId")

    async def produce() -> Any:
        page_index, page_size = _page(request)
        states, total = await read(
            request,
            container_of(request).line_items.list_line_items,
            principal,
            campaign_id,
            page_index=page_index,
            page_size=page_size,
            only_ids=_only_ids(request),
        )
        return OrjsonResponse(
            {
                "data": [translate.line_item_resource(s, LINE_ITEM_TYPE) for s in states],
                "metadata": translate.page_metadata(total, page_index, page_size, _link(request, page_size)),
                "warnings": [],
                "errors": [],
            }
        )

    return await _respond(produce)


@router.post(
    "/campaigns/{campaignId}/auction-line-items", status_code=201, summary="Create an open-auction line item"
)
async def create_line_item(
    request: Request, version: str, campaignId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    campaign_id = _path_id(campaignId, "campaignId")

    async def produce() -> Any:
        # Another tenant's campaign is "not found" whatever the body says.
        await read(request, container_of(request).line_items.retail_campaign, principal, campaign_id)
        write = translate.line_item_write(await _body(request))
        state = await _call(container_of(request).line_items.create, principal, campaign_id, write)
        resource = translate.line_item_resource(state, CREATED_LINE_ITEM_TYPE, id_in_attributes=True)
        return OrjsonResponse(single(resource), status_code=201)

    return await _respond(produce)


@router.get("/auction-line-items/{lineItemId}", summary="An open-auction line item")
async def line_item(
    request: Request, version: str, lineItemId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    line_item_id = _path_id(lineItemId, "lineItemId")
    state = await read(request, container_of(request).line_items.get, principal, line_item_id)
    return OrjsonResponse(single(translate.line_item_resource(state, LINE_ITEM_TYPE)))


@router.put("/auction-line-items/{lineItemId}", summary="Replace an open-auction line item's attributes")
async def replace_line_item(
    request: Request, version: str, lineItemId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    line_item_id = _path_id(lineItemId, "lineItemId")

    async def produce() -> Any:
        await read(request, container_of(request).line_items.get, principal, line_item_id)  # 404 first
        write = translate.line_item_write(await _body(request), line_item_id=line_item_id)
        state = await _call(container_of(request).line_items.replace, principal, line_item_id, write)
        return OrjsonResponse(single(translate.line_item_resource(state, LINE_ITEM_TYPE)))

    return await _respond(produce)


# --- promoted products -------------------------------------------------------------------------


def _legacy(version: str) -> bool:
    return version < PRODUCT_OUTCOMES_SINCE  # "YYYY-MM" strings order as dates


@router.get("/line-items/{lineItemId}/products", summary="The products a line item promotes")
async def products(
    request: Request, version: str, lineItemId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    line_item_id = _path_id(lineItemId, "lineItemId")
    service = container_of(request).line_items

    async def produce() -> Any:
        if _legacy(version):  # pageIndex/pageSize and PageMetadata
            page_index, page_size = _page(request)
            ids, total = await read(
                request,
                service.products,
                principal,
                line_item_id,
                offset=page_index * page_size,
                limit=page_size,
            )
            return OrjsonResponse(
                {
                    "data": [translate.legacy_product_resource(i) for i in ids],
                    "metadata": translate.page_metadata(
                        total, page_index, page_size, _link(request, page_size)
                    ),
                    "warnings": [],
                    "errors": [],
                }
            )
        offset, limit = _offset_limit(request)
        ids, total = await read(
            request, service.products, principal, line_item_id, offset=offset, limit=limit
        )
        return OrjsonResponse(
            {
                "data": [translate.product_resource(i) for i in ids],
                "meta": {"count": total, "offset": offset, "limit": limit, "responseCount": len(ids)},
                "warnings": [],
                "errors": [],
            }
        )

    return await _respond(produce)


def _offset_limit(request: Request) -> tuple[int, int]:
    offset, limit = _ints(
        request, ("offset", 0, 0, 10**9), ("limit", MAX_PRODUCT_LIMIT, 1, MAX_PRODUCT_LIMIT)
    )
    return offset, limit


async def _change_products(
    request: Request, version: str, line_item_id: int, principal: Principal, add: bool
) -> Any:
    service = container_of(request).line_items

    async def produce() -> Any:
        await read(request, service.get, principal, line_item_id)  # 404 before any 400
        refs = translate.product_refs(await _body(request))
        change = service.add_products if add else service.remove_products
        ids = await _call(change, principal, line_item_id, refs)
        if _legacy(version):  # PromotedProduct202110PagedListResponse: the products named
            return OrjsonResponse(
                {
                    "data": [translate.legacy_product_resource(i) for i in ids],
                    "metadata": translate.page_metadata(len(ids), 0, max(len(ids), 1), lambda _: ""),
                    "warnings": [],
                    "errors": [],
                }
            )
        return OrjsonResponse({"warnings": [], "errors": []})  # ProductResourceOutcome

    return await _respond(produce)


@router.post("/line-items/{lineItemId}/products/append", summary="Promote products (idempotent)")
async def append_products(
    request: Request, version: str, lineItemId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    return await _change_products(request, version, _path_id(lineItemId, "lineItemId"), principal, add=True)


@router.post("/line-items/{lineItemId}/products/delete", summary="Stop promoting products (idempotent)")
async def delete_products(
    request: Request, version: str, lineItemId: str, principal: Principal = Depends(oauth_principal)
) -> Any:
    _version(version)
    return await _change_products(request, version, _path_id(lineItemId, "lineItemId"), principal, add=False)
