"""/v2 request models (unknown fields rejected), their translation to the domain, and response JSON.

Money arrives as JSON numbers and is parsed exactly: `DecimalJSONRoute` reads request bodies
with `parse_float=Decimal`, so 0.1 is 0.1 and never a binary float, and more than six decimal
places is refused rather than rounded. Every /v2 router uses it (tests/api/test_v2_json_types.py).

FastAPI validates bodies in Python mode (and with from_attributes), where Pydantic's lax types
read `true` as 1, "1_000" as 1000, 0 as 1970-01-01 and 1.5 as an empty object, and its strict
types would refuse the Decimal a JSON number arrives as. The types below take what JSON says.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import Request, Response, params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_signature
from fastapi.routing import APIRoute
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from auctera.api.json_body import decimal_json, is_json, json_number, parse_json
from auctera.api.responses import dumps_text_safe, json_decimal
from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, render_account_id
from auctera.domain.campaigns import (
    DSP_TYPES,
    UNSET,
    BiddingPatch,
    BidStrategy,
    BudgetPatch,
    Campaign,
    CampaignPatch,
    CampaignType,
    DeviceType,
    Pacing,
    Performance,
    Targeting,
    TargetingPatch,
    Visibility,
)
from auctera.domain.compliance import BlockedDomain
from auctera.domain.events import Totals
from auctera.domain.money import display, from_micros, to_micros
from auctera.domain.tracking import IMPRESSION_PATH, VIEWABLE_PATH, tracking_links
from auctera.errors import NotFound, ValidationFailed

# --- exact JSON numbers --------------------------------------------------------------------


class _DecimalRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decimal_json(await self.body())
        return self._json


def _known_query(
    route: APIRoute, handler: Callable[[Request], Coroutine[Any, Any, Response]]
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """`handler`, refusing a query parameter the route does not take (422 naming it), as an
    unknown body field is: a misspelled filter (`?stauts=`, `?campaign=`) would otherwise answer
    unfiltered figures as if they were the filtered ones."""
    known = _query_names(route.dependant)

    async def checked(request: Request) -> Response:
        if request.scope["query_string"]:
            for name in request.query_params:
                if name not in known:
                    takes = f"; it takes {', '.join(sorted(known))}" if known else "; it takes none"
                    raise ValidationFailed(f"unknown query parameter '{name}'{takes}", field=name)
        return await handler(request)

    return checked


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route takes, its dependencies' included."""
    names: set[str] = set()
    todo = [dependant]
    while todo:
        d = todo.pop()
        names.update(p.alias for p in d.query_params)
        todo.extend(d.dependencies)
    return frozenset(names)


_FORM_TYPES = (b"application/x-www-form-urlencoded", b"text/plain")


