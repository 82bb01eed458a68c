"""Campaign checks: input validation and the automated compliance review share them.

A check is a pure function `(campaign, context) -> [Problem]`. Input validation runs
`INPUT_CHECKS` and stops at the first problem (a 4xx naming the field); the review runs
`REVIEW_CHECKS` and records every reason. The review holds the policy checks input validation
must not reveal (the operator's blocklist) and re-checks the rest, so a campaign written by
another surface, or one whose rules changed since, is held to the same standard.
A DSP campaign with creatives attached needs one that passed its audit (`check_creatives`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

import idna

from auctera.domain.campaigns import (
    AUDIENCE_PAUSE,
    DSP_TYPES,
    PAUSE_REASON,
    Campaign,
    CampaignStatus,
    Problem,
    affiliate_problems,
    bidding_problems,
    budget_problems,
    flight_problems,
    multiplier_problems,
    name_problems,
    record_review,
    targeting_problems,
)
from auctera.domain.creatives import CREATIVE_PAUSE, CreativeStanding, creative_problem
from auctera.errors import ValidationFailed

MAX_URL = 2048
# Filled in by the click redirect; anything else in braces is a typo the advertiser wants to hear about.
KNOWN_MACROS = frozenset(
    {
        "click_id",
        "campaign_id",
        "offer_id",
        "publisher_id",
        "creative_id",
        *(f"sub_id{i}" for i in range(1, 6)),
    }
)
_MACRO = re.compile(r"\{([^{}]*)\}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True, slots=True)
class BlockedDomain:
    domain: str  # normalised (lower-case, IDNA); blocks its subdomains too
    reason: str | None
    created_at: datetime
    created_by: int | None  # the network account that added it; None from the CLI


@dataclass(frozen=True, slots=True)
class CheckContext:
    countries: frozenset[str]  # ISO 3166-1 alpha-2 codes in force
    currency: str  # the owning account's
    blocked_domains: frozenset[str] = frozenset()  # blocklist entries matching the destination host
    creatives: CreativeStanding | None = None  # the campaign's creatives by audit; None: it has none


Check = Callable[[Campaign, CheckContext], list[Problem]]


# --- URLs and domains ----------------------------------------------------------------------


def normalize_domain(text: str) -> str:
    """Lower-case ASCII form of a host name as browsers resolve it; ValueError when it is not one.

    UTS 46 mapping (non-transitional) then IDNA 2008, as the WHATWG URL standard does: faß.de is
    xn--fa-hia.de, a site of its own. Python's "idna" codec is IDNA 2003, which maps it to
    fass.de, another one: a blocklist entry made that way misses the site it names."""
    try:
        mapped = idna.uts46_remap(text.strip(), std3_rules=False)  # case, width, "。" -> "."
        name = ".".join(_ascii_label(label) for label in mapped.rstrip(".").split("."))
    except UnicodeError:  # idna.IDNAError is one
        raise ValueError(f"not a domain name: {text!r}") from None
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(f"not a domain name: {text!r}")
    return name


def _ascii_label(label: str) -> str:
    if not label.isascii():
        return idna.alabel(label).decode("ascii")
    # The punycode must decode to a valid name (xn--zz does not) that it is the one spelling of
    # (older idna releases skip that last check).
    if label.startswith("xn--") and idna.alabel(idna.ulabel(label)).decode("ascii") != label:
        raise idna.IDNAError(f"not the canonical spelling of {label!r}")
    # Other ASCII labels are left to _LABEL: browsers take r3---sn-x (hyphens in 3rd and 4th
    # position), which IDNA 2008 alone refuses.
    return label


def unicode_domain(name: str) -> str:
    """The Unicode spelling of a normalised name (a URL may write its host either way); a label
    that does not decode (an entry stored before IDNA 2008) stays as it is."""
    labels = []
    for label in name.split("."):
        try:
            labels.append(idna.ulabel(label) if label.startswith("xn--") else label)
        except UnicodeError:
            labels.append(label)
    return ".".join(labels)


# Common second-level registries (no lookups, no full Public Suffix List): with bare TLDs, the names
# a blocklist entry must not be, since each covers a whole country's or the world's sites.
MULTI_LABEL_PUBLIC_SUFFIXES = frozenset(
    f"{second}.{tld}"
    for tlds, seconds in (
        (("uk",), ("co", "org", "me", "ltd", "plc", "net", "ac", "gov", "nhs", "sch")),
        (("au", "nz", "za", "in", "br", "mx", "ar", "cn", "hk", "sg", "tr", "tw", "my", "ph", "pk"),
         ("com", "co", "net", "org", "gov", "edu", "ac")),
        (("jp", "kr", "id", "il", "th"), ("co", "ne", "or", "ac", "go")),
    )
    for tld in tlds
    for second in seconds
)  # fmt: skip


def is_public_suffix(domain: str) -> bool:
    """A normalised name under which anyone registers sites: a TLD (no dot) or a known
    second-level registry such as co.uk."""
    return "." not in domain or domain in MULTI_LABEL_PUBLIC_SUFFIXES


def domain_suffixes(host: str) -> list[str]:
    """'a.shop.example.com' -> itself, 'shop.example.com', 'example.com', 'com'."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def host_of(url: str) -> str | None:
    """The normalised host of an absolute URL (macros allowed), None when there is none."""
    try:
        host = urlsplit(_MACRO.sub("0", url)).hostname
        return normalize_domain(host) if host else None
    except ValueError:
        return None


