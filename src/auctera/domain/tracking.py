"""Tracking links and what a click or impression request says: pure functions, no I/O.

Links look exactly as seed 000 shows them: `<tracking base>/click?o=442&p=8821&s1=source_a`
and `<tracking base>/imp?o=442&p=8821`. `o` names an offer (an affiliate campaign), `c` a
DSP campaign (same id space, the name only tells a reader which kind it is), `p` the
publisher, `s1`..`s5` the publisher's sub ids. Ids are the base36 part of their /v2 form
(`off_442` -> `o=442`). Nothing in a link is trusted: the click handler looks the campaign
and the publisher up and checks the publisher may run the offer (D14).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import parse_qsl, quote, urlencode

from auctera.domain import ids
from auctera.domain.compliance import redirect_host, redirect_problem
from auctera.domain.creatives import creative_prefix

SUB_IDS = ("sub_id1", "sub_id2", "sub_id3", "sub_id4", "sub_id5")
_SUB_PARAMS = ("s1", "s2", "s3", "s4", "s5")
MAX_SUB_ID_LENGTH = 255

_IDENTIFIER_PARAMS = {"em": "email_sha256", "ph": "phone_sha256"}
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

CLICK_PATH = "/click"
IMPRESSION_PATH = "/imp"
VIEWABLE_PATH = "/viewable"


class LinkError(ValueError):
    """A tracking request that cannot be a link we issued: the field and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class LinkParams:
    """What a click or impression link names."""

    campaign_id: int
    publisher_id: int | None = None
    sub_ids: tuple[str | None, ...] = (None,) * 5
    # Hashed identifiers a publisher passed on the link (`em`, `ph`: SHA-256 hex of the normalised
    # email / E.164 phone): they tie the visitor to offline conversions (see docs/api-v2-conversions.md).
    identifiers: tuple[tuple[str, str], ...] = ()
    channel_id: int | None = None  # `ch`: the publisher's channel, for programs (seed 003)
    epi: str | None = None  # `epi`: the publisher's free text, e.g. the product name of a feed link
    deep_url: str | None = None  # `url`: a page on the advertiser's site to land on instead
    product_id: int | None = None  # `pr`: land on this catalog product's page (feed links)
    creative_id: int | None = None  # `cr`: the creative (asset or DCO template) the ad showed
    variant: str | None = None  # `cv`: the DCO variant of that creative
    # What every event of the link records of it, in this order: sub ids, hashed identifiers,
    # channel, epi, variant. Worked out once per link (links are memoised), copied per event.
    attrs: Mapping[str, object] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        attrs: dict[str, object] = {n: v for n, v in zip(SUB_IDS, self.sub_ids, strict=True) if v}
        attrs.update(self.identifiers)
        if self.channel_id is not None:  # the conversion engine prices by the channel's segment
            attrs["channel_id"] = self.channel_id
        if self.epi is not None:
            attrs["epi"] = self.epi
        if self.variant is not None:  # the DCO variant shown, for the bandit and the creative report
            attrs["variant"] = self.variant
        object.__setattr__(self, "attrs", MappingProxyType(attrs))


def link_query(
    campaign_id: int,
    publisher_id: int | None,
    sub_ids: Mapping[str, str],
    *,
    offer: bool,
    channel_id: int | None = None,
    epi: str | None = None,
    deep_url: str | None = None,
    product_id: int | None = None,
    creative_id: int | None = None,
    variant: str | None = None,
) -> str:
    """The query string of a link, in the seed's order: campaign, publisher, sub ids; then the
    channel, the epi, the product, the creative and its variant, and the deep link when given."""
    pairs = [("o" if offer else "c", ids.to_base36(campaign_id))]
    if publisher_id is not None:
        pairs.append(("p", ids.to_base36(publisher_id)))
    pairs += [
        (param, sub_ids[name]) for name, param in zip(SUB_IDS, _SUB_PARAMS, strict=True) if sub_ids.get(name)
    ]
    if channel_id is not None:
        pairs.append(("ch", ids.to_base36(channel_id)))
    if epi:
        pairs.append(("epi", epi[:MAX_SUB_ID_LENGTH]))
    if product_id is not None:
        pairs.append(("pr", ids.to_base36(product_id)))
    if creative_id is not None:
        pairs.append(("cr", ids.to_base36(creative_id)))
    if variant:
        pairs.append(("cv", variant[:MAX_SUB_ID_LENGTH]))
    if deep_url:
        pairs.append(("url", deep_url))
    return urlencode(pairs, quote_via=quote)


