"""Creatives: what an uploaded file is, the audit's rules and its verdict. Pure: the bytes come in,
facts and findings go out; decoding images, probing videos and scanning for malware are adapters'.

An asset is approved when no finding is an error. Warnings are shown but do not reject.
"""

from __future__ import annotations

import io
import lzma
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from html.parser import HTMLParser
from urllib.parse import urlsplit

from auctera.domain.campaigns import DSP_TYPES, PAUSE_REASON, Campaign, CampaignStatus, Review
from auctera.domain.dco import DCO_PREFIX

ASSET_PREFIX = "ast"


def creative_prefix(variant: str | None) -> str:
    """The prefix of the creative a link or event names (`cr=`, `creative_id`), as the API shows
    it: `dco_` for a DCO template, `ast_` for an uploaded asset. Both take their ids from one
    generator, so the number alone cannot tell them apart; a DCO serve's links always carry the
    variant it served (`cv=`), an asset's tag never does."""
    return ASSET_PREFIX if variant is None else DCO_PREFIX


class AssetKind(StrEnum):
    """What the upload's `type` field declares."""

    IMAGE = "image"
    VIDEO = "video"
    HTML5 = "html5"


class Format(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    MP4 = "mp4"
    ZIP = "zip"  # a zipped HTML5 bundle

    @property
    def kind(self) -> AssetKind:
        return _KIND[self]

    @property
    def extension(self) -> str:
        return "jpg" if self is Format.JPEG else self.value

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_KIND = {
    Format.JPEG: AssetKind.IMAGE,
    Format.PNG: AssetKind.IMAGE,
    Format.GIF: AssetKind.IMAGE,
    Format.MP4: AssetKind.VIDEO,
    Format.ZIP: AssetKind.HTML5,
}
_MEDIA_TYPES = {
    Format.JPEG: "image/jpeg",
    Format.PNG: "image/png",
    Format.GIF: "image/gif",
    Format.MP4: "video/mp4",
    Format.ZIP: "application/zip",
}
_EXTENSIONS = {"jpg": Format.JPEG, "jpeg": Format.JPEG, "jpe": Format.JPEG, "jfif": Format.JPEG}
_EXTENSIONS |= {"png": Format.PNG, "gif": Format.GIF}
_EXTENSIONS |= {"mp4": Format.MP4, "m4v": Format.MP4, "zip": Format.ZIP}

# Upload limits, bytes. Anything larger is refused (413) before it is looked at.
MAX_BYTES = {AssetKind.IMAGE: 5 * 2**20, AssetKind.VIDEO: 100 * 2**20, AssetKind.HTML5: 10 * 2**20}
MAX_UPLOAD = max(MAX_BYTES.values())
# Decompression-bomb guard: images declaring more pixels than this (all frames) are not decoded.
MAX_PIXELS = 4096 * 4096
# An animation's frames together: four full-size images (a 300x250 banner hits MAX_FRAMES first).
MAX_ANIMATION_PIXELS = 4 * MAX_PIXELS
MAX_FRAMES = 500
# Video: exchanges take MP4 with these codecs, up to this long.
VIDEO_CODECS = frozenset({"h264", "hevc", "av1", "vp9"})
AUDIO_CODECS = frozenset({"aac", "mp3", "opus"})
MAX_VIDEO_SECONDS = 60.0
# HTML5 (IAB HTML5 for Digital Advertising 2.0): 150 KB initial load, polite subload up to 1 MB.
HTML5_INITIAL_LOAD = 150 * 1024
HTML5_MAX_WEIGHT = 1024 * 1024
# Zip guards: what a bundle may unpack to, so a zip bomb is refused before it is read.
MAX_BUNDLE_FILES = 250
MAX_BUNDLE_UNPACKED = 20 * 2**20
# Script hosts an HTML5 bundle may load from unless the operator sets its own list.
DEFAULT_SCRIPT_HOSTS = (
    "s0.2mdn.net",
    "tpc.googlesyndication.com",
    "ajax.googleapis.com",
    "cdnjs.cloudflare.com",
    "code.createjs.com",
    "cdn.jsdelivr.net",
)

# IAB standard display sizes (IAB New Ad Portfolio and the classic units); 2x retina doubles pass.
IAB_SIZES = frozenset(
    {
        (300, 250), (728, 90), (160, 600), (300, 600), (320, 50), (300, 50), (320, 100),
        (970, 250), (970, 90), (468, 60), (234, 60), (120, 600), (250, 250), (200, 200),
        (336, 280), (300, 1050), (180, 150), (125, 125), (120, 60), (88, 31), (320, 480),
        (480, 320), (768, 1024), (1024, 768), (120, 240),
    }
)  # fmt: skip


# --- what the bytes are ----------------------------------------------------------------------


def sniff(head: bytes) -> Format | None:
    """The format from the content's magic bytes (never from the name)."""
    if head.startswith(b"\xff\xd8\xff"):
        return Format.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format.PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Format.GIF
    if head[4:8] == b"ftyp":
        return Format.MP4
    if head.startswith(b"PK\x03\x04"):
        return Format.ZIP
    return None


def format_of_name(filename: str) -> Format | None:
    ext = posixpath.splitext(filename.lower())[1].lstrip(".")
    return _EXTENSIONS.get(ext)


class MediaRefused(ValueError):
    """Content that cannot be decoded safely (a decompression bomb, a corrupt file): refused at upload."""


class BundleError(MediaRefused):
    """A zip that cannot be opened safely: refused at upload."""


@dataclass(frozen=True, slots=True)
class Bundle:
    members: Mapping[str, bytes]  # path inside the bundle -> content
    compressed_size: int


# What zipfile and its decompressors raise on a malformed archive: offsets off the data
# (ValueError "negative seek value"), a truncated stream (EOFError), a compression method zipfile
# does not offer or a password needed (RuntimeError and its subclasses), a corrupt deflate, bzip2 or
# lzma stream (zlib.error, OSError, LZMAError), a header field that does not unpack (struct.error),
# a name that is not the UTF-8 its flag says (UnicodeDecodeError, a ValueError).
_MALFORMED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    OSError,
    EOFError,
    RuntimeError,
    OverflowError,
    zlib.error,
    lzma.LZMAError,
    struct.error,
)


