"""Placeholder until the middleware lands (request ids, rate-limit headers, HTTPS policy)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def install_middleware(app: FastAPI, container: Any) -> None:
    return None
