"""One Settings object, built once (from AUCTERA_* environment variables and CLI flags) and passed down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# What AUCTERA_LOG_LEVEL may be (uvicorn's and the standard library's names, lower case).
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# AUCTERA_CLICK_TOKEN_SECRET=hex:<64 hex digits>: the key of a click-token.secret file, exactly.
HEX_SECRET = "hex:"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUCTERA_", extra="ignore")

    data_dir: Path = Path("data")
    # None: SQLite in `data_dir`. A postgresql+psycopg:// URL switches state to PostgreSQL.
    database_url: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    # Refuse plain-HTTP API calls (the seed: "calls made over plain HTTP will fail").
    # Off for local use; behind a TLS-terminating proxy, X-Forwarded-Proto is honoured.
    require_https: bool = False

    # Event log: fsync at least this often (seconds); 0 fsyncs every append.
    fsync_interval: float = Field(default=1.0, ge=0)

    # Requests per minute per API key unless the account sets its own limit.
    default_rate_limit_per_minute: int = Field(default=600, ge=1)
    # Lifetime of OAuth2 access tokens (retail-media surface).
    oauth_token_ttl_seconds: int = Field(default=3600, ge=60)
    # How long a rotated API key keeps working.
    key_rotation_grace_seconds: int = Field(default=86400, ge=0)
    # Auth lookups are cached this long; a revoked key stops working within it.
    auth_cache_seconds: float = Field(default=2.0, ge=0)

    # Public base URL of the tracking endpoints (/click, /imp): what tracking links start with.
    # Behind a CDN or a dedicated host this is e.g. https://trk.example.com.
    tracking_url: str = "http://127.0.0.1:8000"
    # Campaign/publisher lookups on the click path are cached this long: a paused or archived
    # campaign's links stop redirecting within it (the seed promises 500 ms).
    tracking_cache_seconds: float = Field(default=0.5, ge=0)
    # Key sponsored click tokens are signed with (docs/spend.md). Unset: a random one generated once
    # and kept in data_dir/click-token.secret (mode 0600), shared by the workers using that dir.
    # Machines not sharing a data dir must all be given the same one. Taken as text (its UTF-8
    # bytes are the key), or `hex:` and the 64 hex digits of a click-token.secret file (its key).
    click_token_secret: str | None = Field(default=None, min_length=16)
    # SmartLink auction API (/api/v1/auction/): requests per minute per origin (Origin header, else
    # the client's address) before it answers 429.
    smartlink_rate_limit_per_minute: int = Field(default=6000, ge=1)
    # Auctions use remaining caps and pacing at most this old (the charge itself never overspends:
    # it checks every cap again)...
    auction_cache_seconds: float = Field(default=2.0, ge=0)
    # ...and who may bid on what (line items, campaigns, products, merchants, balances) is reloaded
    # in the background when a change is seen (checked every second), else after this long.
    auction_inventory_seconds: float = Field(default=300.0, ge=0)
    # Conversions scoring above this are rejected, unless the account sets its own threshold.
    default_fraud_threshold: float = Field(default=0.8, ge=0, le=1)
    # Behind a proxy or CDN: the header holding the visitor's address, e.g. X-Forwarded-For or
    # CF-Connecting-IP. Unset: the TCP peer, since anyone can send such headers. A list header is
    # read `client_ip_hops` entries from the right: the proxies in front of us that append to it
    # (its left-most entries are whatever the client sent).
    client_ip_header: str | None = None
    client_ip_hops: int = Field(default=1, ge=1)
    # Optional MaxMind GeoLite2/GeoIP2 country database, used when no proxy header names the country.
    geoip_database: Path | None = None

    # Publisher postbacks (outbound webhooks): targets on private, loopback, link-local or reserved
    # addresses are refused unless this is set (a private network's own trackers; tests on loopback).
    webhook_allow_private: bool = False
    # The server runs the delivery worker in its lifespan unless this is off (then run
    # `auctera webhooks work` as its own process or processes).
    webhook_worker: bool = True
    # Deliveries in flight at once per worker, and each attempt's timeout (seconds).
    webhook_concurrency: int = Field(default=64, ge=1, le=4096)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Of those, at most this many per publisher (D60): a receiver that hangs holds only its share.
    webhook_per_publisher: int = Field(default=8, ge=1, le=4096)
    # The first retry's delay (seconds); each next one doubles, up to an hour, with jitter.
    webhook_first_retry_seconds: float = Field(default=5.0, gt=0)

    # Bid sync (seed 001, services/bid_sync.py): the server runs the worker in its lifespan unless
    # this is off (then run `auctera bids work`); batch steps in flight per worker; each partner
    # call's timeout (seconds); and the settle bound: no retry after it, pending beyond it is stuck.
    bid_sync_worker: bool = True
    bid_sync_threads: int = Field(default=8, ge=1, le=256)
    bid_partner_timeout_seconds: float = Field(default=10.0, gt=0)
    bid_settle_seconds: float = Field(default=1800.0, gt=0)
    # Bid networks whose baseUrl is on a private, loopback, link-local or reserved address are
    # refused (at create/update and before each call) unless this is set (partners inside the
    # operator's own network; tests on loopback). The operator's own networks (the demo's) may be
    # there anyway (docs/decisions.md D57).
    partner_allow_private: bool = False

    # Report exports (issue 7): the server runs the export runner (queued jobs, retention) unless
    # this is off (then run `auctera exports work`); completed files are deleted after this long.
    export_worker: bool = True
    export_retention_days: float = Field(default=7.0, gt=0)

    # Audiences (issue 8): the server runs the audience worker (sync jobs, lookalikes, pixel
    # refreshes) in its lifespan unless this is off (then run `auctera audiences work`); pixel-event
    # audiences are rebuilt from the event log this often (seconds).
    audience_worker: bool = True
    audience_pixel_refresh_seconds: float = Field(default=300.0, gt=0)

    # /v3 product feed files (docs/api-v3.md): the server renders a catalog's default files in
    # the background after each successful import unless this is off (then the first request does).
    feed_file_worker: bool = True

    # Affiliate v3 (/v3, seed 003): the network's time zone, in which its dates are written, and
    # per-minute quotas per token (partner endpoints; client endpoints) unless the account sets one.
    network_timezone: str = "Europe/Stockholm"
    v3_rate_limit_per_minute: int = Field(default=30, ge=1)
    v3_client_rate_limit_per_minute: int = Field(default=10, ge=1)

    # Creatives (docs/api-v2-creatives.md): the public base URL of the assets, for a CDN whose
    # origin is our /cdn path (unset: tracking_url + /cdn); clamd's socket (a path, or host:port)
    # to scan uploads with besides the shipped YARA rules; the hosts an HTML5 bundle may load
    # scripts from (unset: the defaults).
    cdn_url: str | None = None
    clamav_socket: str | None = None
    creative_script_hosts: list[str] | None = None

    # Where report exports and creative assets are kept (docs/operations.md, "Object storage"):
    # `directory` (exports_dir and creatives_dir under data_dir) or `s3`, a bucket of an
    # S3-compatible store that every machine shares (AWS S3, MinIO, Ceph, R2...): objects under
    # `<s3_prefix>exports/` and `<s3_prefix>creatives/`. The endpoint URL for anything but AWS;
    # credentials from boto3's standard chain (AWS_* variables, ~/.aws, instance/task roles).
    storage_backend: Literal["directory", "s3"] = "directory"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_prefix: str = Field(default="", pattern=r"^([A-Za-z0-9_.-]+/)*$")
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"

    # Unique per process writing ids/events; None picks a free slot in data_dir.
    node_id: int | None = Field(default=None, ge=0, le=255)

    log_level: str = "info"
    log_json: bool = True

    # PostgreSQL time limits (docs/operations.md, "PostgreSQL time limits"; store/database.py):
    # connecting (libpq counts whole seconds, at least 2) and the ping before a pooled connection
    # is reused; each statement of the server's and workers' connections (0: none; migrations have
    # none); the wait for a free pooled connection; TCP keepalives, so a vanished server is noticed.
    database_connect_timeout_seconds: int = Field(default=5, ge=2, le=300)
    database_statement_timeout_seconds: float = Field(default=30.0, ge=0)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    database_keepalives_idle_seconds: int = Field(default=30, ge=1)
    database_keepalives_interval_seconds: int = Field(default=10, ge=1)
    database_keepalives_count: int = Field(default=3, ge=1)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        # Checked here, not when logging is configured: uvicorn and configure_logging would only
        # fail once the server is starting (docs/operations.md lists these).
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.lower()

    @field_validator("tracking_url", "cdn_url", "s3_endpoint_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        # Without a scheme every link built on it would be relative (`trk.example.com/click?...`)
        # and broken, on every page it is put on: refused at start instead.
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an absolute http:// or https:// URL with a host (https://trk.example.com)"
            )
        return value

    @field_validator("click_token_secret", mode="before")
    @classmethod
    def _hex_secret(cls, value: object) -> object:
        # Checked before the length: `hex:` cut short is a bad copy of the file, not a short key.
        if isinstance(value, str) and value.startswith(HEX_SECRET):
            digits = value.removeprefix(HEX_SECRET).strip()
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digits):
                raise ValueError(
                    f"a {HEX_SECRET} value must be {HEX_SECRET} and the 64 hex digits of a "
                    "click-token.secret file (hex:$(cat data/click-token.secret))"
                )
        return value

    @field_validator("network_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            raise ValueError(f"unknown time zone {value!r}: use an IANA name (Europe/Stockholm)") from None
        return value

    @model_validator(mode="after")
    def _s3_has_a_bucket(self) -> Self:
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("storage_backend s3 needs s3_bucket (AUCTERA_S3_BUCKET)")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+pysqlite:///{(self.data_dir / 'auctera.db').resolve()}"

    @property
    def events_dir(self) -> Path:
        return self.data_dir / "events"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def feed_files_dir(self) -> Path:
        """Pre-rendered /v3 product feed files (services/feed_files.py): safe to delete."""
        return self.data_dir / "feed-files"

    @property
    def creatives_dir(self) -> Path:
        return self.data_dir / "creatives"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"
