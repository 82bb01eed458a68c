"""Group commit on the event loop: the writes submitted before the loop gets back to its queue are
made together by one `write_many` call (one transaction), each caller getting its own result.

With SQLite the short local writes of the hot paths run on the event loop (`Container.inline_reads`):
postbacks (`ConversionService.record_many`) and sponsored clicks' charges (`SpendService.charge_many`).
A transaction's fixed cost (its locks, its commit, the pages it rewrites) is then paid once per
group rather than once per request. Nothing waits on a timer: a lone write is made as soon as the
callbacks already queued are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from auctera.errors import AucteraError

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`write_many(items)` answers one result per item, or an `AucteraError` for an item refused
    alone (the others still written); raising means the transaction failed and nothing was written."""

    def __init__(self, write_many: Callable[[list[Item]], Sequence[Result | AucteraError]]) -> None:
        self._write_many = write_many
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []

    def submit(self, item: Item) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((item, future))
        return future

    def _flush(self) -> None:
        group, self._pending = self._pending, []
        self._settle(group)

    def _settle(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = self._write_many([item for item, _ in group])
        except Exception as exc:  # the transaction failed: none of these was written
            if len(group) > 1:  # one item may have broken it for all: each is retried alone
                for pending in group:
                    self._settle([pending])
            elif not group[0][1].done():
                group[0][1].set_exception(exc)
            return
        for (_, future), result in zip(group, results, strict=True):
            if future.done():  # the client went away meanwhile; what was written stands
                continue
            if isinstance(result, AucteraError):
                future.set_exception(result)
            else:
                future.set_result(result)
