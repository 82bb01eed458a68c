"""A simulated ad network: a real HTTP server speaking the JSON bid protocol, bids in memory,
and faults injected on demand (a failing item, a failing batch, timeouts, 5xx, 429 with
Retry-After, failing reads, a failing rollback).

    auctera partners simulate --port 9100 [--token T] [--faults faults.json]

Faults are set when it starts (`--faults`) or at any time with `PUT /_faults` (a JSON list,
replacing the current ones); `GET /_bids` lists every bid it holds, `POST /_reset` forgets
everything. A batch id seen before is answered as it was the first time, without applying again.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auctera.domain.bids import PartnerBidKey
from auctera.partners.http.wire import key_json, key_of, value_of

OPERATIONS = ("apply", "read", "delete")
FAULT_KINDS = ("fail-items", "fail-batch", "timeout", "5xx", "429")


@dataclass
class Fault:
    """One injected fault. It hits calls of `on` ("apply", "read", "delete" or "any") whose batch
    id starts with `batch_prefix` (e.g. "rollback-"), `times` times (None: every time).

    kinds: "fail-items" fails the items matching any of `match` (field -> value, in the wire's
    names: {"country": "FR"}) and applies the rest; "fail-batch" rejects the whole batch (400);
    "timeout" answers `seconds` late (having applied the batch on arrival); "5xx" answers
    `status`; "429" answers 429 with Retry-After: `retry_after`.
    """

    kind: str
    on: str = "apply"
    times: int | None = None
    batch_prefix: str = ""
    match: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 30.0
    status: int = 503
    retry_after: int = 1

    @classmethod
    def from_json(cls, item: Any) -> Fault:
        if not isinstance(item, dict):
            raise ValueError("a fault is an object")
        names = {
            "kind": "kind",
            "on": "on",
            "times": "times",
            "batchPrefix": "batch_prefix",
            "match": "match",
            "seconds": "seconds",
            "status": "status",
            "retryAfter": "retry_after",
        }
        unknown = set(item) - set(names)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fault = cls(**{names[k]: v for k, v in item.items()})
        if fault.kind not in FAULT_KINDS or fault.on not in (*OPERATIONS, "any"):
            raise ValueError(f"kind is one of {', '.join(FAULT_KINDS)}; on one of apply, read, delete, any")
        return fault

    def hits(self, operation: str, batch_id: str) -> bool:
        return (
            self.on in (operation, "any")
            and batch_id.startswith(self.batch_prefix)
            and (self.times is None or self.times > 0)
        )

    def matches(self, wire: dict[str, Any]) -> bool:
        return any(all(wire.get(k) == v for k, v in m.items()) for m in self.match)


class SimulatedNetwork:
    """The network's state: bids, the answers given per batch id, the faults."""

    def __init__(self, faults: Sequence[Fault] = (), token: str | None = None) -> None:
        self.bids: dict[PartnerBidKey, int] = {}
        self.answers: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.faults = list(faults)
        self.token = token
        self.calls: dict[str, int] = dict.fromkeys(OPERATIONS, 0)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.bids.clear()
            self.answers.clear()
            self.faults.clear()

    def _fault(self, operation: str, batch_id: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.hits(operation, batch_id):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def change(self, operation: str, batch_id: str, items: list[Any], fault: Fault | None) -> dict[str, Any]:
        """Apply a batch (or replay its first answer); the lock makes each batch atomic."""
        results = []
        with self._lock:
            for item in items:
                key = key_of(item)
                value = None if operation == "delete" else value_of(item)
                if fault is not None and fault.kind == "fail-items" and fault.matches(item):
                    results.append({**key_json(key), "ok": False, "message": "rejected by the network"})
                    continue
                if value is None:
                    self.bids.pop(key, None)
                else:
                    self.bids[key] = value
                results.append({**key_json(key), "ok": True})
        return {"batchId": batch_id, "results": results}

    def read(self, items: list[Any]) -> dict[str, Any]:
        with self._lock:
            keys = [key_of(item) for item in items]
            return {"bids": [{**key_json(k), "valueMicros": self.bids.get(k)} for k in keys]}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def create_app(network: SimulatedNetwork) -> Starlette:
    async def handle(request: Request) -> Response:
        operation = request.path_params["operation"]
        if operation not in OPERATIONS:
            return _json(404, {"error": f"no such operation {operation}"})
        if network.token is not None and request.headers.get("authorization") != f"Bearer {network.token}":
            return _json(401, {"error": "missing or wrong credentials"})
        try:
            body = orjson.loads(await request.body())
            items = body["bids"]
            batch_id = "" if operation == "read" else body["batchId"]
            if not isinstance(items, list) or not isinstance(batch_id, str):
                raise ValueError("bids is a list, batchId a string")
            for item in items:
                key_of(item)
                value_of(item)
        except (ValueError, KeyError, TypeError) as exc:
            return _json(400, {"error": f"bad request: {exc}"})
        network.calls[operation] += 1
        if operation != "read" and (operation, batch_id) in network.answers:
            status, answer = network.answers[(operation, batch_id)]
            return Response(answer, status_code=status, media_type="application/json")
        fault = network._fault(operation, batch_id)
        # A timeout answers late, but the batch is applied (and its answer kept) on arrival, as a
        # slow network would: a resend meanwhile gets that answer, and nothing applies twice.
        stall = fault.seconds if fault is not None and fault.kind == "timeout" else 0.0
        if fault is not None:
            if fault.kind == "5xx":
                return _json(fault.status, {"error": "the network is having a bad day"})
            elif fault.kind == "429":
                headers = {"Retry-After": str(fault.retry_after)}
                return _json(429, {"error": "slow down"}, headers)
            elif fault.kind == "fail-batch":
                answer = orjson.dumps({"error": f"batch {batch_id} rejected by the network"})
                if operation != "read":
                    network.answers[(operation, batch_id)] = (400, answer)
                return Response(answer, status_code=400, media_type="application/json")
        if operation == "read":
            answer = orjson.dumps(network.read(items))
        else:
            answer = orjson.dumps(network.change(operation, batch_id, items, fault))
            network.answers[(operation, batch_id)] = (200, answer)
        if stall:
            await asyncio.sleep(stall)
        return Response(answer, status_code=200, media_type="application/json")

    async def set_faults(request: Request) -> Response:
        try:
            faults = [Fault.from_json(item) for item in orjson.loads(await request.body())]
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})
        network.faults[:] = faults
        return _json(200, {"faults": len(faults)})

    async def dump(request: Request) -> Response:
        return _json(200, {"bids": [{**key_json(k), "valueMicros": v} for k, v in network.bids.items()]})

    async def reset(request: Request) -> Response:
        network.reset()
        return _json(200, {"reset": True})

    return Starlette(
        routes=[
            Route("/bids/{operation}", handle, methods=["POST"]),
            Route("/_faults", set_faults, methods=["PUT"]),
            Route("/_bids", dump, methods=["GET"]),
            Route("/_reset", reset, methods=["POST"]),
        ]
    )


class RunningNetwork:
    """The simulated network served on loopback in a background thread (tests, benchmarks)."""

    def __init__(self, network: SimulatedNetwork | None = None, port: int = 0) -> None:
        self.network = network or SimulatedNetwork()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(self.network), log_level="warning", access_log=False, timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._socket])), daemon=True
        )

    def __enter__(self) -> RunningNetwork:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the simulated network did not start")
            self._thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


def serve(port: int, host: str = "127.0.0.1", faults: Sequence[Fault] = (), token: str | None = None) -> None:
    """Serve in the foreground until interrupted (`auctera partners simulate`)."""
    uvicorn.run(create_app(SimulatedNetwork(faults, token)), host=host, port=port, log_level="warning")
