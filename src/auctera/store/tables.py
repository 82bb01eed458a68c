"""All tables on one MetaData. Money columns are integer micros; times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
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


def sqlite_text(at: datetime) -> str:
    """An aware datetime as `UTCDateTime` stores it on SQLite: the text SQLAlchemy writes (naive
    UTC, microseconds always written), for the hot paths that bind values on the driver itself."""
    if at.tzinfo is not UTC:
        if at.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        at = at.astimezone(UTC)
    return at.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"


def _where(clause: str) -> dict[str, Any]:
    """The keyword arguments of a partial index (the same WHERE on both backends)."""
    return {"sqlite_where": text(clause), "postgresql_where": text(clause)}


# The rows whose event has not reached the event log yet: the few the crash sweeps look for. Their
# partial indexes hold only those, so a row leaves them once marked (D40) and a sweep's query,
# which must spell the same WHERE for SQLite to use one, reads them in id order (migration 0014).
UNLOGGED = "logged = false"


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
    # Conversions scoring above it are rejected; NULL: the operator's default.
    Column("fraud_threshold", Float, nullable=True),
    # The secret replaced by the last rotation, accepted on postbacks until the grace ends.
    Column("previous_signing_secret", String(128), nullable=True),
    Column("previous_signing_secret_until", UTCDateTime, nullable=True),
    Column("attribution_model", String(20), nullable=True),  # the MTA report's default model
    # Prepaid balance that auction spend draws down; NULL: invoiced, no balance to run out of.
    Column("balance_micros", BigInteger, nullable=True),
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
    Column("revoked_at", UTCDateTime, nullable=True),
    # After a rotation the replaced secret still authenticates until the grace period ends.
    Column("previous_secret_hash", String(64), nullable=True),
    Column("previous_secret_until", UTCDateTime, nullable=True),
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
    # Affiliate offers: the rules publishers must follow ("No Incentivized Traffic"), and whether
    # any publisher may run it (public) or only approved ones (private).
    Column("promotional_rules", JSON, nullable=False),
    Column("visibility", String(10), nullable=False),
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


# Conversions from postbacks and offline uploads. `dedup_key` (click, event type, order id)
# and the Idempotency-Key make retries land on the row already written. `logged` says its
# event reached the event log; rows written but not logged (a crash in between) are logged
# again on start (`ConversionService.log_pending`).
conversions = Table(
    "conversions",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", BigInteger, nullable=False),
    Column("publisher_id", BigInteger, nullable=True),
    Column("click_id", BigInteger, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("order_id", String(255), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("dedup_key", String(400), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("revenue_micros", BigInteger, nullable=False),
    Column("original_revenue_micros", BigInteger, nullable=False),
    Column("original_currency", String(3), nullable=False),
    Column("payout_micros", BigInteger, nullable=False),
    Column("cost_micros", BigInteger, nullable=False),
    Column("fraud_score", Float, nullable=False),
    Column("fraud_reason", String(64), nullable=True),
    Column("fraud_signals", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("reversed_at", UTCDateTime, nullable=True),
    Column("reversal_reason", String(16), nullable=True),
    Column("logged", Boolean, nullable=False),
    Column("attrs", JSON, nullable=False),
    UniqueConstraint("account_id", "dedup_key"),
    Index("ix_conversions_account", "account_id", "id"),
    # Most postbacks send no Idempotency-Key: those rows stay out (a NULL key is never a duplicate).
    Index(
        "uq_conversions_idempotency_key",
        "account_id",
        "idempotency_key",
        unique=True,
        **_where("idempotency_key IS NOT NULL"),
    ),
    Index("ix_conversions_unlogged", "id", **_where(UNLOGGED)),
)

# Exchange rates as the operator sets them (`auctera fx set`): 1 `base` = `rate` `quote`, a decimal
# string (exact), from a day on. The one in effect on a day is the latest from then or before; a
# pair's earliest also serves the days before it.
fx_rates = Table(
    "fx_rates",
    metadata,
    Column("base", String(3), primary_key=True),
    Column("quote", String(3), primary_key=True),
    Column("effective_from", Date, primary_key=True),
    Column("rate", String(40), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


# Retailers and merchants: a site with a product catalog, owned by an account. A retailer serves
# sponsored products (retail media); a merchant's product pages win SmartLink auctions.
retailers = Table(
    "retailers",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("domain", String(253), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "domain"),
    Index("ix_retailers_account", "account_id", "id"),
)

# A retailer's catalog, one row per product id of its feed. `gtin` is the GTIN-14 form of the
# EAN/UPC/GTIN (check digit verified); `match_key` the normalised brand and name: the two ways a
# SmartLink finds the same product at other merchants. `import_id` is the last feed import that
# listed the product: a re-import marks the ones it did not list out of stock.
products = Table(
    "products",
    metadata,
    Id(),
    Column("retailer_id", BigInteger, ForeignKey("retailers.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=True),
    Column("price_micros", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("url", Text, nullable=False),
    Column("image_url", Text, nullable=True),
    Column("in_stock", Boolean, nullable=False),
    Column("category", String(255), nullable=True),
    Column("brand", String(255), nullable=True),
    Column("gtin", String(14), nullable=True),
    Column("sku", String(255), nullable=True),
    Column("min_bid_micros", BigInteger, nullable=True),
    Column("match_key", String(600), nullable=True),
    Column("import_id", BigInteger, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("retailer_id", "external_id"),
    Index("ix_products_retailer", "retailer_id", "id"),
    # Partial: a product without a GTIN (or match key) costs its import no entry (migration 0013).
    # `gtin = ?` implies `gtin IS NOT NULL`, so both backends use them as they stand.
    Index(
        "ix_products_gtin",
        "gtin",
        **_where("gtin IS NOT NULL"),
    ),
    Index(
        "ix_products_match_key",
        "match_key",
        **_where("match_key IS NOT NULL"),
    ),
)

# One row per feed import: its progress while it runs, its figures and first errors after.
feed_imports = Table(
    "feed_imports",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("retailer_id", BigInteger, ForeignKey("retailers.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(500), nullable=False),  # file name or "api"
    Column("format", String(8), nullable=False),  # csv, tsv, json, xml
    Column("status", String(16), nullable=False),  # running, succeeded, failed
    Column("rows_read", Integer, nullable=False),
    Column("rows_valid", Integer, nullable=False),
    Column("rows_invalid", Integer, nullable=False),
    Column("marked_out_of_stock", Integer, nullable=False),
    Column("errors", JSON, nullable=False),  # the first ones: [{"line", "field", "reason"}]
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # While running: its process's claim on the retailer, renewed as it goes (one import at a time).
    Column("lease_until", UTCDateTime, nullable=True),
    Index("ix_feed_imports_retailer", "retailer_id", "id"),
)

# Retail-media open-auction line items (seed 004), children of a `retail_media` campaign. The
# user sets `user_status` (active or paused); the status shown is derived from it, the flight
# dates, the products, the spend (`spend_periods`) and the balance.
line_items = Table(
    "line_items",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("target_retailer_id", BigInteger, nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=True),
    Column("budget_micros", BigInteger, nullable=True),
    Column("monthly_pacing_micros", BigInteger, nullable=True),
    Column("daily_pacing_micros", BigInteger, nullable=True),
    Column("is_auto_daily_pacing", Boolean, nullable=False),
    Column("bid_strategy", String(16), nullable=False),
    Column("target_bid_micros", BigInteger, nullable=False),
    Column("max_bid_micros", BigInteger, nullable=True),
    Column("user_status", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("archived_at", UTCDateTime, nullable=True),
    UniqueConstraint("campaign_id", "name"),
    Index("ix_line_items_campaign", "campaign_id", "id"),
    Index("ix_line_items_account", "account_id", "id"),
    Index("ix_line_items_retailer", "target_retailer_id", "id"),
    # The auction caches' change check reads the latest every second (migration 0015).
    Index("ix_line_items_updated", "updated_at"),
)

# The products a line item promotes.
line_item_products = Table(
    "line_item_products",
    metadata,
    Column("line_item_id", BigInteger, ForeignKey("line_items.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", BigInteger, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_line_item_products_product", "product_id"),
)

# Spend per budget and period. `subject_id` is the line item or campaign whose caps the spend
# counts against (ids are unique across entities); `period` is a local day ("2026-11-23"), a
# local month ("2026-11") in the account's time zone, or "total" (lifetime). A charge updates
# every row it counts against in the same transaction as its ledger row.
spend_periods = Table(
    "spend_periods",
    metadata,
    Column("subject_id", BigInteger, primary_key=True, autoincrement=False),
    Column("period", String(10), primary_key=True),
    Column("spent_micros", BigInteger, nullable=False),
)

# Every charge, once per click (`click_id` unique: a retried charge lands on the row written).
# Line-item clicks name their line item; SmartLink clicks on a `smartlink_cpc` campaign have none.
# `logged` says the click's event reached the event log (the charge commits first; a sweep logs
# the clicks a crash left out, as for conversions).
spend_ledger = Table(
    "spend_ledger",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("line_item_id", BigInteger, ForeignKey("line_items.id", ondelete="CASCADE"), nullable=True),
    Column("click_id", BigInteger, nullable=False, unique=True),
    Column("amount_micros", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("logged", Boolean, nullable=False),
    # What the sweep needs to rebuild the click's event exactly: the publisher (or retailer) shown
    # the placement, and the event's other fields (country, device, currency, attrs).
    Column("publisher_id", BigInteger, nullable=True),
    Column("event_fields", JSON, nullable=False),
    Index("ix_spend_ledger_campaign", "campaign_id", "id"),
    Index("ix_spend_ledger_unlogged", "id", **_where(UNLOGGED)),
    Index("ix_spend_ledger_line_item", "line_item_id", "id"),
)

# SmartLinks (seed 002): a publisher's link whose destination is auctioned among the merchants
# selling its product. The id is the auction id; the product is named by our product id, a
# GTIN or a product URL, resolved at creation into `gtin` and `match_key`.
smartlinks = Table(
    "smartlinks",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=True),
    Column("product_id", BigInteger, nullable=True),
    Column("product_url", Text, nullable=True),
    Column("gtin", String(14), nullable=True),
    Column("match_key", String(600), nullable=True),
    Column("fallback_url", Text, nullable=False),  # where the link goes when no merchant bids
    Column("created_at", UTCDateTime, nullable=False),
    Column("archived_at", UTCDateTime, nullable=True),
    Index("ix_smartlinks_account", "account_id", "id"),
)

# --- publisher postbacks (outbound webhooks) ------------------------------------------------

publisher_postbacks = Table(
    "publisher_postbacks",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("method", String(8), nullable=False),
    Column("offer_id", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_publisher_postbacks_account", "account_id", "id"),
)

# The outbox: written in the conversion's (or reversal's) transaction, drained by the worker.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Id(),
    Column("postback_id", BigInteger, nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("method", String(8), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_latency_ms", Float, nullable=True),
    Column("log", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_postback", "postback_id", "id"),
    Index("ix_webhook_deliveries_account", "account_id", "state", "id"),
)

# --- affiliate programs (issue 5): terms, channels, applications -----------------------------

# A program is an affiliate campaign's affiliate settings: same id. Listed per market and status.
programs = Table(
    "programs",
    metadata,
    Column("id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("market", String(2), nullable=False),
    Column("status", Integer, nullable=False),  # 0 live, 3 closing
    Column("cookie_duration_days", Integer, nullable=False),
    Column("promotion_methods", JSON, nullable=False),  # ["ppc", "email", ...]
    Column("category_id", Integer, nullable=True),
    Column("category_name", String(255), nullable=True),
    Column("program_url", Text, nullable=True),
    Column("logo_url", Text, nullable=True),
    Column("tracking_type", Integer, nullable=False),
    Column("feed_ids", JSON, nullable=False),  # retailer ids of the advertiser: the program's feeds
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_programs_market", "market", "status", "id"),
    Index("ix_programs_account", "account_id", "id"),
)

program_segments = Table(
    "program_segments",
    metadata,
    Id(),
    Column("program_id", BigInteger, ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("standard", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "name"),
)

# Rates are micros: of the program's currency, or of a percent when `percent` (4.5% = 4_500_000).
commission_types = Table(
    "commission_types",
    metadata,
    Id(),
    Column("program_id", BigInteger, ForeignKey("programs.id", ondelete="CASCADE"), nullable=False),
    Column("segment_id", BigInteger, ForeignKey("program_segments.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("percent", Boolean, nullable=False),
    Column("value_micros", BigInteger, nullable=False),
    Column("categories", JSON, nullable=False),  # [{"category", "percent", "value_micros"}]
    Column("thresholds", JSON, nullable=False),  # [{"order_value_micros", "percent", "value_micros"}]
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("segment_id", "event_type"),
    Index("ix_commission_types_program", "program_id", "segment_id", "id"),
)

channels = Table(
    "channels",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("type", String(32), nullable=False),
    Column("url", Text, nullable=True),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_channels_account", "account_id", "id"),
)

# One application per (program, channel), or per (program, publisher) for a publisher-wide one
# (channel_id NULL): two partial unique indexes, since NULLs never collide in a unique index.
program_applications = Table(
    "program_applications",
    metadata,
    Id(),
    # An offer takes applications with or without program settings: keyed on the campaign.
    Column("program_id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", BigInteger, nullable=False),  # the program's advertiser
    Column("publisher_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("channel_id", BigInteger, ForeignKey("channels.id", ondelete="CASCADE"), nullable=True),
    Column("status", Integer, nullable=False),  # 0 rejected, 1 approved, 2 pending
    Column("segment_id", BigInteger, nullable=True),  # NULL: the standard segment
    Column("traffic_type", String(64), nullable=True),
    Column("volume_estimate", BigInteger, nullable=True),
    Column("reject_reason", Integer, nullable=True),
    Column("reason_text", Text, nullable=True),
    Column("applied_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    Index(
        "uq_program_applications_channel",
        "program_id",
        "channel_id",
        unique=True,
        **_where("channel_id IS NOT NULL"),
    ),
    Index(
        "uq_program_applications_publisher",
        "program_id",
        "publisher_id",
        unique=True,
        **_where("channel_id IS NULL"),
    ),
    Index("ix_program_applications_account", "account_id", "status", "id"),
    Index("ix_program_applications_publisher", "publisher_id", "program_id"),
)

# --- bid management (seed 001) ------------------------------------------------------------------
# Networks an account bids on, with their bidding settings; their campaigns and ad sets; the bids
# (one per dimension) with the status of their latest operation; the operations themselves, which
# the bid sync saga applies on the partner in batches.
networks = Table(
    "networks",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # auctera | http | simulated
    Column("base_url", Text, nullable=True),
    # Registered by the operator: base_url may be private (D57). A tenant's network: false.
    Column("trusted", Boolean, nullable=False, server_default=text("false")),
    Column("credentials", JSON, nullable=False),  # {} when none; never rendered
    Column("bidding_enabled", Boolean, nullable=False),
    Column("campaign_bidding", Boolean, nullable=False),
    Column("ad_set_bidding", Boolean, nullable=False),
    Column("source_id_bidding", Boolean, nullable=False),
    Column("min_bid_micros", BigInteger, nullable=False),  # USD
    Column("decimal_precision", Integer, nullable=False),
    Column("max_change_percent", Integer, nullable=True),  # NULL: any change per upload
    Column("batch_size", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("retry_max_attempts", Integer, nullable=False),
    Column("retry_backoff_ms", Integer, nullable=False),
    Column("vendor_attributes", JSON, nullable=False),
    Column("client_vendor_attributes", JSON, nullable=False),
    Column("required_attributes", JSON, nullable=False),  # {"network", "client", "campaign"}: names
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name"),
)

network_campaigns = Table(
    "network_campaigns",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("network_id", BigInteger, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("countries", JSON, nullable=False),  # ISO 3166-1 alpha-2 codes
    Column("optimization_type", String(16), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("external_id", String(255), nullable=True),  # the partner's id; NULL: ours
    # Our own campaign, for the "auctera" partner.
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_network_campaigns_account", "account_id", "id"),
    Index("ix_network_campaigns_network", "network_id", "id"),
    # One network campaign per campaign of ours: two would each show their own bid while the
    # campaign runs one (a unique index holds NULLs distinct: unlinked ones are free).
    Index("uq_network_campaigns_own", "campaign_id", unique=True),
)

ad_sets = Table(
    "ad_sets",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("network_id", BigInteger, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column(
        "network_campaign_id",
        BigInteger,
        ForeignKey("network_campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(255), nullable=False),
    Column("external_id", String(255), nullable=True),
    # Our own line item, for the "auctera" partner.
    Column("line_item_id", BigInteger, ForeignKey("line_items.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_ad_sets_account", "account_id", "id"),
    Index("ix_ad_sets_campaign", "network_campaign_id", "id"),
    Index("uq_ad_sets_own", "line_item_id", unique=True),  # one ad set per line item of ours
)

# One bid per dimension (campaign + country, ad set + country, ad set + country + source id), held
# unique by two partial indexes: a unique index treats NULLs as distinct, so `source_id` is ''
# when the bid has none, and campaign bids (no ad set) have their own index. The ad-set one also
# serves the listing's adSetId filters, ix_bids_campaign its campaignId ones and the upload's read.
# The latest operation's kind and old value are read from it (operation_id), not repeated here.
# The account and network are the campaign's: its foreign key stands for theirs (on PostgreSQL each
# foreign key is a trigger run per inserted row).
bids = Table(
    "bids",
    metadata,
    Id(),
    Column("account_id", BigInteger, nullable=False),
    Column("network_id", BigInteger, nullable=False),
    Column("campaign_id", BigInteger, ForeignKey("network_campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("ad_set_id", BigInteger, ForeignKey("ad_sets.id", ondelete="CASCADE"), nullable=True),
    Column("country", String(2), nullable=False),
    Column("source_id", String(255), nullable=False),  # '': none
    Column("value_micros", BigInteger, nullable=False),  # USD; the latest operation's target
    Column("status", String(16), nullable=False),  # of the latest operation
    Column("operation_id", BigInteger, nullable=False),
    # What the network was last known to run (NULL: nothing), and whether it still runs it: false
    # for a new bid (what the network held before is not known until it answers) and once an
    # outcome left it unknown. Set by the bid sync only; an upload's rows take the defaults.
    Column("confirmed_micros", BigInteger, nullable=True),
    Column("confirmed_current", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_bids_network", "network_id", "id"),
    Index("ix_bids_campaign", "campaign_id", "country", "id"),
    Index(
        "uq_bids_campaign_bid",
        "campaign_id",
        "country",
        "source_id",
        unique=True,
        **_where("ad_set_id IS NULL"),
    ),
    Index(
        "uq_bids_ad_set_bid",
        "ad_set_id",
        "country",
        "source_id",
        unique=True,
        **_where("ad_set_id IS NOT NULL"),
    ),
)

# An accepted upload: its operations take their account and creation time from it.
bid_uploads = Table(
    "bid_uploads",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_bid_uploads_account", "account_id", "id"),
)

# Every change a bid went through; a bid points at its latest. An upload writes only what differs
# per row, and its rows enter one index besides the key and the upload's: ix_bid_operations_pending,
# from which the saga claims a network's pending ones not yet in a batch (and the stuck view reads);
# the other indexes are partial, on values the saga sets later (batch_id, and the bids of open
# batches, which its claim steers around).
bid_operations = Table(
    "bid_operations",
    metadata,
    Id(),
    Column("upload_id", BigInteger, ForeignKey("bid_uploads.id", ondelete="CASCADE"), nullable=False),
    Column("bid_id", BigInteger, nullable=False),  # no foreign key: the history outlives a deleted bid
    Column("network_id", BigInteger, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("batch_id", BigInteger, nullable=True),
    Column("kind", String(8), nullable=False),  # create | update | delete
    Column("old_value_micros", BigInteger, nullable=True),
    Column("new_value_micros", BigInteger, nullable=True),  # NULL: a delete
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=True),  # NULL: as its upload left it
    Index("ix_bid_operations_upload", "upload_id"),
    Index(
        "ix_bid_operations_pending",
        "network_id",
        "batch_id",
        "id",
        **_where("status = 'pending'"),
    ),
    Index(
        "ix_bid_operations_batch",
        "batch_id",
        **_where("batch_id IS NOT NULL"),
    ),
    Index(
        "ix_bid_operations_open",
        "bid_id",
        **_where("status = 'pending' AND batch_id IS NOT NULL"),
    ),
)

# The bid sync's partner batches (services/bid_sync.py): written with their member operations
# (bid_operations.batch_id) before the partner is called, so a resumed worker re-sends the same
# batch id. `phase` is apply -> rollback (failed items: read back, undo) -> done; a worker holds
# a batch while `locked_until` is ahead (and writes only with its `lease_token`).
bid_batches = Table(
    "bid_batches",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("network_id", BigInteger, ForeignKey("networks.id", ondelete="CASCADE"), nullable=False),
    Column("phase", String(16), nullable=False),  # apply | rollback | done
    Column("size", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),  # partner calls that went unanswered in this phase
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("lease_token", BigInteger, nullable=True),
    Column("error", Text, nullable=True),  # the latest partner failure
    Column("created_at", UTCDateTime, nullable=False),  # the settle bound counts from here
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_bid_batches_open", "phase", "next_attempt_at"),
    Index("ix_bid_batches_network", "network_id", "phase"),
)

# --- audiences (issue 8): segments, their members, sync jobs, targeting, purge records -------

# A targetable segment. `source` is crm_sync | pixel_event | lookalike_ml; `rule` defines a
# pixel-event audience, the lookalike_* columns a lookalike. `sketch` is a serialized compact
# theta sketch of the members as users (a member matched to visitors counts as them), kept for
# size and overlap estimates; `size` and `matched` are exact counts of members.
audiences = Table(
    "audiences",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # ready | building | failed
    Column("rule", JSON, nullable=True),
    Column("lookalike_seed_id", BigInteger, nullable=True),
    Column("lookalike_percent_bp", Integer, nullable=True),  # similarity_percentage in basis points
    Column("lookalike_geo", JSON, nullable=True),
    Column("lookalike_auc", Float, nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("matched", BigInteger, nullable=False),
    Column("sketch", LargeBinary, nullable=True),
    Column("error", Text, nullable=True),
    Column("refreshed_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_audiences_account", "account_id", "id"),
)

# Members: `key` is "e:<email_sha256>", "p:<phone_sha256>", "m:<maid>" or "u:<visitor uid>".
audience_members = Table(
    "audience_members",
    metadata,
    Column("audience_id", BigInteger, ForeignKey("audiences.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(80), primary_key=True),
    Index("ix_audience_members_key", "key", "audience_id"),  # the auction's membership probe
)

# Identity links derived from a member hash: the visitors (`uid`) the event log saw with it.
audience_links = Table(
    "audience_links",
    metadata,
    Column("audience_id", BigInteger, ForeignKey("audiences.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(80), primary_key=True),
    Column("uid", String(128), primary_key=True),
    Index("ix_audience_links_uid", "uid", "audience_id"),
)

# A sync call: its identifiers, hashed on arrival, staged in `audience_sync_chunks` until the
# worker applies them chunk by chunk (`applied` chunks); a worker holds it while `locked_until`
# is ahead. `job_key` makes a retried call return the same job.
audience_sync_jobs = Table(
    "audience_sync_jobs",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("audience_id", BigInteger, ForeignKey("audiences.id", ondelete="CASCADE"), nullable=False),
    Column("job_key", String(128), nullable=False),
    Column("action", String(8), nullable=False),  # add | remove | replace
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("received", BigInteger, nullable=False),  # identifiers in the call
    Column("malformed", BigInteger, nullable=False),
    Column("malformed_samples", JSON, nullable=False),  # [{"index", "type", "reason"}]: no values
    Column("chunks", Integer, nullable=False),
    Column("applied", Integer, nullable=False),  # chunks applied so far
    Column("processed", BigInteger, nullable=False),  # valid identifiers applied so far
    Column("matched", BigInteger, nullable=False),  # of those, seen with a visitor
    Column("locked_until", UTCDateTime, nullable=True),
    Column("lease_token", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("account_id", "job_key"),
    Index("ix_audience_sync_jobs_open", "state", "id"),
    Index("ix_audience_sync_jobs_audience", "audience_id", "id"),
)

audience_sync_chunks = Table(
    "audience_sync_chunks",
    metadata,
    Column("job_id", BigInteger, ForeignKey("audience_sync_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("member_keys", Text, nullable=False),  # one a line
)

# Campaigns and line items (`subject_id`: ids are unique across entities) targeting audiences.
audience_targets = Table(
    "audience_targets",
    metadata,
    Column("subject_id", BigInteger, primary_key=True, autoincrement=False),
    Column("audience_id", BigInteger, ForeignKey("audiences.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("exclude", Boolean, nullable=False),
    Index("ix_audience_targets_audience", "audience_id"),
)

# What a GDPR/CCPA deletion leaves: that it happened and what it paused, no personal data.
audience_purges = Table(
    "audience_purges",
    metadata,
    Column("audience_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(16), nullable=False),
    Column("members_purged", BigInteger, nullable=False),
    Column("links_purged", BigInteger, nullable=False),
    Column("jobs_purged", Integer, nullable=False),
    Column("paused_campaigns", JSON, nullable=False),
    Column("purged_at", UTCDateTime, nullable=False),
    Index("ix_audience_purges_account", "account_id", "purged_at"),
)

# Creatives (issue 8 §2): uploaded assets and their audits. A deleted asset keeps its row
# (`deleted_at`, no file) so the events naming it still have a name in the creative report.
creatives = Table(
    "creatives",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),  # image | video | html5
    Column("format", String(8), nullable=True),  # jpeg | png | gif | mp4 | zip; NULL: never identified
    Column("filename", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(64), nullable=True),  # NULL: nothing stored (malware, deleted)
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Column("video_codec", String(16), nullable=True),
    Column("audio_codec", String(16), nullable=True),
    Column("status", String(10), nullable=False),  # approved | rejected
    Column("malware_scan", String(10), nullable=False),
    Column("iab_category", String(16), nullable=False),
    Column("findings", JSON, nullable=False),
    Column("audited_at", UTCDateTime, nullable=False),
    Column("click_trackers", JSON, nullable=False),
    Column("impression_trackers", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    Index("ix_creatives_account", "account_id", "id"),
)

# Which campaigns run which creatives: a DSP campaign's review needs an approved one among them.
creative_campaigns = Table(
    "creative_campaigns",
    metadata,
    Column("creative_id", BigInteger, ForeignKey("creatives.id", ondelete="CASCADE"), primary_key=True),
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_creative_campaigns_campaign", "campaign_id"),
)

# DCO templates: variables (list values or product-feed fields) whose permutations are served.
dco_templates = Table(
    "dco_templates",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("variables", JSON, nullable=False),  # [{"name", "values"} | {"name", "feed_field"}]
    Column("campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_dco_templates_account", "account_id", "id"),
)

# Report exports (issue 7, services/exports.py): one row per requested export; the file lives in
# data_dir/exports while `status` is completed, and the row stays (expired) once it is removed.
export_jobs = Table(
    "export_jobs",
    metadata,
    Id(),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("file_format", String(8), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("campaign_id", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),  # queued | running | completed | failed | expired
    Column("progress", Integer, nullable=False),
    Column("estimated_rows", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=True),
    Column("file_name", String(255), nullable=True),
    Column("size_bytes", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    Index("ix_export_jobs_status", "status", "created_at"),
    Index("ix_export_jobs_account", "account_id", "id"),
)

# Facts about the deployment the database belongs to, one row each: `event_log`, the id of the
# event log (data directory) its events are written to (store/deployment.py).
deployment = Table(
    "deployment",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)