def _typed_as_json(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers of a body with no type or typed as curl's -d (or a browser form) types it,
    typed as JSON: such a body is read as JSON (FastAPI would read the untyped one as JSON with
    its own errors, and the form-typed one not at all: "Input should be a JSON object")."""
    for i, (k, v) in enumerate(headers):
        if k == b"content-type":
            if v.partition(b";")[0].strip().lower() not in _FORM_TYPES:
                return headers
            return [*headers[:i], (k, b"application/json"), *headers[i + 1 :]]
    return [*headers, (b"content-type", b"application/json")]


class DecimalJSONRoute(APIRoute):
    """FastAPI route whose JSON bodies keep decimal numbers as Decimal, and whose text is
    Unicode (`json_body.parse_json`: a lone surrogate is a 400 naming the field, not a 500, and
    a body that cannot be read a 400 invalid_json saying why);
    the dicts it answers are written by orjson, money in plain digits (`_answered_by_orjson`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _answered_by_orjson(endpoint, kwargs.get("status_code")), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = _known_query(self, super().get_route_handler())
        if self.body_field is None:  # no body to read: no further wrapper
            return handler
        form = isinstance(self.body_field.field_info, params.Form)

        async def route(request: Request) -> Response:
            if not form:  # as /v2/conversions and bid management read theirs
                request.scope["headers"] = _typed_as_json(request.scope["headers"])
            exact = _DecimalRequest(request.scope, request.receive)
            if is_json(exact.headers.get("content-type")):
                body = await exact.body()
                if body:  # FastAPI reads an empty body as none sent
                    # Unreadable JSON is a 400 invalid_json saying why (`parse_json`): FastAPI's
                    # own is "There was an error parsing the body" for bad UTF-8, deep nesting or
                    # a number past Python's digit limit. What it parsed, FastAPI reads from here.
                    exact._json = parse_json(body)
            return await handler(exact)

        return route


_ANSWERS = "__auctera_answers_json__"
_SUB_RESPONSE = "auctera_sub_response"


def _answered_by_orjson(endpoint: Callable[..., Any], status_code: int | None) -> Callable[..., Any]:
    """`endpoint`, its dict or list answer written by orjson as the response, not serialised by
    FastAPI. Money is an `orjson.Fragment` of plain digits (`number`): FastAPI's Pydantic pass
    would refuse it, and a float would be written 1e-6. The response keeps what FastAPI would
    give it: the route's status code, or the one the endpoint set on its `Response` parameter,
    and that parameter's headers (one is declared for the endpoint when it has none, for those a
    dependency sets). An answer orjson cannot write (a model, a Decimal) is left to FastAPI."""
    if getattr(endpoint, _ANSWERS, False) or not inspect.isfunction(endpoint):
        return endpoint
    if inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint):
        return endpoint  # a stream: FastAPI's
    signature = inspect.signature(endpoint)
    typed = get_typed_signature(endpoint)
    own = next((p.name for p in typed.parameters.values() if p.annotation is Response), None)

    def answer(result: Any, sub: Response | None) -> Any:
        if not isinstance(result, dict | list):
            return result
        try:
            # OPT_UTC_Z: a UTC datetime ends in Z, as Pydantic writes it, not +00:00.
            body = dumps_text_safe(result, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)
        except TypeError:
            return result
        status = (sub.status_code if sub is not None else None) or status_code or 200
        response = Response(body, status_code=status, media_type="application/json")
        if sub is not None:
            response.headers.raw.extend(sub.headers.raw)
        return response

    def sub_response(kwargs: dict[str, Any]) -> Response | None:
        return kwargs.pop(_SUB_RESPONSE, None) if own is None else kwargs.get(own)

    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def answered(**kwargs: Any) -> Any:
            sub = sub_response(kwargs)
            return answer(await endpoint(**kwargs), sub)

    else:

        @functools.wraps(endpoint)
        def answered(**kwargs: Any) -> Any:
            sub = sub_response(kwargs)
            return answer(endpoint(**kwargs), sub)

    if own is None:  # FastAPI passes its response (status and headers of dependencies) here
        extra = inspect.Parameter(_SUB_RESPONSE, inspect.Parameter.KEYWORD_ONLY, annotation=Response)
        answered.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*signature.parameters.values(), extra]
        )
    setattr(answered, _ANSWERS, True)
    return answered


# --- request value types ----------------------------------------------------------------------

# Decimal text: ASCII digits, an optional fraction and exponent. Decimal() alone also reads
# "1_000" and other scripts' digits ("\u0661\u0662" is 12).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _decimal(value: Any) -> Any:
    """A JSON number, or decimal text (balances are documented as text, CSV rows are text)."""
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            raise PydanticCustomError("decimal_parsing", "Input should be a number, e.g. 12.5")
        return value
    return json_number(value)


def _exact(value: Decimal) -> Decimal:
    to_micros(value)  # raises ValueError past six decimal places, or for NaN/infinity
    return value


def _day(value: Any) -> Any:
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")


def _whole(value: Any) -> Any:
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise PydanticCustomError("int_parsing", "Input should be a whole number in digits, e.g. 25")
    return value


