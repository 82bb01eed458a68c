"""The event log: durable local appends, DuckDB analytics (see docs/event-log.md)."""

from auctera.events.codec import InvalidEventError
from auctera.events.duckdb_store import DuckDBEventStore
from auctera.events.journal import Journal
from auctera.events.layout import WriterInUseError

__all__ = ["DuckDBEventStore", "InvalidEventError", "Journal", "WriterInUseError"]
