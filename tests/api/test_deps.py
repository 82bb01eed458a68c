"""`deps.read`: short reads inline on the event loop with SQLite, in the threadpool otherwise."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import anyio
import pytest
from starlette.requests import Request

from auctera.api.deps import read


def request_with(inline_reads: bool) -> Request:
    container = SimpleNamespace(inline_reads=inline_reads)
    app = SimpleNamespace(state=SimpleNamespace(container=container))
    return Request({"type": "http", "app": app, "headers": []})


@pytest.mark.parametrize("inline", [True, False])
def test_read_runs_inline_only_when_the_container_says_so(inline: bool) -> None:
    def which_thread(a: int, *, b: int) -> tuple[int, int]:
        return threading.get_ident(), a + b

    async def main() -> None:
        thread, value = await read(request_with(inline), which_thread, 1, b=2)
        assert value == 3
        assert (thread == threading.get_ident()) is inline

    anyio.run(main)
