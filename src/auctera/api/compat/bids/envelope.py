"""The surface's error format: `{"error": "..."}`; a server error is `{"err": "..."}` (seed 001)."""

from __future__ import annotations

from typing import Any

PREFIX = "/management/v0/"


def bids_envelope(status: int, code: str, message: str, field: str | None) -> Any:
    """The renderer api/errors.py uses for every path under /management/v0/."""
    return {"err": message} if status >= 500 else {"error": message}
