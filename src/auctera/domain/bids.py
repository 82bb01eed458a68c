"""Bid management (seed 001): the hierarchy bids live in, the filters a listing accepts, the rules
an uploaded bid must pass, and the value change it makes.

A network (an ad network the account bids on) holds network campaigns, which hold ad sets. A bid
sits on one dimension: campaign + country, ad set + country, or ad set + country + source id (the
publisher app the network targets). Values are integer micros of USD. Each upload turns into one
operation per bid, stored `pending` until a partner applies it (the saga moves it on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple
from urllib.parse import urlsplit

from auctera.domain.money import MICROS


class PartnerKind(StrEnum):
    AUCTERA = "auctera"  # our own platform: bids become our campaigns' and line items' bids
    HTTP = "http"  # a network speaking the JSON bid protocol (docs/api-bids.md)
    SIMULATED = "simulated"  # the fault-injecting simulated network (tests, demo)


class OptimizationType(StrEnum):
    CPI = "cpi"
    CPA = "cpa"
    CPC = "cpc"
    CPM = "cpm"
    ROAS = "roas"  # the network's own algorithm sets the bids toward a return target
    AUTO = "auto"  # the network bids by itself


# A network takes manual bids only for campaigns optimised on a price per unit.
BIDDABLE_OPTIMIZATIONS = frozenset(
    {OptimizationType.CPI, OptimizationType.CPA, OptimizationType.CPC, OptimizationType.CPM}
)


class BidStatus(StrEnum):
    """The status of a bid's latest operation, as the seed's flow names them."""

    PENDING = "pending"
    SUCCESS = "success"
    ROLLBACK_ERROR = "rollback-error"  # failed on the partner, rolled back to the partner's value
    ERROR = "error"  # failed, and so did the rollback
    # An operation only (never a bid's): replaced by a later upload before it went to the partner.
    SUPERSEDED = "superseded"


class OperationKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


MAX_DECIMAL_PRECISION = 6  # micros
MAX_NAME = 255  # names and external ids: their columns are String(255) (store/tables.py)
MAX_URL = 2048  # a network's baseUrl
MAX_BID_MICROS = 10**15  # 1,000,000,000 USD: the greatest bid and minimum bid the API takes


@dataclass(frozen=True)
class BiddingSettings:
    enabled: bool = False
    campaign_bidding: bool = True
    ad_set_bidding: bool = False
    source_id_bidding: bool = False
    min_bid_micros: int = 0
    decimal_precision: int = 2  # digits after the point a bid may have
    max_change_percent: int | None = None  # per upload, against the stored value; None: any change
    batch_size: int = 100  # bids per partner call
    concurrency: int = 1  # partner calls in flight
    retry_max_attempts: int = 5
    retry_backoff_ms: int = 1000  # first retry; doubles, a partner's Retry-After wins


@dataclass(frozen=True)
class RequiredAttributes:
    """The attribute names a network needs before it takes bids: on the network (the vendor's own
    settings, e.g. an API host), on the client's account at the network (e.g. an advertiser id),
    and on each campaign (e.g. the network's app id)."""

    network: tuple[str, ...] = ()
    client: tuple[str, ...] = ()
    campaign: tuple[str, ...] = ()


@dataclass(frozen=True)
class Network:
    id: int
    account_id: int
    name: str
    kind: PartnerKind
    base_url: str | None
    credentials: Mapping[str, str]  # never shown: only whether there are any
    settings: BiddingSettings
    vendor_attributes: Mapping[str, str]
    client_vendor_attributes: Mapping[str, str]
    required: RequiredAttributes
    created_at: datetime
    updated_at: datetime
    # Registered by the operator (`auctera demo`, code on the host), not by a tenant's API call:
    # its baseUrl may be on a private or loopback address (docs/decisions.md D57). Lost when a
    # tenant changes the baseUrl.
    trusted: bool = False

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials)


