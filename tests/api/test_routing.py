"""IndexedRouter skips routers that cannot hold a path; what FastAPI answers must not change."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.testclient import TestClient

from auctera.api.routing import IndexedRouter


def _app() -> FastAPI:
    items = IndexedRouter(prefix="/shop")
    items.add_api_route("/items", lambda: {"route": "list"}, methods=["GET"])
    items.add_api_route(
        "/items/{item_id}", lambda item_id: {"route": "one", "id": item_id}, methods=["GET", "PUT"]
    )
    versioned = IndexedRouter()  # a path starting with a parameter: never skipped
    versioned.add_api_route("/{version}/things", lambda version: {"route": "things", "version": version})
    app = FastAPI()
    app.include_router(items)
    app.include_router(versioned)
    return app


def test_routes_partial_matches_and_misses_answer_as_fastapi_does() -> None:
    for root_path in ("", "/api"):  # under a root path the index stands aside
        client = TestClient(_app(), root_path=root_path)
        assert client.get("/shop/items").json() == {"route": "list"}
        assert client.get("/shop/items/7").json() == {"route": "one", "id": "7"}
        assert client.get("/v1/things").json() == {"route": "things", "version": "v1"}
        refused = client.delete("/shop/items/7")
        assert refused.status_code == 405 and set(refused.headers["allow"].split(", ")) == {"GET", "PUT"}
        assert client.get("/shop/nothing").status_code == 404
        assert client.get("/elsewhere").status_code == 404
        slash = client.get("/shop/items/", follow_redirects=False)  # FastAPI's slash redirect
        assert slash.status_code == 307 and slash.headers["location"].endswith("/shop/items")


def test_routes_added_after_the_first_request_are_found() -> None:
    router = IndexedRouter(prefix="/late")
    router.add_api_route("/one", lambda: 1)
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)
    assert client.get("/late/one").json() == 1
    router.add_api_route("/two", lambda: 2)
    assert client.get("/late/two").json() == 2