_DIGITS = re.compile(r"[0-9]{1,18}")
# A query's whole number in plain digits: "25", not "+25", " 25", "2_5" or "25.0" (Python's int()
# and Pydantic's lax mode take those; bid management and retail media refuse them, so do we).
QueryInt = Annotated[int, BeforeValidator(_whole)]
Exact = Annotated[Decimal, BeforeValidator(_decimal)]
Amount = Annotated[Exact, AfterValidator(_exact)]  # money: at most six decimal places
# Strict in Python mode takes an int and nothing else (not true, "12" or 12.0): a JSON integer.
Count = StrictInt
Day = Annotated[date, BeforeValidator(_day)]  # ISO text, never a Unix timestamp (bodies and queries)


def _micros(value: Decimal | None) -> int | None:
    return None if value is None else to_micros(value)


class _Write(BaseModel):
    """The base of /v2 request bodies: unknown fields are refused, and so is anything but a JSON
    object (FastAPI's from_attributes would otherwise build a model out of a number's attributes:
    `"targeting": 1.5` read as `{}`)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        if not isinstance(value, dict | BaseModel):
            raise PydanticCustomError("model_type", "Input should be a JSON object")
        return value

    def given(self, name: str) -> bool:
        return name in self.model_fields_set


# --- requests ------------------------------------------------------------------------------


class BudgetIn(_Write):
    daily: Amount | None = None
    total: Amount | None = None
    currency: str | None = Field(default=None, description="ISO 4217; must be the account's currency")

    def patch(self) -> BudgetPatch:
        return BudgetPatch(
            daily_micros=_micros(self.daily) if self.given("daily") else UNSET,
            total_micros=_micros(self.total) if self.given("total") else UNSET,
            currency=self.currency.upper() if self.currency else UNSET,
        )


class AudiencesIn(_Write):
    include: list[str] = Field(default_factory=list, description="aud_… ids: a visitor must be in one")
    exclude: list[str] = Field(default_factory=list, description="aud_… ids: a visitor must be in none")


def _audience_ids(texts: list[str], field: str) -> tuple[int, ...]:
    ids = []
    for text in texts:
        value = idfmt.parse("aud", text.strip())
        if value is None:
            raise NotFound(f"audience {text} not found", field=field)
        ids.append(value)
    return tuple(ids)


class TargetingIn(_Write):
    geo: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 country codes")
    zip_codes: list[str] = Field(default_factory=list, description="US ZIP codes (12345 or 12345-6789)")
    dmas: list[str] = Field(default_factory=list, description="Nielsen DMA codes, e.g. 501")
    device_types: list[DeviceType] = Field(default_factory=list)
    audiences: AudiencesIn | None = Field(default=None, description="docs/api-v2-audiences.md")

    def patch(self) -> TargetingPatch:
        audiences = self.audiences or AudiencesIn()
        given = self.given("audiences")
        where = "targeting.audiences"
        return TargetingPatch(
            geo=tuple(self.geo) if self.given("geo") else UNSET,
            zip_codes=tuple(self.zip_codes) if self.given("zip_codes") else UNSET,
            dmas=tuple(self.dmas) if self.given("dmas") else UNSET,
            device_types=tuple(self.device_types) if self.given("device_types") else UNSET,
            include_audiences=_audience_ids(audiences.include, f"{where}.include") if given else UNSET,
            exclude_audiences=_audience_ids(audiences.exclude, f"{where}.exclude") if given else UNSET,
        )


class BiddingIn(_Write):
    strategy: BidStrategy = BidStrategy.MAXIMIZE_CONVERSIONS
    target_amount: Amount | None = Field(
        default=None, description="CPA or CPC in the budget currency; for target_roas a ratio (4 = 400%)"
    )

    def patch(self) -> BiddingPatch:
        return BiddingPatch(
            strategy=self.strategy if self.given("strategy") else UNSET,
            target_micros=_micros(self.target_amount) if self.given("target_amount") else UNSET,
        )


class BidMultipliersIn(_Write):
    device_type: dict[DeviceType, Exact] = Field(
        default_factory=dict, description="0 (do not bid) to 10; 1 is neutral"
    )


class _CampaignFields(_Write):
    name: str | None = Field(default=None, max_length=255)
    budget: BudgetIn | None = Field(
        default=None, description='A number (the total budget) or {"daily", "total", "currency"}'
    )
    targeting: TargetingIn | None = None
    bid_multipliers: BidMultipliersIn | None = None
    pacing: Pacing | None = None
    bidding: BiddingIn | None = None
    destination_url: str | None = Field(default=None, description="May carry macros such as {click_id}")
    payout: Amount | None = Field(
        default=None, description="Affiliate types: paid to the publisher per action"
    )
    start_date: Day | None = None
    end_date: Day | None = None
    promotional_rules: list[str] | None = Field(
        default=None, description='Affiliate offers: e.g. ["No Incentivized Traffic", "Email Only"]'
    )
    visibility: Visibility | None = Field(
        default=None, description="Affiliate offers: public (default) or private (approved publishers only)"
    )

    @field_validator("budget", mode="before")
    @classmethod
    def _number_is_total(cls, value: Any) -> Any:
        # The seed creates with `"budget": 10000`: a bare number is the total budget.
        if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool):
            return {"total": value}
        return value

    def patch(self) -> CampaignPatch:
        """Only the fields present in the request; an explicit null clears a field (or resets it to
        its default), which validation then refuses where the field is required."""

        def part(name: str, value: Any) -> Any:
            return value if self.given(name) else UNSET

        def nested(name: str, model: BudgetIn | TargetingIn | BiddingIn | None, cleared: Any) -> Any:
            return part(name, cleared if model is None else model.patch())

        return CampaignPatch(
            name=part("name", self.name or ""),
            budget=nested("budget", self.budget, BudgetPatch(None, None)),
            targeting=nested("targeting", self.targeting, TargetingPatch((), (), (), ())),
            bidding=nested("bidding", self.bidding, BiddingPatch(BidStrategy.MAXIMIZE_CONVERSIONS, None)),
            device_multipliers=part(
                "bid_multipliers", self.bid_multipliers.device_type if self.bid_multipliers else {}
            ),
            pacing=part("pacing", self.pacing or Pacing.EVEN),
            destination_url=part("destination_url", self.destination_url),
            payout_micros=part("payout", _micros(self.payout)),
            start_date=part("start_date", self.start_date),
            end_date=part("end_date", self.end_date),
            promotional_rules=part(
                "promotional_rules", tuple(r.strip() for r in self.promotional_rules or ())
            ),
            visibility=part("visibility", self.visibility or Visibility.PUBLIC),
        )

    def updated_fields(self) -> list[str]:
        """The fields the request sets, in the order of this model (the seed's example order)."""
        return [name for name in type(self).model_fields if self.given(name)]


class CampaignCreate(_CampaignFields):
    type: CampaignType
    name: str = Field(min_length=1, max_length=255)  # type: ignore[assignment]
    budget: BudgetIn = Field(description='A number (the total budget) or {"daily", "total", "currency"}')  # type: ignore[assignment]
    advertiser_id: str | None = Field(
        default=None, description="Network keys only: the advertiser (adv_…) the campaign is created for"
    )


class CampaignUpdate(_CampaignFields):
    status: Literal["active", "paused"] | None = Field(
        default=None, description="Pause or resume; DELETE archives"
    )


class ReviewDecision(_Write):
    decision: Literal["approve", "reject"]
    reasons: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=20)


