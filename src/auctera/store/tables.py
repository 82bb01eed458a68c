"""All tables on one MetaData. Money columns are integer micros; times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, hands back aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def Id(name: str = "id", **kw: object) -> Column[int]:
    return Column(
        name, BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False, **kw
    )


accounts = Table(
    "accounts",
    metadata,
    Id(),
    Column("name", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("signing_secret", String(128), nullable=False),
    Column("rate_limit_per_minute", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("hint", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_api_keys_account", "account_id", "id"),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_oauth_tokens_expires", "expires_at"),
)

__all__ = ["JSON", "Boolean", "Text", "metadata"]


# Campaigns. Lists are keyset-paginated newest first within an account, optionally filtered by
# status or type: each of those has an index ending in id, so a page is one index range scan.
campaigns = Table(
    "campaigns",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("budget_daily_micros", BigInteger, nullable=True),
    Column("budget_total_micros", BigInteger, nullable=True),
    Column("pacing", String(10), nullable=False),
    Column("bid_strategy", String(32), nullable=False),
    Column("bid_target_micros", BigInteger, nullable=True),
    Column("targeting", JSON, nullable=False),  # {"geo", "zip_codes", "dmas", "device_types"}
    Column("device_multipliers", JSON, nullable=False),  # {"mobile": "1.25"}: decimal strings
    Column("destination_url", Text, nullable=True),
    Column("payout_micros", BigInteger, nullable=True),
    Column("start_date", Date, nullable=True),
    Column("end_date", Date, nullable=True),
    Column("review_reasons", JSON, nullable=False),
    Column("reviewed_at", UTCDateTime, nullable=True),
    Column("reviewed_by", BigInteger, nullable=True),  # network account; NULL with reviewed_at: automated
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("archived_at", UTCDateTime, nullable=True),
    Index("ix_campaigns_account", "account_id", "id"),
    Index("ix_campaigns_account_status", "account_id", "status", "id"),
    Index("ix_campaigns_account_type", "account_id", "type", "id"),
    Index("ix_campaigns_status", "status", "id"),  # the review queue, the network's filtered views
)

# The network operator's blocklist: a domain blocks itself and its subdomains.
blocked_domains = Table(
    "blocked_domains",
    metadata,
    Column("domain", String(253), primary_key=True),
    Column("reason", String(500), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", BigInteger, nullable=True),
)
