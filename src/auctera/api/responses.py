"""The JSON response of the API: orjson, straight from dicts.

FastAPI deprecates its `ORJSONResponse` in favour of serialising through Pydantic response
models; our handlers build plain dicts (money already rendered as the seeds show it) and skip
response-model validation on purpose, so they keep a response class of their own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import JSONResponse

from auctera.domain.money import plain


class OrjsonResponse(JSONResponse):
    """`application/json` from dicts, lists, str/int/float/bool/None, dates and datetimes
    (ISO 8601), UUIDs and dataclasses; dict keys may be ints or enums too."""

    def render(self, content: Any) -> bytes:
        return dumps_text_safe(content, option=orjson.OPT_NON_STR_KEYS)


def json_decimal(value: Decimal) -> orjson.Fragment:
    """`value` as a JSON number in plain decimal digits, exactly as it is: 5000, 1240.5, 0.000001.
    Through a float orjson would write 1e-6 (and 1e+16), and a long amount could be rounded; the
    seeds write plain digits. The trailing zeros go (1240.50 is 1240.5), as a float's would."""
    return orjson.Fragment(plain(value).encode())


def dumps_text_safe(content: Any, **kw: Any) -> bytes:
    """`orjson.dumps`, and when `content` holds a lone surrogate (a string decoded from a client's
    "\\ud800" that reached an error message or a log line) each is written as U+FFFD instead of
    failing: an answer or a log line is never lost to the text it quotes."""
    try:
        return orjson.dumps(content, **kw)
    except TypeError:
        return orjson.dumps(_scrubbed(content), **kw)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        # Through UTF-16: a pair decodes to its character, a lone half to one U+FFFD.
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value