@dataclass(frozen=True)
class NetworkCampaign:
    id: int
    account_id: int
    network_id: int
    name: str
    countries: frozenset[str]
    optimization_type: OptimizationType
    attributes: Mapping[str, str]
    external_id: str | None  # the partner's id of it; None: ours, as a string
    campaign_id: int | None  # our own campaign, when the network is "auctera"
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AdSet:
    id: int
    account_id: int
    network_id: int
    network_campaign_id: int
    name: str
    external_id: str | None
    line_item_id: int | None  # our own line item, when the network is "auctera"
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Bid:
    id: int
    account_id: int
    network_id: int
    campaign_id: int  # a network campaign
    ad_set_id: int | None
    country: str
    source_id: str | None
    value_micros: int  # pending: the value asked for; settled: the network's (see shown_micros)
    previous_value_micros: int | None  # before the latest operation: what a rollback restores
    status: BidStatus
    operation_id: int
    operation_kind: OperationKind
    created_at: datetime
    updated_at: datetime
    # The last value the network was known to run (None: none), and whether it still runs it:
    # False for a new bid until the network answers (it may hold a bid set elsewhere) and once an
    # outcome left it unknown (no answer, then a failed read). The maximum change per upload is
    # measured from confirmed_micros.
    confirmed_micros: int | None = None
    confirmed_current: bool = False

    @property
    def dimension(self) -> Dimension:
        return dimension_key(self.campaign_id, self.ad_set_id, self.country, self.source_id)

    @property
    def shown_micros(self) -> int | None:
        """The value the listing shows: the one asked for while pending, then what the network
        runs; in `error` the value it is known to run, None when that is not known."""
        if self.status is BidStatus.ERROR:
            return self.confirmed_micros if self.confirmed_current else None
        return self.value_micros


@dataclass(frozen=True)
class BidOperation:
    id: int
    account_id: int
    bid_id: int
    network_id: int
    upload_id: int  # every operation of one upload shares it
    batch_id: int | None  # the partner batch it went out in (set by the saga)
    kind: OperationKind
    old_value_micros: int | None
    new_value_micros: int | None  # None: a delete
    status: BidStatus
    attempts: int
    error: str | None
    created_at: datetime
    updated_at: datetime


# Bounds of a network's settings: (lowest, highest), inclusive, by the field the API names.
SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "bidding.minBidUsd": (0, MAX_BID_MICROS),
    "bidding.decimalPrecision": (0, MAX_DECIMAL_PRECISION),
    "bidding.maxChangePercent": (1, 10**6),
    "bidding.batchSize": (1, 10_000),
    "bidding.concurrency": (1, 64),
    "bidding.retry.maxAttempts": (1, 100),
    "bidding.retry.backoffMs": (0, 3_600_000),
}


def network_problem(network: Network) -> tuple[str, str] | None:
    """(field, message) of the first setting out of bounds, else None."""
    s = network.settings
    if not network.name.strip():
        return "name", "name must not be empty"
    if len(network.name) > MAX_NAME:
        return "name", f"name must be at most {MAX_NAME} characters"
    if network.kind is not PartnerKind.AUCTERA and not network.base_url:
        return "baseUrl", f"a {network.kind.value} network needs a baseUrl"
    if network.base_url is not None:
        problem = base_url_problem(network.base_url)
        if problem is not None:
            return "baseUrl", problem
    for key, secret in network.credentials.items():
        # Sent in an HTTP header (`Authorization: Bearer <token>`): a value no header can carry
        # would fail every call, and the network's bids would wait on it.
        if not (secret.isascii() and secret.isprintable()):
            return (
                f"credentials.{key}",
                f"credentials.{key} must be printable ASCII (it is sent in an HTTP header)",
            )
    if network.kind is PartnerKind.AUCTERA and s.source_id_bidding:
        return (
            "bidding.sourceIdBidding",
            "bidding.sourceIdBidding: an auctera network has no source-id bids (our line items have one bid)",
        )
    values = {
        "bidding.minBidUsd": s.min_bid_micros,
        "bidding.decimalPrecision": s.decimal_precision,
        "bidding.maxChangePercent": s.max_change_percent,
        "bidding.batchSize": s.batch_size,
        "bidding.concurrency": s.concurrency,
        "bidding.retry.maxAttempts": s.retry_max_attempts,
        "bidding.retry.backoffMs": s.retry_backoff_ms,
    }
    for name, value in values.items():
        low, high = SETTING_BOUNDS[name]
        if value is not None and not low <= value <= high:
            if name == "bidding.minBidUsd":  # held in micros, said in USD
                return name, f"{name} must be a number from 0 to {high // 1_000_000}"
            return name, f"{name} must be from {low} to {high}"
    return None


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be where a network's bid API is called (the partner's client joins its
    paths to it), else None. It is shown back to the caller, so it carries no credentials: those
    go in `credentials`."""
    if len(url) > MAX_URL:
        return f"baseUrl must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "baseUrl is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return "baseUrl must be an absolute http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "baseUrl must not carry credentials (user@host): give them in credentials"
    if parts.query or parts.fragment:
        return "baseUrl must not have a query or fragment: the bid API's paths are added to it"
    return None


Dimension = tuple[int, int | None, str, str | None]
"""(campaign id, ad set id, country, source id): what tells one bid from another."""


def dimension_key(campaign_id: int, ad_set_id: int | None, country: str, source_id: str | None) -> Dimension:
    """A bid's dimension, with "no ad set" and "no source id" each spelled one way (None)."""
    return (campaign_id, ad_set_id or None, country, source_id or None)