def read_bundle(data: bytes) -> Bundle:
    """The files of a zipped HTML5 bundle, with the zip-bomb and path guards applied first."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _MALFORMED:
        raise BundleError("the file is not a readable zip archive") from None
    with archive:
        # Not ZipInfo.is_dir(): it indexes the name, and a malformed entry may have none.
        infos = [i for i in archive.infolist() if not i.filename.endswith("/")]
        if len(infos) > MAX_BUNDLE_FILES:
            raise BundleError(f"the bundle holds {len(infos)} files; at most {MAX_BUNDLE_FILES}")
        if sum(i.file_size for i in infos) > MAX_BUNDLE_UNPACKED:
            raise BundleError(f"the bundle unpacks to more than {MAX_BUNDLE_UNPACKED // 2**20} MB")
        members: dict[str, bytes] = {}
        for info in infos:
            name = info.filename.replace("\\", "/")
            if not name or name.startswith("/") or ".." in name.split("/") or info.flag_bits & 0x1:
                raise BundleError(f"unsafe or encrypted entry in the bundle: {info.filename!r}")
            if name.startswith("__MACOSX/"):
                continue
            try:
                members[name] = archive.read(info)
            except _MALFORMED as exc:
                raise BundleError(
                    f"the file is not a readable zip archive: cannot read {info.filename!r} ({exc})"
                ) from None
    return Bundle(members, len(data))


# --- findings --------------------------------------------------------------------------------


class Severity(StrEnum):
    ERROR = "error"  # rejects the asset
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # malware, type, size, html5, video, category
    severity: Severity
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity.value, "message": self.message}


class AuditStatus(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class MalwareVerdict(StrEnum):
    CLEAN = "clean"
    INFECTED = "infected"
    ERROR = "error"  # a configured scanner could not answer: fail closed


@dataclass(frozen=True, slots=True)
class ScanResult:
    verdict: MalwareVerdict
    detail: tuple[str, ...] = ()  # signature names, or what failed

    def findings(self) -> list[Finding]:
        if self.verdict is MalwareVerdict.INFECTED:
            return [Finding("malware", Severity.ERROR, f"matched {name}") for name in self.detail]
        if self.verdict is MalwareVerdict.ERROR:
            return [Finding("malware", Severity.ERROR, f"scan failed: {d}") for d in self.detail]
        return []


def merge_scans(results: Iterable[ScanResult]) -> ScanResult:
    found = list(results)
    for verdict in (MalwareVerdict.INFECTED, MalwareVerdict.ERROR):
        hits = [d for r in found if r.verdict is verdict for d in r.detail]
        if hits:
            return ScanResult(verdict, tuple(dict.fromkeys(hits)))
    return ScanResult(MalwareVerdict.CLEAN)


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What inspecting the content found (adapters fill what applies)."""

    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None


