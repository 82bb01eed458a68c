"""The v3 error body. Seed 003 shows none; ours is `{"status", "message", "field"}`: the HTTP
status again (clients that log only bodies keep it), what went wrong, and the request field or
path parameter at fault (null when none is)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

PREFIX = "/v3/"
JSON = "application/json;charset=UTF-8"  # as the seed's responses say it


def affiliate_v3_envelope(status: int, code: str, message: str, field: str | None) -> Any:
    """The renderer api/errors.py uses for every path under /v3/."""
    return {"status": status, "message": message, "field": field}


class V3Response(Response):
    """JSON with the seed's content type, straight from dicts (orjson)."""

    media_type = JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