# --- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidFilter:
    network_id: int | None = None
    campaign_id: int | None = None
    ad_set_id: int | None = None
    country: str | None = None
    source_id: str | None = None

    def given(self) -> frozenset[str]:
        names = {
            "networkId": self.network_id,
            "campaignId": self.campaign_id,
            "adSetId": self.ad_set_id,
            "country": self.country,
            "sourceId": self.source_id,
        }
        return frozenset(name for name, value in names.items() if value is not None)


# Exactly the seed's eligible combinations, in its order.
FILTER_COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("networkId",),
    ("campaignId",),
    ("campaignId", "country"),
    ("campaignId", "country", "sourceId"),
    ("adSetId",),
    ("adSetId", "country"),
    ("adSetId", "country", "sourceId"),
)
_ALLOWED_FILTERS = frozenset(frozenset(c) for c in FILTER_COMBINATIONS)


def filter_problem(given: BidFilter) -> str | None:
    """None when the filter is one of the eligible combinations, else a message naming them."""
    if given.given() in _ALLOWED_FILTERS:
        return None
    shown = ", ".join(" + ".join(c) for c in FILTER_COMBINATIONS)
    what = " + ".join(sorted(given.given())) or "no filter"
    return f"unsupported filter combination ({what}); use one of: {shown}"


# --- upload validation --------------------------------------------------------------------------


class Reason(StrEnum):
    """Why an uploaded bid is rejected: the seed's wording, then ours for what it does not list."""

    AD_SET_BIDDING_DISABLED = "ad set bidding isn't enabled for this network"
    AD_SET_NOT_FOUND = "ad set not found"
    BIDDING_DISABLED = "bidding isn't enabled for this network"
    CAMPAIGN_BIDDING_DISABLED = "campaign bidding isn't enabled for this network"
    COUNTRY_NOT_IN_CAMPAIGN = "countries of the campaign doesn't contain the bid's specified country"
    WRONG_OPTIMIZATION_TYPE = "campaign has wrong optimization type for bidding"
    MISSING_CREDENTIALS = "missing credentials"
    MISSING_CAMPAIGN_ATTRIBUTES = "missing campaign attributes"
    MISSING_CLIENT_VENDOR_ATTRIBUTES = "missing client network vendor attributes"
    MISSING_NETWORK_VENDOR_ATTRIBUTES = "missing network vendor attributes"
    SOURCE_ID_BIDDING_DISABLED = "source ID bidding isn't enabled"
    SOURCE_ID_WITHOUT_AD_SET = "source ID bid requires ad set to be set"
    DELETE_CAMPAIGN_BID = "can not delete campaign bid"
    DELETE_MISSING_BID = "can not delete non-existent bid"
    BELOW_MINIMUM = "bid value is below minimum"
    DECIMAL_PRECISION = "given decimal precision isn't supported for this network"
    # Not in the seed's list:
    CAMPAIGN_NOT_FOUND = "campaign not found"
    DUPLICATE = "the same bid appears more than once in this upload"


# Not a Reason: the API refuses such a value as unreadable before any rule (docs/api-bids.md).
OUT_OF_RANGE = f"bid value must be a finite number up to {MAX_BID_MICROS // 1_000_000}"


