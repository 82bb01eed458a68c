"""Placeholder until logging/metrics land."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp


def configure_logging(settings: Any) -> None:
    return None


def metrics_app() -> ASGIApp:
    from prometheus_client import make_asgi_app

    return make_asgi_app()