# Whitespace and ASCII control characters: browsers drop a tab or line break from a URL before
# parsing it, urlsplit drops them silently, and no HTTP header may carry them (the server refuses
# a Location holding a CR/LF and drops the connection). Refused, never cleaned.
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_NO_SPACES = "must not contain spaces or control characters (percent-encode them)"


def redirect_problem(url: str) -> str | None:
    """Why a visitor may not be sent to `url` (the Location of a redirect: a deep link, a
    SmartLink's fallback), else None. One rule for every URL we redirect to.

    A browser reads a URL by the WHATWG URL standard, not as urlsplit does: a backslash ends
    the host (`https://evil.com\\.shop.example.com/` goes to evil.com, where urlsplit reads a
    subdomain of shop.example.com), tabs and line breaks vanish, and the host is mapped (UTS 46,
    IDNA) before it is resolved. So whatever the two could read differently is refused, and a
    host is compared as `redirect_host` gives it: the name the browser resolves."""
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    if _SPACE_OR_CONTROL.search(url):
        return _NO_SPACES
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:  # also a host that NFKC maps onto "/", "?", "#", "@" or ":" (U+FF0F)
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an absolute http:// or https:// URL"
    if "\\" in parts.netloc:
        return "must not have a backslash in its host (browsers read it as /)"
    if "@" in parts.netloc:
        return "must not carry credentials (user@host)"
    if redirect_host(url) is None:
        return "needs a host name such as shop.example.com"
    return None


def redirect_host(url: str) -> str | None:
    """The host a browser resolves for `url` (normalised as `normalize_domain` does, or an IP
    address), None when it has none we would send a visitor to. Use it on URLs that passed
    `redirect_problem`: it does not look at the rest of the URL."""
    try:
        host = urlsplit(url).hostname
        if not host:
            return None
        if ":" in host:  # an IPv6 literal (urlsplit checked it)
            return str(ipaddress.ip_address(host))
        return normalize_domain(host)
    except ValueError:
        return None


