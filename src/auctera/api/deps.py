"""Reaching the composition root from a request (set on app.state by create_app)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # the API never imports the composition root at run time
    from auctera.bootstrap import Container


def container_of(request: HTTPConnection) -> Container:
    return cast("Container", request.app.state.container)