class BidRow(NamedTuple):
    """One uploaded bid, parsed: `value` is the exact decimal the caller sent (None on a delete).
    A tuple, not a dataclass: an upload builds up to 100k of them."""

    campaign_id: int
    ad_set_id: int | None
    country: str
    source_id: str | None
    value: Decimal | None
    delete: bool = False


class StoredBid(NamedTuple):
    """What an upload needs of the bid already stored on a row's dimension."""

    id: int
    value_micros: int
    status: BidStatus
    operation_id: int
    # The last value the network was known to run (Bid.confirmed_micros): what the maximum change
    # is measured from, so that neither a pending change nor a failed one moves its base.
    confirmed_micros: int | None


@dataclass(frozen=True)
class Delta:
    old_value: Decimal | None
    new_value: Decimal | None
    change_percentage: Decimal | None  # None without both values (a new bid, a delete)


@dataclass(frozen=True)
class Verdict:
    delta: Delta
    message: str | None  # None: accepted


@dataclass(frozen=True)
class Hierarchy:
    """What a row is checked against: its campaign, that campaign's network and ad sets."""

    campaign: NetworkCampaign | None
    network: Network | None
    ad_set: AdSet | None  # the row's ad set when it belongs to the row's campaign
    existing: StoredBid | None  # the stored bid on the row's dimension


_HUNDRED = Decimal(100)
_PERCENT_PLACES = Decimal("0.01")


_MAX_BID_USD = Decimal(MAX_BID_MICROS) / MICROS


def in_bid_range(value: Decimal) -> bool:
    """Finite and at most MAX_BID_MICROS either way: the values a bid's arithmetic (scaling to
    micros, the change's percentage) is done on. Far beyond it (-1e30, 1E+999999) that arithmetic
    overflows Decimal's context, so every rule checks this first."""
    return value.is_finite() and -_MAX_BID_USD <= value <= _MAX_BID_USD


def micros_of(value: Decimal) -> int:
    return int(value * MICROS)


def usd(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS).normalize()


def delta_of(row: BidRow, existing: StoredBid | None) -> Delta:
    """The change from the value the network was last known to run (None: it runs none yet)."""
    confirmed = None if existing is None else existing.confirmed_micros
    old = usd(confirmed) if confirmed is not None else None
    new = None if row.delete else row.value
    change = None
    # In range, |change| < 2e17 %: its two decimals fit Decimal's 28 digits.
    if old is not None and new is not None and old > 0 and in_bid_range(new):
        change = ((new - old) / old * _HUNDRED).quantize(_PERCENT_PLACES)
    return Delta(old, new, change)


def _decimal_places(value: Decimal) -> int:
    """Digits after the point, trailing zeros aside, counted on the digits as sent: normalize()
    would round them to 28 (1.000…0001 with 50 decimals would count none) and can overflow."""
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return 0
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if zeros == len(digits):  # zero
        return 0
    return max(0, -(exponent + zeros))


def _missing(required: Sequence[str], present: Mapping[str, str]) -> bool:
    return any(not present.get(name) for name in required)


def _setup_problem(network: Network, campaign: NetworkCampaign) -> Reason | None:
    """What keeps the network (or the campaign) from taking any bid."""
    if network.kind is not PartnerKind.AUCTERA and not network.has_credentials:
        return Reason.MISSING_CREDENTIALS
    if _missing(network.required.network, network.vendor_attributes):
        return Reason.MISSING_NETWORK_VENDOR_ATTRIBUTES
    if _missing(network.required.client, network.client_vendor_attributes):
        return Reason.MISSING_CLIENT_VENDOR_ATTRIBUTES
    if not network.settings.enabled:
        return Reason.BIDDING_DISABLED
    if _missing(network.required.campaign, campaign.attributes):
        return Reason.MISSING_CAMPAIGN_ATTRIBUTES
    if campaign.optimization_type not in BIDDABLE_OPTIMIZATIONS:
        return Reason.WRONG_OPTIMIZATION_TYPE
    return None