def is_standard_size(width: int, height: int) -> bool:
    if (width, height) in IAB_SIZES:
        return True
    return width % 2 == 0 and height % 2 == 0 and (width // 2, height // 2) in IAB_SIZES


def type_findings(filename: str, found: Format) -> list[Finding]:
    """The name's extension, when it has one, must agree with the content. The format comes from
    the magic bytes, so a name without an extension (or no name: some clients send none) is fine."""
    ext = posixpath.splitext(filename)[1]
    if ext in ("", ".") or format_of_name(filename) is found:
        return []
    return [Finding("type", Severity.ERROR, f"extension {ext} does not match the content ({found.value})")]


def size_findings(facts: MediaFacts) -> list[Finding]:
    if facts.width is None or facts.height is None:
        return []
    if is_standard_size(facts.width, facts.height):
        return []
    size = f"{facts.width}x{facts.height}"
    return [Finding("size", Severity.ERROR, f"{size} is not an IAB standard ad size")]


def video_findings(facts: MediaFacts) -> list[Finding]:
    found: list[Finding] = []
    if facts.video_codec is None:
        found.append(Finding("video", Severity.ERROR, "no video stream found"))
    elif facts.video_codec not in VIDEO_CODECS:
        allowed = ", ".join(sorted(VIDEO_CODECS))
        found.append(Finding("video", Severity.ERROR, f"codec {facts.video_codec} is not one of {allowed}"))
    if facts.audio_codec is not None and facts.audio_codec not in AUDIO_CODECS:
        found.append(Finding("video", Severity.ERROR, f"audio codec {facts.audio_codec} is not supported"))
    if facts.duration_seconds is None:
        found.append(Finding("video", Severity.ERROR, "the duration could not be read"))
    elif facts.duration_seconds > MAX_VIDEO_SECONDS:
        found.append(
            Finding(
                "video",
                Severity.ERROR,
                f"{facts.duration_seconds:.1f} s is longer than the {MAX_VIDEO_SECONDS:.0f} s limit",
            )
        )
    return found


# --- HTML5 bundles ---------------------------------------------------------------------------

_CLICK_TAG = re.compile(r"\bclick_?tag\b", re.IGNORECASE)
_AD_SIZE = re.compile(r"width\s*=\s*(\d+)\s*,\s*height\s*=\s*(\d+)", re.IGNORECASE)
# The largest ad.size side taken: far beyond any ad, and well within a 32-bit column.
MAX_AD_SIDE = 10_000


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.ad_size: tuple[int, int] | None = None
        self.ad_size_text: str | None = None  # an ad.size whose sides are out of range
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "script" and values.get("src"):
            self.scripts.append(values["src"])
        if tag == "meta" and values.get("name", "").lower() == "ad.size":
            match = _AD_SIZE.search(values.get("content", ""))
            if match:
                # Compared as text first: int() of thousands of digits is refused (and slow).
                sides = match.group(1).lstrip("0"), match.group(2).lstrip("0")
                if all(len(d) <= len(str(MAX_AD_SIDE)) and int(d or "0") <= MAX_AD_SIDE for d in sides):
                    self.ad_size = (int(sides[0] or "0"), int(sides[1] or "0"))
                else:
                    self.ad_size_text = match.group(0)[:80]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@dataclass(frozen=True, slots=True)
class BundleReport:
    findings: list[Finding]
    facts: MediaFacts
    text: str  # the bundle's visible text, for the content category


def html5_findings(bundle: Bundle, script_hosts: Iterable[str]) -> BundleReport:
    """IAB HTML5 rules: index.html at the root, a clickTag, scripts only from allowed hosts, weight."""
    allowed = {h.lower() for h in script_hosts}
    found: list[Finding] = []
    if "index.html" not in bundle.members:
        found.append(Finding("html5", Severity.ERROR, "the bundle has no index.html at its root"))
    sources = {n: c.decode("utf-8", "replace") for n, c in bundle.members.items() if _is_code(n)}
    if not any(_CLICK_TAG.search(text) for text in sources.values()):
        found.append(Finding("html5", Severity.ERROR, "no clickTag variable: clicks could not be tracked"))
    ad_size: tuple[int, int] | None = None
    oversized: str | None = None
    text: list[str] = []
    for name, source in sources.items():
        if not name.endswith((".html", ".htm")):
            continue
        parser = _Markup()
        parser.feed(source)
        text += parser.text
        if name == "index.html":
            ad_size, oversized = parser.ad_size, parser.ad_size_text
        for src in parser.scripts:
            host = _foreign_host(src)
            if host is not None and host not in allowed:
                found.append(
                    Finding(
                        "html5", Severity.ERROR, f"{name} loads a script from {host}, not on the allowlist"
                    )
                )
    if bundle.compressed_size > HTML5_MAX_WEIGHT:
        found.append(
            Finding("html5", Severity.ERROR, f"{_kb(bundle.compressed_size)} exceeds the 1024 KB IAB subload")
        )
    elif bundle.compressed_size > HTML5_INITIAL_LOAD:
        found.append(
            Finding(
                "html5",
                Severity.WARNING,
                f"{_kb(bundle.compressed_size)} exceeds the 150 KB IAB initial load: load the rest politely",
            )
        )
    if oversized is not None:
        found.append(
            Finding(
                "html5",
                Severity.ERROR,
                f'<meta name="ad.size"> says {oversized}: width and height are at most {MAX_AD_SIDE} px',
            )
        )
    elif ad_size is None:
        found.append(Finding("html5", Severity.WARNING, 'no <meta name="ad.size"> in index.html'))
    facts = MediaFacts(width=ad_size[0], height=ad_size[1]) if ad_size else MediaFacts()
    return BundleReport(found, facts, " ".join(text))


def _is_code(name: str) -> bool:
    return name.lower().endswith((".html", ".htm", ".js"))


def _foreign_host(src: str) -> str | None:
    """The host a script source loads from; None for a file of the bundle."""
    try:
        split = urlsplit(src.strip())
    except ValueError:  # "https://[::1/x.js": not a URL a browser would fetch from the bundle
        return src.strip()[:80]
    if split.scheme in ("http", "https", "") and split.netloc:
        return (split.hostname or "").lower()
    if split.scheme in ("data", "javascript", "blob"):
        return f"{split.scheme}:"
    return None


def _kb(size: int) -> str:
    return f"{size / 1024:.0f} KB"


# --- the content category --------------------------------------------------------------------

# IAB Content Taxonomy 1.0, tier 1. A code is IABn or IABn-m; IAB25/26 are never served.
IAB_TIER1 = {
    1: "Arts & Entertainment", 2: "Automotive", 3: "Business", 4: "Careers", 5: "Education",
    6: "Family & Parenting", 7: "Health & Fitness", 8: "Food & Drink", 9: "Hobbies & Interests",
    10: "Home & Garden", 11: "Law, Gov't & Politics", 12: "News", 13: "Personal Finance",
    14: "Society", 15: "Science", 16: "Pets", 17: "Sports", 18: "Style & Fashion",
    19: "Technology & Computing", 20: "Travel", 21: "Real Estate", 22: "Shopping",
    23: "Religion & Spirituality", 24: "Uncategorized", 25: "Non-Standard Content", 26: "Illegal Content",
}  # fmt: skip
BLOCKED_CATEGORIES = frozenset({25, 26})
_CATEGORY = re.compile(r"IAB(\d{1,2})(?:-(\d{1,2}))?")
# Words that place a creative in a category when the advertiser names none; first match wins.
_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("IAB26", ("counterfeit", "replica watches", "pirated")),
    ("IAB25-3", ("xxx", "porn", "adult only")),
    ("IAB13-7", ("loan", "credit card", "mortgage", "invest", "fintech")),
    ("IAB2", ("car", "auto", "vehicle", "suv")),
    ("IAB20", ("flight", "hotel", "travel", "vacation")),
    ("IAB8", ("pizza", "recipe", "restaurant", "coffee")),
    ("IAB18", ("fashion", "shoes", "dress", "apparel")),
    ("IAB19", ("laptop", "software", "cloud", "smartphone")),
    ("IAB22", ("sale", "discount", "shop now", "deal", "holiday", "promo")),
    ("IAB3-1", ("banner", "advert", "marketing", "campaign")),
)