def tracking_links(
    base_url: str,
    campaign_id: int,
    publisher_id: int | None,
    sub_ids: Mapping[str, str],
    *,
    offer: bool,
    channel_id: int | None = None,
) -> tuple[str, str]:
    """(click URL, impression pixel URL). The pixel carries no sub ids, as the seed shows."""
    base = base_url.rstrip("/")
    click = link_query(campaign_id, publisher_id, sub_ids, offer=offer, channel_id=channel_id)
    pixel = link_query(campaign_id, publisher_id, {}, offer=offer, channel_id=channel_id)
    return f"{base}{CLICK_PATH}?{click}", f"{base}{IMPRESSION_PATH}?{pixel}"


def click_url(
    base_url: str,
    program_id: int,
    publisher_id: int,
    channel_id: int | None,
    *,
    epi: str | None = None,
    deep_url: str | None = None,
    product_id: int | None = None,
) -> str:
    """A program's click link for one channel, optionally landing on a catalog product's page
    (`product_id`, looked up on the click) or on `deep_url` (written out in the link)."""
    query = link_query(
        program_id,
        publisher_id,
        {},
        offer=True,
        channel_id=channel_id,
        epi=epi,
        deep_url=deep_url,
        product_id=product_id,
    )
    return f"{base_url.rstrip('/')}{CLICK_PATH}?{query}"


def parse_link(query_string: str) -> LinkParams:
    """The ids and sub ids of a click or pixel request's query string; LinkError when malformed.

    Memoised: one link is clicked again and again, and parsing costs more than the rest of the
    redirect's own work. Long query strings are parsed every time (they cannot fill the memo)."""
    if len(query_string) <= _MEMO_MAX:
        return _parse_link_memo(query_string)
    return _parse_link(query_string)


_MEMO_MAX = 512


@functools.lru_cache(maxsize=16_384)
def _parse_link_memo(query_string: str) -> LinkParams:
    return _parse_link(query_string)


def _parse_link(query_string: str) -> LinkParams:
    params: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        params.setdefault(key, value)  # the first of repeated parameters, as browsers send them
    named = [k for k in ("o", "c") if k in params]
    if not named:
        raise LinkError("o", "the link names no offer (o=) or campaign (c=)")
    if len(named) == 2 and params["o"] != params["c"]:
        raise LinkError("c", "the link names two different campaigns")
    campaign_id = ids.from_base36(params[named[0]])
    if campaign_id is None:
        raise LinkError(named[0], "not a valid id")
    publisher_id = None
    if params.get("p"):
        publisher_id = ids.from_base36(params["p"])
        if publisher_id is None:
            raise LinkError("p", "not a valid publisher id")
    sub_ids: list[str | None] = []
    for param in _SUB_PARAMS:
        sub_id = params.get(param) or None
        if sub_id is not None and len(sub_id) > MAX_SUB_ID_LENGTH:
            raise LinkError(param, f"longer than {MAX_SUB_ID_LENGTH} characters")
        sub_ids.append(sub_id)
    identifiers = []
    for param, kind in _IDENTIFIER_PARAMS.items():
        digest = params.get(param)
        if digest:
            if not _SHA256.fullmatch(digest):
                raise LinkError(param, "must be the SHA-256 hex digest of the normalised value")
            identifiers.append((kind, digest.lower()))
    channel_id = None
    if params.get("ch"):
        channel_id = ids.from_base36(params["ch"])
        if channel_id is None:
            raise LinkError("ch", "not a valid channel id")
    epi = params.get("epi") or None
    if epi is not None and len(epi) > MAX_SUB_ID_LENGTH:
        raise LinkError("epi", f"longer than {MAX_SUB_ID_LENGTH} characters")
    deep_url = params.get("url") or None
    if deep_url is not None:
        # Refused here, before the click is resolved, logged or charged.
        problem = redirect_problem(deep_url)
        if problem is not None:
            raise LinkError("url", problem)
    product_id = None
    if params.get("pr"):
        product_id = ids.from_base36(params["pr"])
        if product_id is None:
            raise LinkError("pr", "not a valid product id")
    creative_id = None
    if params.get("cr"):
        creative_id = ids.from_base36(params["cr"])
        if creative_id is None:
            raise LinkError("cr", "not a valid creative id")
    variant = params.get("cv") or None
    if variant is not None and len(variant) > MAX_SUB_ID_LENGTH:
        raise LinkError("cv", f"longer than {MAX_SUB_ID_LENGTH} characters")
    return LinkParams(
        campaign_id,
        publisher_id,
        tuple(sub_ids),
        tuple(identifiers),
        channel_id,
        epi,
        deep_url,
        product_id,
        creative_id,
        variant,
    )