def _dimension_problem(row: BidRow, where: Hierarchy, network: Network) -> Reason | None:
    settings = network.settings
    assert where.campaign is not None
    if row.country not in where.campaign.countries:
        return Reason.COUNTRY_NOT_IN_CAMPAIGN
    if row.source_id is not None and row.ad_set_id is None:
        return Reason.SOURCE_ID_WITHOUT_AD_SET
    if row.ad_set_id is not None:
        if where.ad_set is None:
            return Reason.AD_SET_NOT_FOUND
        if not settings.ad_set_bidding:
            return Reason.AD_SET_BIDDING_DISABLED
    elif not settings.campaign_bidding:
        return Reason.CAMPAIGN_BIDDING_DISABLED
    if row.source_id is not None and not settings.source_id_bidding:
        return Reason.SOURCE_ID_BIDDING_DISABLED
    return None


def _value_problem(row: BidRow, delta: Delta, settings: BiddingSettings) -> str | None:
    value = row.value
    assert value is not None
    if not in_bid_range(value):  # first: the rules below compute with it
        return Reason.BELOW_MINIMUM if value.is_finite() and value < 0 else OUT_OF_RANGE
    if _decimal_places(value) > min(settings.decimal_precision, MAX_DECIMAL_PRECISION):
        return Reason.DECIMAL_PRECISION
    if value <= 0 or micros_of(value) < settings.min_bid_micros:
        return Reason.BELOW_MINIMUM
    limit = settings.max_change_percent
    if limit is not None and delta.change_percentage is not None and abs(delta.change_percentage) > limit:
        return (
            f"bid change of {delta.change_percentage}% exceeds the network's maximum change "
            f"of {limit}% per upload"
        )
    return None


def check_bid(row: BidRow, where: Hierarchy) -> Verdict:
    """The first rule the row breaks, in the order a user fixes them: the network and campaign
    setup, the bid's dimension, then its value."""
    delta = delta_of(row, where.existing)
    campaign, network = where.campaign, where.network
    if campaign is None or network is None:
        return Verdict(delta, Reason.CAMPAIGN_NOT_FOUND)
    problem: str | None = _setup_problem(network, campaign) or _dimension_problem(row, where, network)
    if problem is None and row.delete:
        if row.ad_set_id is None:
            problem = Reason.DELETE_CAMPAIGN_BID
        elif where.existing is None:
            problem = Reason.DELETE_MISSING_BID
    elif problem is None:
        problem = _value_problem(row, delta, network.settings)
    return Verdict(delta, None if problem is None else str(problem))


class ExactValue(NamedTuple):
    places: int  # digits after the point, trailing zeros aside
    micros: int


def exact_value(value: Decimal) -> ExactValue | None:
    """None for a value out of range (NaN, infinity, beyond MAX_BID_MICROS), which no rule accepts."""
    return ExactValue(_decimal_places(value), micros_of(value)) if in_bid_range(value) else None


class UploadRules:
    """check_bid's rules for the rows of one campaign, resolved once per upload: an upload checks
    up to 100k rows against a handful of campaigns. `accepts` is a quick sufficient test: a row it
    accepts, check_bid accepts too; any other row goes through check_bid, which names its reason
    (tests/domain/test_bids.py checks the two agree)."""

    __slots__ = ("_ad_set", "_campaign", "_countries", "_limit", "_min", "_open", "_places", "_source")

    def __init__(self, network: Network, campaign: NetworkCampaign) -> None:
        s = network.settings
        self._open = _setup_problem(network, campaign) is None
        self._countries = campaign.countries
        self._campaign = s.campaign_bidding
        self._ad_set = s.ad_set_bidding
        self._source = s.source_id_bidding
        self._places = min(s.decimal_precision, MAX_DECIMAL_PRECISION)
        self._min = max(s.min_bid_micros, 1)  # a bid is above zero whatever the minimum
        self._limit = s.max_change_percent

    def accepts(
        self, row: BidRow, ad_set_found: bool, existing: StoredBid | None, value: ExactValue | None
    ) -> bool:
        """`ad_set_found`: the row names no ad set, or one of its campaign; `value`: the row's
        value as `exact_value` gives it (None on a delete)."""
        if not self._open or row.country not in self._countries or not ad_set_found:
            return False
        if row.ad_set_id is None:
            if not self._campaign or row.source_id is not None or row.delete:
                return False
        elif not self._ad_set or (row.source_id is not None and not self._source):
            return False
        if row.delete:
            return existing is not None
        if value is None or value.places > self._places or value.micros < self._min:
            return False
        if self._limit is None or existing is None:
            return True
        change = delta_of(row, existing).change_percentage
        return change is None or abs(change) <= self._limit


