"""People identifiers for offline conversions and audiences: normalised, then hashed on arrival.

Ad platforms match people by the SHA-256 of a normalised email or phone, so two systems
only match when they normalise byte for byte alike. The rules below are the published ones
(sources and worked examples in docs/identifiers.md):

- email: trim surrounding whitespace, lower-case (Google Ads API "Normalize and hash
  user-provided data"; Meta Conversions API customer information parameter `em`). For
  `Platform.GOOGLE`, in `gmail.com` / `googlemail.com` addresses only, also drop the dots
  and any `+tag` in the local part (Google Ads API Customer Match guide, confirmed by the
  maintainers in googleads/google-ads-java#898; Campaign Manager 360 enhanced conversions).
  Gmail delivers `j.doe+x@gmail.com` to `jdoe@gmail.com`, so this merges one mailbox's
  spellings; other domains are left alone because there dots and `+` may name different
  people (Google Workspace domains keep dots significant).
- phone: E.164 (`+` country code, national number, nothing else) via libphonenumber, the
  form Google hashes. Meta hashes the same digits without the `+` (`Platform.META`).
- maid (IDFA / GAID): the lower-case hyphenated UUID, not hashed (platforms take it as is);
  the all-zero id is what a device reports when ad tracking is limited, so it is refused.

`Platform.GOOGLE` is the canonical profile: the `email_sha256` / `phone_sha256` Auctera
stores and tells clients to send. A hash cannot be re-normalised later, so the profile is
chosen once, here.

Raw values never leave this module: nothing is logged, and error messages describe the
problem without repeating the input.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from auctera.errors import ValidationFailed


class IdentifierType(StrEnum):
    EMAIL_SHA256 = "email_sha256"
    PHONE_SHA256 = "phone_sha256"
    MAID = "maid"
    EMAIL = "email"  # raw: normalised and hashed on arrival, never stored
    PHONE = "phone"  # raw: normalised and hashed on arrival, never stored


class Platform(StrEnum):
    """Whose published normalisation to follow; the two differ on Gmail addresses and the `+`."""

    GOOGLE = "google"
    META = "meta"


CANONICAL = Platform.GOOGLE
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()  # what a client sends when it hashed an empty field

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"
_SPACE = re.compile(r"\s")
_DOMAIN_LABEL = re.compile(r"[^\s.@]+")


class InvalidIdentifier(ValidationFailed):
    """An identifier that cannot be normalised; `reason` never repeats the raw value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


