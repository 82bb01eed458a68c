"""JSON request bodies as every surface reads them: exact decimals, and text that is Unicode.

JSON may spell a UTF-16 surrogate on its own ("\\ud800"); Python decodes it into a string that
neither the database drivers nor orjson can encode, so such a body used to fail with a 500 at
the first write, or after it, when the answer echoed the string. I-JSON (RFC 7493 2.1) forbids
them. A NUL ("\\u0000") is valid JSON but no PostgreSQL text can hold it. Both are refused at
the door, naming the field.

Any body that cannot be read is a 400 invalid_json saying why in a client's words, not Python's:
where the JSON breaks, the byte that is not UTF-8, or the field holding a number nothing could
take (an integer longer than `sys.get_int_max_str_digits()`, an exponent past Decimal's range).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
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
    except UnicodeDecodeError as exc:
        raise AucteraError(
            f"the request body is not valid JSON: it is not {exc.encoding.upper()} text"
            f" (byte 0x{body[exc.start]:02x} at position {exc.start})",
            code="invalid_json",
        ) from None
    except json.JSONDecodeError as exc:  # its message gives line, column and character
        raise AucteraError(f"the request body is not valid JSON ({exc})", code="invalid_json") from None
    except (ValueError, InvalidOperation):
        # int() refuses more digits than sys.get_int_max_str_digits() (its message tells the
        # reader to raise that limit: words for us, not for a client); Decimal a huge exponent.
        raise _unreadable_number(body) from None
    except RecursionError:
        raise AucteraError(
            "the request body is not valid JSON we can read: arrays or objects nested too deeply",
            code="invalid_json",
        ) from None
    check_text(body, value)
    return value


class _Unreadable:
    """A number of the body Python cannot hold, marked where it was (`_unreadable_number`)."""

    def __init__(self, text: str) -> None:
        self.too_long = text.lstrip("-").isdigit()  # an integer; else a fraction or an exponent


def _int_or_mark(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return _Unreadable(text)


def _decimal_or_mark(text: str) -> Any:
    try:
        return Decimal(text)
    except InvalidOperation:
        return _Unreadable(text)


# Run only on a body `decimal_json` could not read because of a number: it reads the rest.
_MARKING_JSON = json.JSONDecoder(parse_float=_decimal_or_mark, parse_int=_int_or_mark)


def _unreadable_number(body: bytes) -> AucteraError:
    """400 invalid_json naming the field of the first number in `body` Python cannot hold."""
    try:
        parsed = _MARKING_JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
        found = _first(parsed, lambda v: isinstance(v, _Unreadable))
    except (ValueError, RecursionError):
        found = None
    field, mark = found or (None, None)
    if mark is None or mark.too_long:
        what = f"a number of more than {sys.get_int_max_str_digits():,} digits"
    else:
        what = "a number whose exponent is out of range"
    if field is None:
        return AucteraError(f"the request body holds {what}", code="invalid_json")
    return AucteraError(f"{field} is {what}: no field takes one", code="invalid_json", field=field)


def _first(value: Any, bad: Callable[[Any], bool], path: str = "") -> tuple[str, Any] | None:
    """The path ("a.b[2]", "body" for the whole) and value of the first `bad` value in a parsed
    body; a bad key names the object holding it."""
    if bad(value):
        return path or "body", value
    if isinstance(value, dict):
        for key, item in value.items():
            if bad(key):
                return path or "body", key
            found = _first(item, bad, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _first(item, bad, f"{path}[{i}]")
            if found is not None:
                return found
    return None


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
        found = _first(value, lambda v: isinstance(v, str) and not _storable(v))
        field = None if found is None else found[0]
    except RecursionError:
        field = "body"
    if field is not None:
        raise AucteraError(
            f"{field} is not text we can store: it holds a lone UTF-16 surrogate or a NUL",
            code="invalid_json",
            field=field,
        )


def _storable(text: str) -> bool:
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