def url_problems(url: str, where: str = "destination_url") -> list[Problem]:
    if len(url) > MAX_URL:
        return [Problem(where, f"must be at most {MAX_URL} characters")]
    if _SPACE_OR_CONTROL.search(url):
        return [Problem(where, _NO_SPACES)]
    unknown = sorted({m for m in _MACRO.findall(url) if m not in KNOWN_MACROS})
    if unknown:
        known = ", ".join(f"{{{m}}}" for m in sorted(KNOWN_MACROS))
        return [Problem(where, f"unknown macro {{{unknown[0]}}}; known macros: {known}")]
    raw = urlsplit(url)
    if raw.scheme.lower() not in ("http", "https"):
        return [Problem(where, "must be an absolute http:// or https:// URL")]
    if "{" in raw.netloc:
        return [Problem(where, "macros belong in the path or query, not the host")]
    if "@" in raw.netloc:
        return [Problem(where, "must not carry credentials (user@host)")]
    try:
        raw.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return [Problem(where, "has an invalid port")]
    if _ip_literal((raw.hostname or "").rstrip(".")):
        return [Problem(where, "needs a public host name such as shop.example.com, not an IP address")]
    host = host_of(url)
    if host is None or "." not in host:
        return [Problem(where, "needs a public host name such as shop.example.com")]
    if _numeric_tld(host):  # what browsers read as IPv4 (127.1, 0x7f.1), also after IDNA
        return [Problem(where, "needs a public host name such as shop.example.com, not an IP address")]
    private = next((s for s in domain_suffixes(host) if s in NON_PUBLIC_SUFFIXES), None)
    if private is not None:
        return [Problem(where, f"needs a public host name; .{private} names are not on the internet")]
    return []


# Names that are never on the public internet (RFC 6761, 6762, 7686, 8375, 9476; ICANN's
# .internal; the private-network names ICANN will not delegate): a landing page there reaches
# nobody, or only the network Auctera runs in. (`.example`, documentation's own, is left alone.)
NON_PUBLIC_SUFFIXES = frozenset(
    {"localhost", "localdomain", "local", "internal", "intranet", "lan", "home", "corp"}
    | {"arpa", "test", "invalid", "onion", "alt"}
)