class BlockedDomainIn(_Write):
    domain: str = Field(min_length=1, max_length=253, description="Blocks the domain and its subdomains")
    reason: str | None = Field(default=None, max_length=500)


# --- responses -----------------------------------------------------------------------------

# A JSON number in plain digits (`responses.json_decimal`); orjson writes it as it is.
Number = orjson.Fragment


def number(value: Decimal) -> Number:
    """A JSON number as the seed writes them: 5000, 1240.5, and 0.000001, never 1e-6."""
    return json_decimal(value)


def money(micros: int | None) -> Number | None:
    return None if micros is None else number(from_micros(micros))


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _reviewer(c: Campaign) -> str | None:
    if c.review.reviewed_at is None:
        return None
    if c.review.reviewer_id is None:
        return "automated"
    return render_account_id(AccountKind.NETWORK, c.review.reviewer_id)


def campaign_id(c: Campaign) -> str:
    return idfmt.render("cmp", c.id)


def _common(c: Campaign) -> dict[str, Any]:
    return {
        "id": campaign_id(c),
        "advertiser_id": render_account_id(AccountKind.ADVERTISER, c.account_id),
        "name": c.name,
        "type": c.type.value,
        "status": c.status.value,
        "budget": {
            "daily": money(c.budget.daily_micros),
            "total": money(c.budget.total_micros),
            "currency": c.budget.currency,
        },
        "bidding": {"strategy": c.bidding.strategy.value, "target_amount": money(c.bidding.target_micros)},
        "start_date": _iso(c.start_date),
        "end_date": _iso(c.end_date),
    }


