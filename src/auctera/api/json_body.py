"""JSON request bodies as every surface reads them: exact decimals, and text that is Unicode.

JSON may spell a UTF-16 surrogate on its own ("\\ud800"); Python decodes it into a string that
neither the database drivers nor orjson can encode, so such a body used to fail with a 500 at
the first write, or after it, when the answer echoed the string. I-JSON (RFC 7493 2.1) forbids
them. A NUL ("\\u0000") is valid JSON but no PostgreSQL text can hold it. Both are refused at
the door, naming the field.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from auctera.errors import AucteraError

# Built once: `json.loads(..., parse_float=Decimal)` builds a decoder on every call.
_DECIMAL_JSON = json.JSONDecoder(parse_float=Decimal)
# Any surrogate escape, paired or not, or a NUL: the rare bodies holding one are walked to tell.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


def parse_json(body: bytes) -> Any:
    """A JSON body with exact decimals (money), or 400 invalid_json naming what is wrong."""
    try:
        value = decimal_json(body)
    except ValueError as exc:
        raise AucteraError(f"the request body is not valid JSON ({exc})", code="invalid_json") from None
    except RecursionError:
        raise AucteraError(
            "the request body is not valid JSON (nested too deeply)", code="invalid_json"
        ) from None
    check_text(body, value)
    return value


def decimal_json(body: bytes) -> Any:
    """`json.loads` with exact decimals: bytes in UTF-8, -16 or -32, told apart by the first
    bytes, as json.loads reads them."""
    return _DECIMAL_JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def json_number(value: Any) -> Any:
    """A Pydantic before-validator: a JSON number as `decimal_json` reads it (int or Decimal; a
    float from Python callers), never `true` or text. Bodies are validated in Python mode, where
    Pydantic's strict types would refuse a Decimal and its lax ones take `true` as 1 and "1_000"."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise PydanticCustomError("number_type", "Input should be a JSON number")
    return value


JsonNumber = Annotated[Decimal, BeforeValidator(json_number)]


def is_json(content_type: str | None) -> bool:
    """application/json or any application/...+json, as FastAPI reads bodies."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def check_text(body: bytes, value: Any) -> None:
    """Raise 400 invalid_json naming the field when `value` (parsed from `body`) holds a lone
    surrogate or a NUL. Costs one search of the bytes for a body without such escapes."""
    if _SUSPECT_ESCAPE.search(body) is None:
        return
    try:
        field = _lone_surrogate(value, "")
    except RecursionError:
        field = "body"
    if field is not None:
        raise AucteraError(
            f"{field} is not text we can store: it holds a lone UTF-16 surrogate or a NUL",
            code="invalid_json",
            field=field,
        )


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The path ("a.b[2]") of the first string in `value` holding a lone surrogate or a NUL."""
    if isinstance(value, str):
        return None if _storable(value) else path or "body"
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if not _storable(key):
                return path or "body"
            found = _lone_surrogate(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _storable(text: str) -> bool:
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
