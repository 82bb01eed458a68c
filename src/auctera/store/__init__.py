"""State storage: SQLAlchemy 2 tables, repositories, unit of work, Alembic migrations."""
