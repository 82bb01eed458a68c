"""Retailers, their product catalogs, and the validation of one product feed row.

A feed row arrives as a mapping of column names to raw strings (whatever the feed format).
`validate_row` turns it into `ProductFields` or the list of what is wrong with it, naming the
column and the line. Column names are matched loosely (`ACCEPTED_COLUMNS`): our own names, the
Google Merchant ones (`title`, `link`, `image_link`, `availability`, `g:`-prefixed in XML) and
the affiliate v3 feed's (`productName`, `productPrice`, ...), ignoring case, `_`, `-` and spaces.

Money is integer micros. Currency codes are checked against the set `RowRules` is given (the
services build it from pycountry): the domain stays free of data files.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from auctera.domain.accounts import AccountKind
from auctera.domain.compliance import host_of, normalize_domain
from auctera.domain.money import to_micros

MAX_URL = 2048
MAX_NAME = 500
MAX_SHORT = 255  # external id, category, brand, sku
MAX_MATCH_KEY = 600
MAX_ERRORS_KEPT = 1000  # per import: the first ones, with their lines


class FeedFormat(StrEnum):
    CSV = "csv"
    TSV = "tsv"
    JSON = "json"  # an array of objects, or {"products": [...]} (or JSON Lines, recognised)
    JSONL = "jsonl"  # JSON Lines: one object per line
    XML = "xml"  # Google Merchant RSS <item>s or <products><product>s


class ImportStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Retailer:
    """A site with a product catalog. Its account is a publisher when sponsored products serve on
    it (retail media), an advertiser when it is a merchant whose products win SmartLinks."""

    id: int
    account_id: int
    account_kind: AccountKind
    name: str
    domain: str  # normalised host name (lower-case, IDNA)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProductFields:
    """One valid feed row: what the retailer says about a product."""

    external_id: str
    name: str
    price_micros: int
    currency: str
    url: str
    in_stock: bool = True
    description: str | None = None
    image_url: str | None = None
    category: str | None = None
    brand: str | None = None
    gtin: str | None = None  # GTIN-14, check digit verified
    sku: str | None = None
    min_bid_micros: int | None = None  # in `currency`; what a line item must bid to promote it
    match_key: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """A product of a retailer's catalog as stored: the feed's fields and ours."""

    id: int  # ours: stable across re-imports of the same external id
    retailer_id: int
    account_id: int
    external_id: str  # the feed's product id
    name: str
    price_micros: int
    currency: str
    url: str
    in_stock: bool
    description: str | None
    image_url: str | None
    category: str | None
    brand: str | None
    gtin: str | None  # GTIN-14
    sku: str | None
    min_bid_micros: int | None  # in `currency`; a line item promoting it must bid at least this
    match_key: str | None
    import_id: int | None  # the last import that listed it
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # 1-based line of the feed (see docs/api-v2-retailers.md for JSON and XML)
    field: str | None
    reason: str


@dataclass(slots=True)
class ProductColumns:
    """Valid products of a feed batch, a list per `ProductFields` field: what `validate_row`
    gives for each of their rows, checked a column at a time by a reader that can (CSV)."""

    lines: list[int]
    external_id: list[str]
    name: list[str]
    price_micros: list[int]
    currency: list[str]
    url: list[str]
    in_stock: list[bool]
    description: list[str | None]
    image_url: list[str | None]
    category: list[str | None]
    brand: list[str | None]
    gtin: list[str | None]
    sku: list[str | None]
    min_bid_micros: list[int | None]
    match_key: list[str | None]

    @classmethod
    def of(cls, items: Iterable[tuple[int, ProductFields]]) -> ProductColumns:
        columns = cls(*([] for _ in cls.__slots__))
        columns.extend(items)
        return columns

    def __len__(self) -> int:
        return len(self.lines)

    def extend(self, items: Iterable[tuple[int, ProductFields]]) -> None:
        listed = list(items)
        self.lines.extend(line for line, _ in listed)
        for name in ProductFields.__slots__:
            getattr(self, name).extend([getattr(item, name) for _, item in listed])

    def without(self, dropped: set[int]) -> ProductColumns:
        """These products but those at the positions `dropped`."""
        kept = [i for i in range(len(self)) if i not in dropped]
        return ProductColumns(*([getattr(self, name)[i] for i in kept] for name in self.__slots__))


@dataclass(slots=True)
class FeedBatch:
    """What a feed reader yields: raw rows with their lines, and the rows it could not read;
    given the rules, a reader may validate rows itself and yield them as `products`."""

    rows: list[tuple[int, dict[str, str]]]
    errors: list[RowError]
    products: ProductColumns | None = None


class FeedError(Exception):
    """The feed cannot be read past `line` (truncated, malformed, no header...): the rows before
    it stand, and nothing is taken out of stock."""

    def __init__(self, line: int, reason: str, field: str | None = None) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason
        self.field = field


@dataclass(frozen=True, slots=True)
class FeedImport:
    id: int
    account_id: int
    retailer_id: int
    source: str
    format: FeedFormat
    status: ImportStatus
    rows_read: int
    rows_valid: int
    rows_invalid: int
    marked_out_of_stock: int
    errors: tuple[RowError, ...]  # the first MAX_ERRORS_KEPT
    started_at: datetime
    finished_at: datetime | None
    # While running: the time by which the importing process must have renewed its claim on the
    # retailer (every IMPORT_RENEW_EVERY); past it, the process is taken for dead.
    lease_until: datetime | None = None

    def as_of(self, now: datetime) -> FeedImport:
        """The import as it stands at `now`: one still `running` whose lease ran out was
        interrupted (its process killed or lost), so it reads as failed, saying so."""
        alive = self.lease_until is not None and self.lease_until > now
        if self.status is not ImportStatus.RUNNING or alive:
            return self
        stopped = self.lease_until or self.started_at
        errors = (*self.errors[: MAX_ERRORS_KEPT - 1], RowError(0, None, INTERRUPTED))
        return replace(self, status=ImportStatus.FAILED, errors=errors, finished_at=stopped)


# One import per retailer at a time: two would each take out of stock what the other listed. The
# import claims its retailer for IMPORT_LEASE and renews the claim every IMPORT_RENEW_EVERY.
IMPORT_LEASE = timedelta(seconds=60)
IMPORT_RENEW_EVERY = 15.0
INTERRUPTED = (
    "the import was interrupted: its process stopped (killed or lost) before the end; the batches "
    "it stored stand and nothing was taken out of stock: import the feed again"
)


@dataclass(frozen=True, slots=True)
class RowRules:
    currencies: frozenset[str]  # ISO 4217 codes in force
    default_currency: str  # when a row names none: the retailer's account currency


# --- column names ---------------------------------------------------------------------------

ACCEPTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("product_id", "id", "productId", "item_id", "offer_id"),
    "name": ("name", "title", "productName", "product_name"),
    "description": ("description", "productDescription"),
    "price": ("price", "productPrice"),
    "currency": ("currency", "currency_code"),
    "url": ("url", "link", "productUrl", "product_url"),
    "image_url": ("image_url", "image_link", "imageUrl", "image"),
    "in_stock": ("in_stock", "inStock", "is_in_stock"),
    "availability": ("availability",),
    "category": ("category", "product_type", "google_product_category", "productCategory"),
    "brand": ("brand", "manufacturer"),
    "gtin": ("gtin", "ean", "upc"),
    "sku": ("sku", "mpn", "manufacturerArticleNumber"),
    "min_bid": ("min_bid", "minBid"),
}
REQUIRED = ("id", "name", "price", "url")
_REQUIRED = frozenset(REQUIRED)


def _squash(name: str) -> str:
    name = name.strip().lower()
    if name.startswith("g:"):  # Google Merchant's namespace prefix, as some CSV exports keep it
        name = name[2:]
    return name.replace("_", "").replace("-", "").replace(" ", "")


_ALIASES = {_squash(alias): field for field, names in ACCEPTED_COLUMNS.items() for alias in names}


_SEEN: dict[str, str | None] = {}  # column name -> field: every row of a feed has the same names


def canonical_column(name: str) -> str | None:
    """Our field name for a feed column name, None for a column we do not read."""
    try:
        return _SEEN[name]
    except KeyError:
        if len(_SEEN) > 10_000:  # feeds with ever new keys (JSON) must not grow it without end
            _SEEN.clear()
        field = _SEEN[name] = _ALIASES.get(_squash(name))
        return field


def header_problems(columns: Iterable[str]) -> list[RowError]:
    """What makes a tabular feed's header unusable: a required column missing, or two columns
    naming one field (which of them would count?)."""
    seen: dict[str, str] = {}
    problems: list[RowError] = []
    for column in columns:
        field = canonical_column(column)
        if field is None:
            continue
        if field in seen:
            problems.append(
                RowError(1, field, f"columns '{seen[field]}' and '{column}' both give the {field}")
            )
        seen[field] = column
    for field in REQUIRED:
        if field not in seen:
            names = ", ".join(ACCEPTED_COLUMNS[field])
            problems.append(RowError(1, field, f"required column missing (one of: {names})"))
    return problems


# --- values ---------------------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
# Google Merchant availability values (with spaces or underscores); preorder and backorder can be
# bought now, so their product pages may take a click.
_AVAILABLE = frozenset({"in stock", "limited availability", "available for order", "preorder", "backorder"})
_UNAVAILABLE = frozenset({"out of stock", "discontinued", "sold out"})
# `in_stock` or `availability` values, lower-case with "_" as " ".
IN_STOCK_WORDS = _TRUE | _AVAILABLE
OUT_OF_STOCK_WORDS = _FALSE | _UNAVAILABLE
_AMOUNT = re.compile(
    r"^\s*(?:([A-Za-z]{3})\s+)?([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*(?:([A-Za-z]{3}))?\s*$"
)
_THOUSANDS = re.compile(r"^[0-9]{1,3}(,[0-9]{3})*(\.[0-9]+)?$")


def parse_amount(text: str) -> tuple[int, str | None]:
    """'12.99', '12.99 USD' (Google Merchant), 'USD 12.99', '1,299.00' -> (micros, currency or None).

    ValueError with the reason otherwise (negative, more than six decimals, not a number)."""
    match = _AMOUNT.match(text)
    if match is None:
        raise ValueError(f"not a price: {text!r} (write 12.99 or 12.99 USD)")
    before, number, after = match.groups()
    if before and after:
        raise ValueError(f"not a price: {text!r} (one currency code at most)")
    if "," in number:
        if not _THOUSANDS.match(number):
            raise ValueError(f"not a price: {text!r} (use '.' for decimals)")
        number = number.replace(",", "")
    try:
        micros = to_micros(number)  # at most 10^12, six decimals: what the API takes too
    except ValueError as exc:
        raise ValueError(str(exc).replace("amount", "the price")) from None
    code = before or after
    return micros, code.upper() if code else None


def gtin14(text: str) -> str:
    """A GTIN-8, UPC-A (12), EAN-13 or GTIN-14 as its GTIN-14 form, check digit verified.

    ValueError with the reason otherwise. Spaces and hyphens between digits are tolerated."""
    digits = text.replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("must be digits only")
    if len(digits) not in (8, 12, 13, 14):
        raise ValueError(f"must have 8, 12, 13 or 14 digits, not {len(digits)}")
    padded = digits.zfill(14)
    if padded == "0" * 14:
        raise ValueError("is all zeros")
    # GS1: from the right, excluding the check digit, weights 3, 1, 3, ...: in the 14-digit form
    # the even positions from the left weigh 3.
    total = 3 * sum(map(int, padded[0:13:2])) + sum(map(int, padded[1:13:2]))
    expected = (10 - total % 10) % 10
    if int(padded[13]) != expected:
        raise ValueError(f"check digit is {padded[13]}, should be {expected}")
    return padded


# The common case, checked in one match: an http(s) URL with a dotted ASCII host and no spaces.
_PLAIN_URL = re.compile(
    r"https?://(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]*[a-z](?:[/?#]\S*)?",
    re.IGNORECASE | re.ASCII,
)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a product or image link, or None."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    if _SPACE_OR_CONTROL.search(url):
        return "must not contain spaces or control characters (percent-encode them)"
    if _PLAIN_URL.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "must be an absolute http:// or https:// URL"
    if "@" in parts.netloc:
        return "must not carry credentials (user@host)"
    host = host_of(url)
    if host is None or "." not in host:
        return "needs a host name such as shop.example.com"
    return None


# An http(s) URL whose host is already canonical (lower-case ASCII, no trailing dot, no port): as
# nearly every feed writes them, told in one match.
_CANONICAL_HOST = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?=[/?#]|\Z)", re.ASCII)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """`url` with its scheme and host as one site has one name: host names are case-insensitive,
    a trailing dot names the same host and a Unicode name is its IDNA (xn--) form, so
    `HTTPS://Shop.Example.COM./p/1` is `https://shop.example.com/p/1` (a default port dropped too).
    Path, query and fragment are kept as they are (a site may tell their case apart). A URL whose
    host is no domain name (an IP address, malformed) is returned unchanged."""
    if _CANONICAL_HOST.match(url):
        return url
    try:
        parts = urlsplit(url)
        host = normalize_domain(parts.hostname) if parts.hostname else None
        port = parts.port
    except ValueError:
        return url
    if host is None:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def availability(text: str) -> bool:
    """in_stock from `in_stock` (true/false/1/0/yes/no) or `availability` ("in stock", ...)."""
    value = text.strip().lower().replace("_", " ")
    if value in IN_STOCK_WORDS:
        return True
    if value in OUT_OF_STOCK_WORDS:
        return False
    raise ValueError(f"unknown value {text!r} (true/false, or in stock/out of stock/preorder/backorder)")


# Words that do not tell two products apart when their names are compared across merchants.
STOP_WORDS = frozenset(
    {"a", "an", "and", "the", "of", "for", "with", "by", "in", "on", "to", "new", "und", "der", "die", "das"}
)
_TOKEN = re.compile(r"[a-z]+|[0-9]+")


def match_key(brand: str | None, name: str) -> str | None:
    """A normalised key for "the same product" at merchants that share no GTIN.

    Case-folded, accents removed (NFKD), split into runs of letters and runs of digits (so
    "128GB" and "128 GB", "PS5" and "PS 5" agree), stop words dropped, each token once, sorted
    (so "Sony PlayStation 5" with brand Sony and "PlayStation 5 Sony" agree), the brand's tokens
    included. None when nothing is left.
    """
    text = f"{brand or ''} {name}".casefold()
    plain = text
    if not text.isascii():
        plain = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    tokens = sorted({t for t in _TOKEN.findall(plain) if t not in STOP_WORDS})
    key = " ".join(tokens)[:MAX_MATCH_KEY].rstrip()
    return key or None


# --- one row --------------------------------------------------------------------------------


def validate_row(raw: Mapping[str, str], line: int, rules: RowRules) -> ProductFields | list[RowError]:
    """A feed row (column name -> raw text) as the product it describes, or every problem in it."""
    values: dict[str, str] = {}
    for column, text in raw.items():
        field = canonical_column(column)
        if field is not None and text and field not in values:
            stripped = text.strip()
            if stripped:
                values[field] = stripped
    problems: list[RowError] = []

    def problem(field: str, reason: str) -> None:
        problems.append(RowError(line, field, reason))

    if len(values.keys() & _REQUIRED) < len(REQUIRED):
        for field in REQUIRED:
            if field not in values:
                problem(field, "is required")

    external_id = values.get("id", "")
    if len(external_id) > MAX_SHORT:
        problem("id", f"must be at most {MAX_SHORT} characters")
    name = values.get("name", "")
    if len(name) > MAX_NAME:
        problem("name", f"must be at most {MAX_NAME} characters")

    currency = values.get("currency", "").upper() or None
    if currency is not None and currency not in rules.currencies:
        problem("currency", f"{values['currency']!r} is not an ISO 4217 currency code")
    price_micros = 0
    if "price" in values:
        try:
            price_micros, price_currency = parse_amount(values["price"])
        except ValueError as exc:
            problem("price", str(exc))
        else:
            if price_currency is not None:
                if price_currency not in rules.currencies:
                    problem("price", f"{price_currency!r} is not an ISO 4217 currency code")
                elif currency is not None and currency != price_currency:
                    problem("price", f"is in {price_currency} but the currency column says {currency}")
                currency = price_currency
    min_bid: int | None = None
    if "min_bid" in values:
        try:
            min_bid, bid_currency = parse_amount(values["min_bid"])
        except ValueError as exc:
            problem("min_bid", str(exc))
        else:
            if bid_currency is not None and bid_currency != (currency or rules.default_currency):
                problem("min_bid", "must be in the price's currency")

    url = values.get("url", "")
    if url and (why := url_problem(url)):
        problem("url", why)
    image_url = values.get("image_url")
    if image_url and (why := url_problem(image_url)):
        problem("image_url", why)

    in_stock = True
    for field in ("in_stock", "availability"):
        if field in values:
            try:
                in_stock = availability(values[field])
            except ValueError as exc:
                problem(field, str(exc))
            break

    gtin = None
    if "gtin" in values:
        try:
            gtin = gtin14(values["gtin"])
        except ValueError as exc:
            problem("gtin", str(exc))

    short = {f: values.get(f) for f in ("category", "brand", "sku")}
    for field, given in short.items():
        if given is not None and len(given) > MAX_SHORT:
            problem(field, f"must be at most {MAX_SHORT} characters")

    if problems:
        return problems
    return ProductFields(
        external_id=external_id,
        name=name,
        price_micros=price_micros,
        currency=currency or rules.default_currency,
        url=url,
        in_stock=in_stock,
        description=values.get("description"),
        image_url=image_url,
        category=short["category"],
        brand=short["brand"],
        gtin=gtin,
        sku=short["sku"],
        min_bid_micros=min_bid,
        match_key=match_key(short["brand"], name),
    )