def _ip_literal(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _numeric_tld(host: str) -> bool:
    """The WHATWG URL standard parses a host whose last label is a number as an IPv4 address."""
    last = host.rsplit(".", 1)[-1]
    return last.isdigit() or (last.startswith("0x") and all(ch in "0123456789abcdef" for ch in last[2:]))


# --- checks --------------------------------------------------------------------------------


def check_name(c: Campaign, ctx: CheckContext) -> list[Problem]:
    return name_problems(c.name)


def check_budget(c: Campaign, ctx: CheckContext) -> list[Problem]:
    found = budget_problems(c.budget)
    if c.budget.currency != ctx.currency:
        found.append(Problem("budget.currency", f"must be the account currency, {ctx.currency}"))
    return found


def check_geo(c: Campaign, ctx: CheckContext) -> list[Problem]:
    return targeting_problems(c.targeting, ctx.countries)


def check_bidding(c: Campaign, ctx: CheckContext) -> list[Problem]:
    return bidding_problems(c.bidding)


def check_multipliers(c: Campaign, ctx: CheckContext) -> list[Problem]:
    return multiplier_problems(c.device_multipliers)


def check_affiliate_terms(c: Campaign, ctx: CheckContext) -> list[Problem]:
    return affiliate_problems(c)


def check_destination_url(c: Campaign, ctx: CheckContext) -> list[Problem]:
    return [] if c.destination_url is None else url_problems(c.destination_url)


def check_flight(c: Campaign, ctx: CheckContext) -> list[Problem]:
    return flight_problems(c.start_date, c.end_date)


BLOCKLIST_REASON = "is on the network's blocklist"  # unblocking finds the campaigns it rejected by it


def check_not_blocked(c: Campaign, ctx: CheckContext) -> list[Problem]:
    host = host_of(c.destination_url) if c.destination_url else None
    if host is None:
        return []
    hits = [d for d in domain_suffixes(host) if d in ctx.blocked_domains]
    if not hits:
        return []
    via = "" if hits[0] == host else f" (via {hits[0]})"
    return [Problem("destination_url", f"{host} {BLOCKLIST_REASON}{via}")]


def check_creatives(c: Campaign, ctx: CheckContext) -> list[Problem]:
    problem = creative_problem(c, ctx.creatives)
    return [] if problem is None else [Problem("creatives", problem)]


def resume_problems(c: Campaign, ctx: CheckContext) -> list[Problem]:
    """What keeps a paused campaign from serving again, beyond the review. Deleting a creative
    detaches it, so a DSP campaign paused because its last approved one went has no creative
    attached and would pass the review, then serve empty slots: it needs an approved one again.
    One paused because an audience it targeted was deleted needs its targeting saved again."""
    found = []
    lost = any(r.startswith(CREATIVE_PAUSE) for r in c.review.reasons)
    if lost and c.type in DSP_TYPES and (ctx.creatives is None or not ctx.creatives.approved):
        found.append(
            Problem(
                "creatives",
                "no approved creative since the last one was deleted; upload one with this campaign_id",
            )
        )
    # Its targeting lost that audience with the deletion: resumed as is, it would reach people it
    # never chose (all of them, for a lost include).
    if any(r.startswith(AUDIENCE_PAUSE) for r in c.review.reasons):
        found.append(
            Problem(
                "audiences", "an audience it targeted was deleted; save its audiences again (PUT …/audiences)"
            )
        )
    return found


INPUT_CHECKS: tuple[Check, ...] = (
    check_name,
    check_budget,
    check_geo,
    check_bidding,
    check_multipliers,
    check_affiliate_terms,
    check_destination_url,
    check_flight,
)
REVIEW_CHECKS: tuple[Check, ...] = (
    check_destination_url,
    check_not_blocked,
    check_geo,
    check_budget,
    check_bidding,
    check_affiliate_terms,
    check_creatives,
)


# A rejection replaces the status, and approving a rejected campaign makes it active: one its
# advertiser had paused would start serving again on its own. So a paused campaign's rejection
# carries its pause among the reasons (this one, and any automatic pause's own reason), and the
# approval that lifts the rejection restores the pause.
PAUSED_BEFORE = f"{PAUSE_REASON}before this rejection; it stays paused when approved again"


def review_outcome(
    c: Campaign, reasons: tuple[str, ...], now: datetime, reviewer_id: int | None = None
) -> Campaign:
    """`record_review` that keeps a pause through a rejection: a paused campaign that fails is
    rejected with `PAUSED_BEFORE` (and its pause reasons) added to the reasons; a rejected or
    resubmitted one carrying it that passes goes back to paused, not active."""
    carried: tuple[str, ...] = ()
    if c.status is CampaignStatus.PAUSED:
        carried = (*(r for r in c.review.reasons if r.startswith(PAUSE_REASON)), PAUSED_BEFORE)
    elif c.status in (CampaignStatus.REJECTED, CampaignStatus.PENDING_REVIEW):
        carried = tuple(r for r in c.review.reasons if r.startswith(PAUSE_REASON))
    if reasons:
        return record_review(c, tuple(dict.fromkeys((*reasons, *carried))), now, reviewer_id)
    approved = record_review(c, (), now, reviewer_id)
    if c.status is CampaignStatus.PAUSED or PAUSED_BEFORE not in carried:
        return approved
    kept = tuple(r for r in carried if r != PAUSED_BEFORE)  # an automatic pause's reason still holds
    return replace(approved, status=CampaignStatus.PAUSED, review=replace(approved.review, reasons=kept))


def policy_reasons(c: Campaign) -> tuple[str, ...]:
    """Why it was rejected, without the pause it carries."""
    return tuple(r for r in c.review.reasons if not r.startswith(PAUSE_REASON))


def validate(c: Campaign, ctx: CheckContext, checks: tuple[Check, ...] = INPUT_CHECKS) -> None:
    """Raise ValidationFailed naming the field of the first problem."""
    for check in checks:
        problems = check(c, ctx)
        if problems:
            raise ValidationFailed(str(problems[0]), field=problems[0].field)


def review(c: Campaign, ctx: CheckContext, checks: tuple[Check, ...] = REVIEW_CHECKS) -> tuple[str, ...]:
    """Every reason the campaign fails; empty when it passes."""
    return tuple(dict.fromkeys(str(p) for check in checks for p in check(c, ctx)))
