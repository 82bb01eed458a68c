"""Alembic, driven from code: `upgrade(url)` runs on start and from `auctera db upgrade`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def upgrade_url(url: str) -> None:
    """Migrate the database at `url` with a short-lived engine (CLI, server start-up)."""
    from auctera.store.database import make_engine

    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()
