"""The retail-media envelopes: `{"data", "warnings": [], "errors": []}`, and errors as the official
SDKs' `CommonProblem` model has them: `{"type", "code", "title", "detail", "source"}`.

`type` takes the SDK's enum values (validation, authentication, authorization, quota,
availability); `source` is `{"pointer": "/data/attributes/<attribute>"}` for a body attribute and
`{"parameter": "<name>"}` for a query parameter (JSON:API's two kinds; the SDKs type it as a
string map). Keys without a value are left out rather than sent as null: the 2023-10 to 2024-04
SDKs type them as non-nullable strings.
"""

from __future__ import annotations

import re
from typing import Any

# The API versions served, oldest first: /{version}/retail-media/... (2023-04 and 2023-07 because
# seed 004's own examples call them, with the very bodies of 2023-10.)
VERSIONS = (
    "2023-04",
    "2023-07",
    "2023-10",
    "2024-01",
    "2024-04",
    "2024-07",
    "2024-10",
    "2025-01",
    "2025-04",
    "2025-07",
    "2025-10",
)

_TYPES = {401: "authentication", 403: "authorization", 429: "quota"}
_TITLES = {
    400: "Validation error",
    401: "Authentication failed",
    403: "Forbidden",
    404: "Resource not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Validation error",
    429: "Too many requests",
}


def pointer(attribute: str) -> str:
    """The JSON pointer of an attribute of the request body ("data" names the body's data; a
    problem elsewhere in the body, as in an array of products, names its pointer itself)."""
    if attribute.startswith("/"):
        return attribute
    if attribute == "data":
        return "/data"
    # A field the JSON reader names (`data.attributes.name`, `data[1].id`): its path as a pointer.
    path = "/".join(re.sub(r"\[(\d+)\]", r".\1", attribute).split("."))
    return f"/{path}" if path.startswith("data/") else f"/data/attributes/{path}"


def problem(
    status: int, code: str, detail: str, attribute: str | None = None, *, parameter: str | None = None
) -> dict[str, Any]:
    """One CommonProblem; `attribute` names a body attribute, `parameter` a query parameter."""
    kind = _TYPES.get(status, "availability" if status >= 500 else "validation")
    found: dict[str, Any] = {
        "type": kind,
        "code": code.replace("_", "-"),
        "title": _TITLES.get(status, "Error"),
        "detail": detail,
    }
    if parameter:
        found["source"] = {"parameter": parameter}
    elif attribute and status in (400, 409, 422):  # a body attribute; 404s name path ids
        found["source"] = {"pointer": pointer(attribute)}
    return found


def errors(problems: list[dict[str, Any]]) -> dict[str, Any]:
    return {"warnings": [], "errors": problems}


def retail_media_envelope(status: int, code: str, message: str, field: str | None) -> Any:
    """The renderer api/errors.py uses for every path under /{version}/retail-media/."""
    return errors([problem(status, code, message, field)])


def single(resource: dict[str, Any]) -> dict[str, Any]:
    return {"data": resource, "warnings": [], "errors": []}