def valid_category(code: str) -> bool:
    match = _CATEGORY.fullmatch(code)
    return match is not None and int(match.group(1)) in IAB_TIER1


def category_of(declared: str | None, words: str) -> str:
    """The advertiser's category when given, else the first keyword group the text mentions."""
    if declared:
        return declared
    lowered = " ".join(re.findall(r"[a-z0-9]+", words.lower()))  # "banner_300x250.jpg": banner 300x250 jpg
    for code, keywords in _KEYWORDS:
        if any(re.search(rf"\b{re.escape(k)}\b", lowered) for k in keywords):
            return code
    return "IAB24"


def category_findings(code: str) -> list[Finding]:
    match = _CATEGORY.fullmatch(code)
    if match and int(match.group(1)) in BLOCKED_CATEGORIES:
        tier = IAB_TIER1[int(match.group(1))]
        return [Finding("category", Severity.ERROR, f"{code} ({tier}) is not served on the exchanges")]
    return []


# --- the verdict -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audit:
    status: AuditStatus
    malware_scan: MalwareVerdict
    iab_category: str
    findings: tuple[Finding, ...]
    audited_at: datetime


def verdict(scan: ScanResult, findings: Iterable[Finding], category: str, now: datetime) -> Audit:
    every = tuple(scan.findings()) + tuple(findings) + tuple(category_findings(category))
    rejected = any(f.severity is Severity.ERROR for f in every)
    status = AuditStatus.REJECTED if rejected else AuditStatus.APPROVED
    return Audit(status, scan.verdict, category, every, now)