def deep_link_allowed(deep_url: str, site_urls: Iterable[str | None]) -> bool:
    """Whether a link's `url=` may be landed on: a URL we may redirect to (`redirect_problem`)
    whose host, as a browser resolves it, is one of the advertiser's sites (the campaign's
    landing page, the program's URL, its catalogs' domains) or a subdomain of one, so a tracking
    link can never be turned into an open redirect."""
    if redirect_problem(deep_url) is not None:
        return False
    host = redirect_host(deep_url)
    if host is None:
        return False
    for site in site_urls:
        allowed = _site_host(site) if site else None
        if allowed and (host == allowed or host.endswith("." + allowed)):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _site_host(site: str) -> str | None:
    """The host of one of an advertiser's sites (a URL or a bare domain), without `www.`."""
    host = redirect_host(site if "//" in site else f"https://{site}")
    return host.removeprefix("www.") if host else None


# --- the redirect -------------------------------------------------------------------------

_MACRO = re.compile(r"\{(click_id|sub_id[1-5]|publisher_id|campaign_id|offer_id|creative_id)\}")
# What `quote(value, safe="")` leaves as it is: such values (ids, most sub ids) skip it.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


def destination(url: str, click_id: str, link: LinkParams) -> str:
    """The advertiser URL with its macros filled (URL-encoded); `click_id=<id>` appended when the
    URL has no `{click_id}` macro, so every landing can report the conversion."""
    template = _template(url)
    parts = [template.parts[0]]
    for macro, literal in template.macros:
        value = _macro_value(macro, click_id, link)
        parts += (value if _UNRESERVED(value) else quote(value, safe=""), literal)
    filled = "".join(parts)
    if template.has_click_id:
        return filled
    # Before any #fragment, which browsers never send. Filled values are percent-encoded but for
    # unreserved characters, so the first "#" and any "?" are the template's own.
    base, hash_, fragment = filled.partition("#")
    joiner = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return f"{base}{joiner}click_id={click_id}{hash_}{fragment}"


def _macro_value(macro: str, click_id: str, link: LinkParams) -> str:
    if macro == "click_id":
        return click_id
    if macro in ("campaign_id", "offer_id"):
        return ids.to_base36(link.campaign_id)
    if macro == "publisher_id":
        return ids.to_base36(link.publisher_id) if link.publisher_id is not None else ""
    if macro == "creative_id":  # as the API and the reports show it: ast_… or dco_…
        if link.creative_id is None:
            return ""
        return ids.render(creative_prefix(link.variant), link.creative_id)
    return link.sub_ids[int(macro[-1]) - 1] or ""  # sub_id1 .. sub_id5


@dataclass(frozen=True, slots=True)
class _Template:
    parts: tuple[str, ...]  # the text before the first macro
    macros: tuple[tuple[str, str], ...]  # (macro name, the text after it)
    has_click_id: bool


@functools.lru_cache(maxsize=4096)
def _template(url: str) -> _Template:
    """A destination URL split at its macros, once per URL (campaign URLs change rarely)."""
    pieces = _MACRO.split(url)  # text, macro, text, macro, ..., text
    macros = tuple(zip(pieces[1::2], pieces[2::2], strict=True))
    has_click_id = any(m == "click_id" for m, _ in macros)
    return _Template((pieces[0],), macros, has_click_id)


# --- what a request says about its device and place ----------------------------------------


class Device(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    CTV = "ctv"


_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))", re.IGNORECASE)
_MOBILE = re.compile(r"mobi|iphone|ipod|android|blackberry|opera mini|iemobile|windows phone", re.IGNORECASE)
_CTV = re.compile(
    r"smart-?tv|smarttv|hbbtv|appletv|crkey|roku|aftb|aftt|aftm|bravia|tizen.*tv|webos.*tv", re.I
)


def device_type(user_agent: str | None, mobile_hint: str | None = None) -> Device:
    """The device class of a request, from its user agent (and the `Sec-CH-UA-Mobile` hint)."""
    if mobile_hint == "?1":
        return Device.MOBILE
    ua = user_agent or ""
    # Memoised: three regexes per request cost a quarter of a redirect, and user agents repeat.
    return _device_memo(ua) if len(ua) <= _MEMO_MAX else _device(ua)


@functools.lru_cache(maxsize=8192)
def _device_memo(ua: str) -> Device:
    return _device(ua)


def _device(ua: str) -> Device:
    if _CTV.search(ua):
        return Device.CTV
    if _TABLET.search(ua):
        return Device.TABLET
    if _MOBILE.search(ua):
        return Device.MOBILE
    return Device.DESKTOP


# Headers a proxy or CDN in front of us sets to the visitor's country, first match wins.
COUNTRY_HEADERS = ("cf-ipcountry", "x-country-code", "cloudfront-viewer-country", "x-appengine-country")


def country_from_headers(headers: Mapping[str, str], countries: frozenset[str]) -> str | None:
    """ISO 3166-1 alpha-2 from the first proxy header holding a known code (`XX`, `T1`: unknown, Tor)."""
    for name in COUNTRY_HEADERS:
        value = headers.get(name)
        if value:
            code = value.strip().upper()
            if code in countries:
                return code
    return None
