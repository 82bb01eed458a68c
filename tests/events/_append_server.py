"""A real HTTP server appending events, for the crash test: `python _append_server.py DIR`.

POST /append takes a JSON list of events and POST /append-one a single event; both answer
200 only after the store's append returned. The fsync interval is a minute, so nothing is
fsynced before the test kills the process: what survives, survives in the OS page cache.
Tiny segments and a busy compactor mean rotation and compaction are under way at the kill.
Prints the port it listens on (127.0.0.1, chosen by the OS) as its first line.
"""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn

from auctera.domain.events import Event, EventType
from auctera.events import DuckDBEventStore

Scope = dict[str, Any]


def event_from_json(data: dict[str, Any]) -> Event:
    return Event(
        id=data["id"],
        type=EventType(data["type"]),
        at=datetime.fromisoformat(data["at"]).astimezone(UTC),
        account_id=data["account_id"],
        campaign_id=data.get("campaign_id"),
        cost_micros=data.get("cost_micros", 0),
    )


def make_app(store: DuckDBEventStore) -> Any:
    async def respond(send: Any, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] != "POST" or scope["path"] not in ("/append", "/append-one"):
            await respond(send, 404, b'{"error": "not found"}')
            return
        payload = orjson.loads(body)
        if scope["path"] == "/append-one":
            store.append(event_from_json(payload))
            count = 1
        else:
            store.append_many([event_from_json(item) for item in payload])
            count = len(payload)
        await respond(send, 200, orjson.dumps({"appended": count}))

    return app


def main() -> None:
    store = DuckDBEventStore(
        sys.argv[1], "server", fsync_interval=60.0, segment_max_bytes=16 * 1024, compact_interval=0.05
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # clients may connect as soon as the port is printed
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(make_app(store), log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