@dataclass(frozen=True, slots=True)
class Asset:
    id: int
    account_id: int
    kind: AssetKind
    format: Format | None  # None: the content was never identified (refused as malware first)
    filename: str
    size_bytes: int
    sha256: str  # of the stored (re-encoded) bytes: the ETag
    storage_key: str | None  # None: nothing stored (malware is never kept)
    facts: MediaFacts
    audit: Audit
    created_at: datetime
    campaign_ids: tuple[int, ...] = ()
    click_trackers: tuple[str, ...] = ()
    impression_trackers: tuple[str, ...] = ()

    @property
    def approved(self) -> bool:
        return self.audit.status is AuditStatus.APPROVED

    @property
    def servable(self) -> bool:
        return self.approved and self.storage_key is not None


# --- campaigns and their creatives -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreativeStanding:
    """A campaign's creatives as its review sees them."""

    approved: tuple[int, ...] = ()
    rejected: tuple[int, ...] = ()


def creative_problem(campaign: Campaign, standing: CreativeStanding | None) -> str | None:
    """Why a DSP campaign cannot serve: creatives attached and none of them approved."""
    if standing is None or campaign.type not in DSP_TYPES or standing.approved or not standing.rejected:
        return None
    return "no approved creative (every attached creative failed its audit)"


