"""The API documents itself: the OpenAPI schema and the interactive docs answer."""

from __future__ import annotations

from starlette.testclient import TestClient

from auctera import __version__


def test_openapi_schema(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert (schema["info"]["title"], schema["info"]["version"]) == ("Auctera API", __version__)
    assert "/v2/account" in schema["paths"]
    assert "/oauth2/token" in schema["paths"]
    assert response.headers["x-request-id"]  # served through the middleware like any API call


def test_interactive_docs(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert "/openapi.json" in response.text
