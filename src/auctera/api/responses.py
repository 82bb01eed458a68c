"""The JSON response of the API: orjson, straight from dicts.

FastAPI deprecates its `ORJSONResponse` in favour of serialising through Pydantic response
models; our handlers build plain dicts (money already rendered as the seeds show it) and skip
response-model validation on purpose, so they keep a response class of their own.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """`application/json` from dicts, lists, str/int/float/bool/None, dates and datetimes
    (ISO 8601), UUIDs and dataclasses; dict keys may be ints or enums too."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