# How the reason of that pause starts: resuming the campaign looks for it (compliance).
CREATIVE_PAUSE = PAUSE_REASON + "creative "


def pause_without_creative(campaign: Campaign, asset_id: str, now: datetime) -> Campaign:
    """An active campaign whose last approved creative is deleted pauses, saying why, rather than
    serving an empty slot. The reason is shown with the campaign's review until it changes."""
    if campaign.status is not CampaignStatus.ACTIVE:
        return campaign
    reason = f"{CREATIVE_PAUSE}{asset_id} was deleted and no approved creative is left"
    return replace(
        campaign, status=CampaignStatus.PAUSED, review=Review((reason,), now, None), updated_at=now
    )


# --- third-party trackers --------------------------------------------------------------------

MAX_TRACKERS = 10
MAX_TRACKER_URL = 2048
# Vendors recognised by host; other https trackers are accepted as "other".
TRACKER_VENDORS = {
    "ad.doubleclick.net": "dcm",
    "ad-apac.doubleclick.net": "dcm",
    "ad-emea.doubleclick.net": "dcm",
    "pixel.adsafeprotected.com": "ias",
    "fw.adsafeprotected.com": "ias",
    "bs.serving-sys.com": "sizmek",
    "secure-ds.serving-sys.com": "sizmek",
}
# Cache-busting macros, as each vendor spells them, filled with a fresh random number per serve.
CACHE_BUSTERS = (
    "[timestamp]",
    "[TIMESTAMP]",
    "[CACHEBUSTER]",
    "[cachebuster]",
    "%%CACHEBUSTER%%",
    "${CACHEBUSTER}",
    "[RANDOM]",
    "%n",
    "[%tp_CacheBuster%]",
)
_BRACKET_MACRO = re.compile(r"\[[^\[\]/?=&]*\]|%%[A-Z_]+%%|\$\{[A-Z_]+\}")


def tracker_problem(url: str) -> str | None:
    """Why a third-party tracker URL cannot be used; None when it can."""
    if len(url) > MAX_TRACKER_URL:
        return f"must be at most {MAX_TRACKER_URL} characters"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return "must not contain spaces or control characters"
    try:
        split = urlsplit(url)
    except ValueError:  # "https://[::1/x": an unclosed IPv6 bracket
        split = None
    if split is None or split.scheme != "https" or not split.hostname or "." not in split.hostname:
        return "must be an absolute https:// URL (trackers fire from secure pages)"
    unknown = sorted(set(_BRACKET_MACRO.findall(url)) - set(CACHE_BUSTERS))
    if unknown:
        return f"unknown macro {unknown[0]}; cache-busting macros: {', '.join(CACHE_BUSTERS)}"
    return None


def tracker_vendor(url: str) -> str:
    return TRACKER_VENDORS.get((urlsplit(url).hostname or "").lower(), "other")


def expand_trackers(urls: Iterable[str], cache_buster: str) -> list[str]:
    """Trackers as served: every cache-busting macro replaced by this serve's number."""
    expanded = []
    for url in urls:
        for macro in CACHE_BUSTERS:
            url = url.replace(macro, cache_buster)
        expanded.append(url)
    return expanded


@dataclass(frozen=True, slots=True)
class Upload:
    """What the caller sent."""

    filename: str
    declared: AssetKind
    data: bytes = field(repr=False)
    campaign_id: int | None = None
    iab_category: str | None = None