def sha256_hex(value: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 bytes: the form every platform asks for."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """64 hex digits, either case (callers lower-case it; see `normalize_sha256`)."""
    return _SHA256_HEX.fullmatch(value) is not None


def normalize_sha256(value: str, field: str = IdentifierType.EMAIL_SHA256.value) -> str:
    """A hash sent by the client, lower-cased; refuses anything else, and the hash of ""."""
    digest = value.strip().lower()
    if not is_sha256_hex(digest):
        reason = "must be 64 hexadecimal characters (the SHA-256 of the normalised value)"
        if "@" in value:
            reason += "; this looks like a raw email address: send it as email instead"
        raise InvalidIdentifier(field, reason)
    if digest == EMPTY_SHA256:
        raise InvalidIdentifier(
            field, "is the SHA-256 of an empty string: the value was blank before hashing"
        )
    return digest


def normalize_email(raw: str, platform: Platform = CANONICAL, field: str = "email") -> str:
    """Trim and lower-case; for Google also the Gmail rule (module docstring)."""
    email = raw.strip().lower()
    if not email:
        raise InvalidIdentifier(field, "is empty")
    if is_sha256_hex(email):
        raise InvalidIdentifier(field, "looks like a SHA-256 hash: send it as email_sha256 instead")
    if email.count("@") != 1:
        raise InvalidIdentifier(field, "is not an email address: it needs exactly one @")
    local, _, domain = email.partition("@")
    if not local or len(local) > 64:
        raise InvalidIdentifier(field, "is not an email address: the part before @ is empty or too long")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise InvalidIdentifier(field, "is not an email address: the part after @ is not a domain name")
    if _SPACE.search(email) or len(email) > 254:
        raise InvalidIdentifier(field, "is not an email address: it contains spaces or is too long")
    if platform is Platform.GOOGLE and domain in GMAIL_DOMAINS:
        local = local.partition("+")[0].replace(".", "")
        if not local:
            raise InvalidIdentifier(field, "is not a Gmail address: nothing is left before the + or dots")
    return f"{local}@{domain}"


def normalize_phone(raw: str, default_region: str | None = None, field: str = "phone") -> str:
    """E.164 (`+14155550100`); `default_region` (ISO 3166-1 alpha-2) reads national numbers.

    Without a region a number must be in international form (`+44 20 ...`): guessing the
    country of `020 7946 0958` would hash a different person's number.
    """
    region = default_region.upper() if default_region else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        region = None  # e.g. AQ: no numbering plan; international numbers still parse
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        reason = _parse_reason(exc, raw.strip().startswith("+"), default_region, region)
        raise InvalidIdentifier(field, reason) from None
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        raise InvalidIdentifier(field, _POSSIBLE_REASONS.get(possible, "is not a possible phone number"))
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(
            field, f"is not a valid phone number: no such number range under +{number.country_code}"
        )
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalize_maid(raw: str, field: str = "maid") -> str:
    """An IDFA or GAID as a lower-case hyphenated UUID; the all-zero (opted-out) id is refused."""
    value = raw.strip().lower()
    if not _UUID.fullmatch(value):
        raise InvalidIdentifier(field, "is not a mobile advertising id (IDFA/GAID): expected a UUID")
    hexdigits = value.replace("-", "")
    uuid = "-".join((hexdigits[:8], hexdigits[8:12], hexdigits[12:16], hexdigits[16:20], hexdigits[20:]))
    if uuid == _ZERO_UUID:
        raise InvalidIdentifier(
            field, "is the all-zero id a device reports when ad tracking is limited: it identifies nobody"
        )
    return uuid


def hashed(
    kind: IdentifierType | str,
    raw: str,
    *,
    default_region: str | None = None,
    platform: Platform = CANONICAL,
    field: str | None = None,
) -> tuple[IdentifierType, str]:
    """The stored form of one identifier: raw emails and phones become their SHA-256.

    email -> email_sha256, phone -> phone_sha256 (hashing E.164, or its digits for Meta),
    hashes are checked and lower-cased, a maid stays a normalised UUID. `field` names the
    request field in errors (defaults to the type).
    """
    try:
        kind = IdentifierType(kind)
    except ValueError:
        allowed = ", ".join(t.value for t in IdentifierType)
        raise InvalidIdentifier(field or "type", f"unknown identifier type; use one of {allowed}") from None
    name = field or kind.value
    match kind:
        case IdentifierType.EMAIL:
            return IdentifierType.EMAIL_SHA256, sha256_hex(normalize_email(raw, platform, name))
        case IdentifierType.PHONE:
            e164 = normalize_phone(raw, default_region, name)
            return IdentifierType.PHONE_SHA256, sha256_hex(e164 if platform is Platform.GOOGLE else e164[1:])
        case IdentifierType.EMAIL_SHA256 | IdentifierType.PHONE_SHA256:
            return kind, normalize_sha256(raw, name)
        case IdentifierType.MAID:
            return kind, normalize_maid(raw, name)


_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "has an unknown country calling code",
    ValidationResult.TOO_SHORT: "is too short to be a phone number",
    ValidationResult.TOO_LONG: "is too long to be a phone number",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits for its country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "looks like a local number missing its area code",
}


def _parse_reason(
    exc: NumberParseException, international: bool, default_region: str | None, region: str | None
) -> str:
    if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        if international:
            return "has an unknown country calling code"
        if default_region and region is None:
            return (
                f"has no country code, and the default region {default_region!r} has no phone numbering "
                "plan: write it in international form, e.g. +14155550100"
            )
        return (
            "has no country code: write it in international form (e.g. +14155550100) "
            "or give the default region it was collected in"
        )
    if exc.error_type in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return "is too short to be a phone number"
    if exc.error_type == NumberParseException.TOO_LONG:
        return "is too long to be a phone number"
    return "is not a phone number"
