"""Error envelopes. Each surface renders errors its own way; the prefix of the path picks one.

/v2 (and everything without a surface of its own):
    {"success": false, "error": {"code", "message", "field"}}
Later surfaces register their renderer with `register_envelope`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from auctera.api.allowed_methods import AllowedMethods
from auctera.api.responses import OrjsonResponse
from auctera.errors import AucteraError, RateLimited, Unauthorized, ValidationFailed

# (status, code, message, field) -> body
Renderer = Callable[[int, str, str, str | None], Any]


def v2_envelope(status: int, code: str, message: str, field: str | None) -> Any:
    return {"success": False, "error": {"code": code, "message": message, "field": v2_field(field)}}


# An item of a list, as a service names it ("categories.0.type"): an all-digit segment.
_DOTTED_INDEX = re.compile(r"\.(\d+)(?=\.|\[|$)")


def v2_field(field: str | None) -> str | None:
    """A field in /v2's one style, whatever named it: `categories[0].type`, as `field_from_loc`
    and the JSON text check (`json_body`) write it, for the services' `categories.0.type`."""
    return field if field is None or "." not in field else _DOTTED_INDEX.sub(r"[\1]", field)


_ENVELOPES: list[tuple[re.Pattern[str], Renderer, str]] = []


def register_envelope(prefix: str, renderer: Renderer, media_type: str = "application/json") -> None:
    """Errors under `prefix` are `renderer`'s body, sent as `media_type` (a surface's errors
    carry the content type its answers do). A `{version}` segment in `prefix` stands for any
    one segment: a client of a version not served learns so in its own surface's envelope."""
    pattern = re.escape(prefix).replace(re.escape("{version}"), "[^/]+")
    _ENVELOPES.append((re.compile(pattern), renderer, media_type))
    _ENVELOPES.sort(key=lambda item: len(item[0].pattern), reverse=True)


def _render(request: Request, status: int, code: str, message: str, field: str | None) -> OrjsonResponse:
    path = request.scope["path"]  # not request.url's: urlsplit drops a tab or line break from it
    renderer, media_type = next(
        ((r, m) for prefix, r, m in _ENVELOPES if prefix.match(path)), (v2_envelope, "application/json")
    )
    return OrjsonResponse(renderer(status, code, message, field), status_code=status, media_type=media_type)


# What Pydantic adds to a location besides the fields and list indexes of the input: "[key]"
# after a dict key that failed, and the member tags of a union ("dict[str,any]", "str").
_SCALAR_TAGS = frozenset({"str", "int", "float", "bool", "bytes", "decimal", "none"})


def field_from_loc(loc: Sequence[Any]) -> str | None:
    """('body', 'targeting', 'device_types', 0) -> 'targeting.device_types[0]': dotted names, a
    list item's index in brackets (as `json_body` names a field), Pydantic's own bookkeeping
    left out; the request part (body/query/path) is dropped."""
    field = ""
    for part in loc[1:]:
        if isinstance(part, int):
            field += f"[{part}]"
        elif "[" in str(part) or part in _SCALAR_TAGS:
            continue
        else:
            field += f".{part}" if field else str(part)
    return field or (str(loc[0]) if loc else None)


def _validation_message(err: dict[str, Any]) -> str:
    field = field_from_loc(err.get("loc", ()))
    if err.get("type") == "extra_forbidden":
        return f"unknown field '{field}'"
    if err.get("type") == "missing":
        return f"'{field}' is required"
    msg = str(err.get("msg", "invalid value"))
    return f"{field}: {msg}" if field else msg


def validation_failure(exc: ValidationError) -> AucteraError:
    """A body validated by hand (not by FastAPI) fails as FastAPI's would: 422 naming the field."""
    first = dict(exc.errors()[0]) if exc.errors() else {}
    loc = ("body", *first.get("loc", ()))
    code = "unknown_field" if first.get("type") == "extra_forbidden" else "validation_error"
    return ValidationFailed(_validation_message({**first, "loc": loc}), field=field_from_loc(loc), code=code)


def install_error_handlers(app: FastAPI, routes: Iterable[BaseRoute] = ()) -> None:
    """The surfaces' envelopes for every error; a 405's `Allow` lists the methods of all of
    `routes` matching the path (see `AllowedMethods`)."""

    @app.exception_handler(AucteraError)
    async def _domain(request: Request, exc: AucteraError) -> OrjsonResponse:
        response = _render(request, exc.status_code, exc.code, exc.message, exc.field)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthorized):
            response.headers["WWW-Authenticate"] = exc.challenge
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":  # its loc is a character offset, not a field
            where = first.get("loc", ("body", "?"))[-1]
            message = f"the request body is not valid JSON (at character {where})"
            return _render(request, 400, "invalid_json", message, None)
        field = field_from_loc(first.get("loc", ()))
        code = "unknown_field" if first.get("type") == "extra_forbidden" else "validation_error"
        return _render(request, 422, code, _validation_message(first), field)

    allowed = AllowedMethods(routes)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
        response = _render(
            request, exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail), None
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            response.headers["Allow"] = allowed.header(request.url.path) or response.headers.get("Allow", "")
        return response


# The retail-media surface (seed 004) renders its errors JSON:API style under each API version.
from auctera.api.compat.retail_media.envelope import retail_media_envelope  # noqa: E402

register_envelope("/{version}/retail-media/", retail_media_envelope)

# The affiliate v3 surface (seed 003): {"status", "message", "field"} under /v3/.
from auctera.api.compat.affiliate_v3.envelope import JSON as V3_JSON  # noqa: E402
from auctera.api.compat.affiliate_v3.envelope import PREFIX as V3_PREFIX  # noqa: E402
from auctera.api.compat.affiliate_v3.envelope import affiliate_v3_envelope  # noqa: E402

register_envelope(V3_PREFIX, affiliate_v3_envelope, V3_JSON)