# What an accepted upload writes, as plain tuples: an upload holds up to 100k rows. Every bid it
# writes is `pending`, with the one new operation of the upload's id.
NewBid = tuple[int, int, int, int, int | None, str, str | None, int]
"""(bid id, operation id, network id, campaign id, ad set id, country, source id, value micros): a
bid the upload creates."""
ChangedBid = tuple[int, int, int, OperationKind, int, int | None]
"""(bid id, operation id, network id, kind (update or delete), old value micros, new value micros;
None on a delete, which keeps the bid's value until the partner has deleted it)."""


@dataclass(frozen=True)
class UploadWrites:
    upload_id: int
    account_id: int
    at: datetime
    created: list[NewBid]
    changed: list[ChangedBid]


# --- partner protocol values ------------------------------------------------------------------


@dataclass(frozen=True)
class PartnerBidKey:
    """A bid as a partner knows it: its own campaign and ad set ids."""

    campaign: str
    ad_set: str | None
    country: str
    source_id: str | None


@dataclass(frozen=True)
class BidChange:
    key: PartnerBidKey
    value_micros: int | None  # None: delete the bid


@dataclass(frozen=True)
class ItemResult:
    key: PartnerBidKey
    ok: bool
    message: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """A partner's answer to a batch: per-item results when it reports them; when it rejected
    the batch whole, `items` is empty and `error` says why."""

    batch_id: str
    items: tuple[ItemResult, ...] = ()
    error: str | None = None

    @property
    def rejected_whole(self) -> bool:
        return self.error is not None


# --- the bid sync saga ------------------------------------------------------------------------


class BatchPhase(StrEnum):
    APPLY = "apply"  # the changes go to the partner
    ROLLBACK = "rollback"  # the failed ones: read the partner's values back, undo what it created
    DONE = "done"


# How a failure starts when the network never answered the apply (after the retry policy): it
# may have applied it or not. Stored as the operation's error, so a resumed rollback still knows.
NO_ANSWER = "no answer from the network: "


@dataclass(frozen=True)
class SyncItem:
    """One operation of a partner batch, with the bid's key at the partner."""

    operation_id: int
    bid_id: int
    kind: OperationKind
    key: PartnerBidKey
    value_micros: int | None  # the operation's target; None: a delete
    latest: bool  # still its bid's latest operation (a later upload may have changed the bid since)
    failed: str | None = None  # why the partner refused it (set once the apply phase is over)

    @property
    def refused_outright(self) -> bool:
        """The network answered that it did not apply it (a per-item failure, a batch rejected
        whole), so it still runs what it ran before; not when it never answered."""
        return self.failed is not None and not self.failed.startswith(NO_ANSWER)


@dataclass(frozen=True)
class SyncBatch:
    id: int
    account_id: int
    network_id: int
    phase: BatchPhase
    attempts: int  # unanswered partner calls in this phase
    created_at: datetime
    items: tuple[SyncItem, ...]

    @property
    def partner_id(self) -> str:
        """The batch id the partner sees: the same on every resend, so a resend changes nothing more."""
        return f"b-{self.id}"

    @property
    def rollback_id(self) -> str:
        return f"rollback-{self.id}"


@dataclass(frozen=True)
class Settled:
    """An operation's final status and, when known, the value its bid has on the partner now
    (None: no bid there, ours is deleted too). `unchanged`: not read, but the network refused the
    operation outright, so it runs what it ran before (the bid's confirmed value, when that is
    current); otherwise an unread value is unknown."""

    item: SyncItem
    status: BidStatus
    value_known: bool
    value_micros: int | None
    message: str | None = None
    unchanged: bool = False