def tracking_json(c: Campaign, tracking_url: str) -> dict[str, Any] | None:
    """Click and impression URLs for ads of a DSP campaign; affiliate offers get theirs per
    publisher from /v2/offers/links."""
    if c.type not in DSP_TYPES:
        return None
    click, pixel = tracking_links(tracking_url, c.id, None, {}, offer=False)
    viewable = pixel.replace(IMPRESSION_PATH + "?", VIEWABLE_PATH + "?", 1)
    return {"click_url": click, "impression_pixel": pixel, "viewable_pixel": viewable}


def campaign_json(c: Campaign, tracking_url: str) -> dict[str, Any]:
    """Everything about one campaign (GET /v2/campaigns/{id})."""
    t = c.targeting
    return {
        **_common(c),
        "targeting": {
            "geo": list(t.geo),
            "zip_codes": list(t.zip_codes),
            "dmas": list(t.dmas),
            "device_types": [d.value for d in t.device_types],
            **_audiences_json(t),
        },
        "bid_multipliers": {"device_type": {d.value: number(m) for d, m in c.device_multipliers.items()}},
        "pacing": c.pacing.value,
        "destination_url": c.destination_url,
        "payout": money(c.payout_micros),
        "promotional_rules": list(c.promotional_rules),
        "visibility": c.visibility.value,
        "tracking": tracking_json(c, tracking_url),
        "review": {
            "reasons": list(c.review.reasons),
            "reviewed_at": _iso(c.review.reviewed_at),
            "reviewed_by": _reviewer(c),
        },
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
        "archived_at": _iso(c.archived_at),
    }


def _audiences_json(t: Targeting) -> dict[str, Any]:
    """`audiences` only when the campaign targets some (docs/api-v2-audiences.md)."""
    if not t.include_audiences and not t.exclude_audiences:
        return {}
    include = [idfmt.render("aud", i) for i in t.include_audiences]
    exclude = [idfmt.render("aud", i) for i in t.exclude_audiences]
    return {"audiences": {"include": include, "exclude": exclude}}


_CENT = Decimal("0.01")


def _figure(micros: int) -> Number:
    return number(display(micros, 2))


def performance_json(p: Performance) -> dict[str, Any]:
    cpa, roas = p.cpa, p.roas
    return {
        "spend_today": _figure(p.today.cost_micros),
        "conversions_today": Performance.conversions(p.today),
        "spend": _figure(p.period.cost_micros),
        "conversions": Performance.conversions(p.period),
        "revenue": _figure(p.period.revenue_micros),
        # Cut to the cent, as in the seed's example (1240.50 / 45 = 27.56).
        "current_cpa": None if cpa is None else number(cpa.quantize(_CENT, ROUND_DOWN)),
        "roas": None if roas is None else number(roas.quantize(_CENT, ROUND_HALF_EVEN)),
        "lifetime_spend": _figure(p.lifetime.cost_micros),
    }


_NO_PERFORMANCE = Performance(Totals(), Totals(), Totals())


def campaign_list_item(c: Campaign, p: Performance | None) -> dict[str, Any]:
    return {
        **_common(c),
        "created_at": _iso(c.created_at),
        "performance": performance_json(p or _NO_PERFORMANCE),
    }


def blocked_domain_json(b: BlockedDomain) -> dict[str, Any]:
    return {
        "domain": b.domain,
        "reason": b.reason,
        "created_at": _iso(b.created_at),
        "created_by": None if b.created_by is None else render_account_id(AccountKind.NETWORK, b.created_by),
    }