def split_result(items: Sequence[SyncItem], result: BatchResult) -> tuple[list[SyncItem], list[SyncItem]]:
    """(applied, refused) from a partner's answer. A batch rejected whole (or answered without a
    result per item) refuses every item; otherwise only the items reported failing are refused."""
    if result.rejected_whole or len(result.items) != len(items):
        why = result.error or "the partner answered without a result per bid"
        return [], [replace(i, failed=why) for i in items]
    applied: list[SyncItem] = []
    refused: list[SyncItem] = []
    for item, answer in zip(items, result.items, strict=True):
        if answer.ok:
            applied.append(item)
        else:
            refused.append(replace(item, failed=answer.message or "refused by the partner"))
    return applied, refused


def applied(items: Sequence[SyncItem]) -> list[Settled]:
    return [Settled(i, BidStatus.SUCCESS, True, i.value_micros) for i in items]


def rolled_back(
    refused: Sequence[SyncItem], current: Mapping[PartnerBidKey, int | None]
) -> tuple[list[Settled], list[SyncItem]]:
    """The seed's rollback: a refused bid takes the partner's current value (`rollback-error`), or
    is deleted when the partner has none. A refused *create* the partner holds anyway (it applied
    it after all, e.g. after a timeout we gave up on) must first be deleted there: those are
    returned second, to be deleted on the partner before they settle."""
    settled: list[Settled] = []
    undo: list[SyncItem] = []
    for item in refused:
        value = current.get(item.key)
        if item.kind is OperationKind.CREATE and value is not None and item.latest:
            undo.append(item)
        else:
            settled.append(Settled(item, BidStatus.ROLLBACK_ERROR, True, value, item.failed))
    return settled, undo


def failed_rollback(
    items: Sequence[SyncItem], why: str, current: Mapping[PartnerBidKey, int | None]
) -> list[Settled]:
    """`error`: the rollback did not go through; the partner's value is kept when it was read,
    and unchanged when it refused the operation outright."""
    return [
        Settled(
            i,
            BidStatus.ERROR,
            i.key in current,
            current.get(i.key),
            f"{i.failed}; rollback failed: {why}",
            unchanged=i.key not in current and i.refused_outright,
        )
        for i in items
    ]


# --- sharing a sync worker's threads (D58) ------------------------------------------------------


@dataclass(frozen=True)
class DueWork:
    """A network with work due, as one claim round sees it."""

    network_id: int
    account_id: int
    room: int  # batches it may still lease: its concurrency less those leased by any worker
    due: int  # its open batches due for a step (a retry, a rollback, one a dead worker held)
    retry: bool  # every one of them is a retry of an unanswered call
    pending: bool  # operations waiting for a new batch


def fair_share(
    free: int,
    work: Sequence[DueWork],
    busy: Collection[tuple[int, int]],
    served: Mapping[int, int],
) -> list[int]:
    """The networks (ids, one per thread) the `free` threads go to, given the (account, network)
    of each step this worker has in flight and when each network was last served.

    One thread at a time, to the network whose account holds the fewest threads, then that holds
    the fewest itself, a first attempt before a retry, then the one served longest ago (round
    robin); never past its room. A call in flight cannot be taken back, so the last free thread is
    kept for an account holding none: however long one tenant's partner holds its calls, another
    tenant's work finds a thread at once, and the slow one's share shrinks to a fair one as its
    calls time out (their threads go to whoever holds fewer)."""
    accounts = Counter(a for a, _ in busy)
    networks = Counter(n for _, n in busy)
    last = dict(served)
    tick = max(last.values(), default=0)
    room = {w.network_id: w.room for w in work}
    due = {w.network_id: w.due for w in work}
    chosen: list[int] = []
    for left in range(free, 0, -1):
        options = [
            w
            for w in work
            if room[w.network_id] > 0
            and (due[w.network_id] > 0 or w.pending)
            and (left > 1 or accounts[w.account_id] == 0)
        ]
        if not options:
            break
        best = min(
            options,
            key=lambda w: (
                accounts[w.account_id],
                networks[w.network_id],
                w.retry and due[w.network_id] > 0,  # its due batches go before its new ones
                last.get(w.network_id, 0),
                w.network_id,
            ),
        )
        n = best.network_id
        chosen.append(n)
        room[n] -= 1
        due[n] = max(0, due[n] - 1)
        accounts[best.account_id] += 1
        networks[n] += 1
        tick += 1
        last[n] = tick
    return chosen
