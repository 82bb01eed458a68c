"""Identifier normalisation and hashing: the hashes must equal the ones the platforms compute."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auctera.domain.identifiers import (
    EMPTY_SHA256,
    IdentifierType,
    InvalidIdentifier,
    Platform,
    hashed,
    is_sha256_hex,
    normalize_email,
    normalize_maid,
    normalize_phone,
    normalize_sha256,
    sha256_hex,
)
from auctera.errors import ValidationFailed

# Vectors published by the platforms themselves, so a mistake here cannot hide in both
# the code and the test: Meta's `em` and `ph` examples (Conversions API, customer
# information parameters) and Snap's `em` example (Conversions API parameters).
META_EMAIL = ("John_Smith@gmail.com", "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f")
META_PHONE = ("(650)555-1212", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176")
SNAP_EMAIL = ("Person@Example.com", "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345")


# --- sha256 ---------------------------------------------------------------------------------


def test_sha256_known_vectors() -> None:
    assert (
        sha256_hex("test@example.com") == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    )
    assert hashlib.sha256(b"test@example.com").hexdigest() == sha256_hex("test@example.com")
    assert sha256_hex("+16505551212") == "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"
    assert (
        sha256_hex("") == EMPTY_SHA256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_sha256_hashes_utf8() -> None:
    assert sha256_hex("zoë@example.com") == hashlib.sha256("zoë@example.com".encode()).hexdigest()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a" * 64, True),
        ("A" * 64, True),
        ("0123456789abcdefABCDEF" + "0" * 42, True),
        ("a" * 63, False),
        ("a" * 65, False),
        ("g" * 64, False),
        ("a" * 64 + "\n", False),
        ("", False),
        ("\u0660" * 64, False),  # Arabic-Indic zeros are digits to str.isdigit, not hex to us
    ],
)
def test_is_sha256_hex(value: str, ok: bool) -> None:
    assert is_sha256_hex(value) is ok


# --- email ----------------------------------------------------------------------------------


def test_published_email_vectors() -> None:
    raw, expected = META_EMAIL
    assert hashed(IdentifierType.EMAIL, raw, platform=Platform.META) == (
        IdentifierType.EMAIL_SHA256,
        expected,
    )
    assert hashed(IdentifierType.EMAIL, raw) == (IdentifierType.EMAIL_SHA256, expected)  # no dot, no +tag
    raw, expected = SNAP_EMAIL
    assert hashed("email", raw) == (IdentifierType.EMAIL_SHA256, expected)


@pytest.mark.parametrize(
    "raw", ["test@example.com", "  Test@Example.COM ", "\tTEST@EXAMPLE.COM\n", "\u00a0test@example.com\u2003"]
)
def test_email_whitespace_and_case(raw: str) -> None:
    assert normalize_email(raw) == "test@example.com"
    assert hashed("email", raw)[1] == "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"


@pytest.mark.parametrize(
    "raw",
    ["jane.doe@gmail.com", "Jane.Doe@Gmail.com", "j.a.n.e.d.o.e@gmail.com", "jane.doe+newsletter@gmail.com"],
)
def test_gmail_dots_and_tags_are_dropped_for_google(raw: str) -> None:
    assert normalize_email(raw) == "janedoe@gmail.com"
    assert normalize_email(raw, Platform.GOOGLE) == "janedoe@gmail.com"
    assert hashed("email", raw)[1] == "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"


def test_googlemail_gets_the_same_rule_but_keeps_its_domain() -> None:
    assert normalize_email("Jane.Doe+x@GoogleMail.com") == "janedoe@googlemail.com"


@pytest.mark.parametrize("raw", ["jane.doe@example.com", "jane.doe+news@example.com", "jane.doe@gmail.co.uk"])
def test_other_domains_keep_dots_and_tags(raw: str) -> None:
    """On other domains a dot or + may separate two people's mailboxes."""
    assert normalize_email(raw) == raw


def test_meta_only_trims_and_lowercases() -> None:
    assert normalize_email(" Jane.Doe+news@Gmail.com ", Platform.META) == "jane.doe+news@gmail.com"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("jane.example.com", "exactly one @"),
        ("jane@@example.com", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("@example.com", "before @"),
        ("jane@", "after @"),
        ("jane@localhost", "after @"),
        ("jane@example..com", "after @"),
        ("jane@example.com.", "after @"),
        ("jane doe@example.com", "spaces"),
        ("x" * 65 + "@example.com", "too long"),
        ("+news@gmail.com", "nothing is left"),
        ("...@gmail.com", "nothing is left"),
        ("a" * 64, "send it as email_sha256"),
    ],
)
def test_invalid_emails(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        hashed("email", raw, field="customer.email")
    assert reason in caught.value.reason
    assert caught.value.field == "customer.email"
    assert caught.value.status_code == 422
    assert isinstance(caught.value, ValidationFailed)


def test_errors_never_repeat_the_raw_value() -> None:
    for kind, raw in [
        ("email", "secret.person@@example.com"),
        ("phone", "+1 555 0100"),
        ("maid", "secret-xyz"),
    ]:
        with pytest.raises(InvalidIdentifier) as caught:
            hashed(kind, raw)
        shown = f"{caught.value} {caught.value.message} {caught.value.reason} {caught.value.args!r}"
        assert "secret" not in shown and "555" not in shown
        # No chained exception carries the input into a traceback either.
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None or caught.value.__suppress_context__


# --- phone ----------------------------------------------------------------------------------


def test_published_phone_vector() -> None:
    """Meta hashes E.164 without its +; Google (canonical) with it."""
    raw, expected = META_PHONE
    assert hashed("phone", raw, default_region="US", platform=Platform.META) == (
        IdentifierType.PHONE_SHA256,
        expected,
    )
    assert hashed("phone", raw, default_region="US")[1] == sha256_hex("+16505551212")


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+1 (650) 253-0000", None, "+16502530000"),
        ("650-253-0000", "US", "+16502530000"),
        ("(650) 253 0000", "us", "+16502530000"),
        ("1 650 253 0000", "US", "+16502530000"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),  # international prefix from the UK
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("+49 30 901820", None, "+4930901820"),
        ("030 901820", "DE", "+4930901820"),
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+91 98765 43210", None, "+919876543210"),
        ("+81 3-1234-5678", None, "+81312345678"),
        ("+55 11 91234-5678", None, "+5511912345678"),
        ("+61 2 9374 4000", None, "+61293744000"),
        ("+44 20 7946 0958", "US", "+442079460958"),  # an explicit + wins over the region
        ("tel:+1-650-253-0000", None, "+16502530000"),
        ("+1 650 253 0000 ext. 12", None, "+16502530000"),  # extensions are not part of E.164
        ("+1 650 253 0000", "AQ", "+16502530000"),  # a region without a numbering plan is harmless
    ],
)
def test_phones_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalize_phone(raw, region) == e164
    assert hashed("phone", raw, default_region=region) == (IdentifierType.PHONE_SHA256, sha256_hex(e164))


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("6502530000", None, "no country code"),
        ("020 7946 0958", None, "no country code"),
        ("020 7946 0958", "AQ", "no phone numbering plan"),
        ("+999 1234567", None, "unknown country calling code"),
        ("", None, "not a phone number"),
        ("call me", None, "not a phone number"),
        ("+1 2", None, "not a phone number"),
        ("+1 650", None, "too short"),
        ("+1 650 253 0000 0000 0000", None, "too long"),
        ("+1 555 0100", None, "missing its area code"),
        ("+1 123 456 7890", None, "no such number range under +1"),
        ("+44 20 7946 095", None, "no such number range under +44"),
    ],
)
def test_invalid_phones(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_phone(raw, region)
    assert reason in caught.value.reason
    assert caught.value.field == "phone"


# --- hashes sent by the client --------------------------------------------------------------


@pytest.mark.parametrize("kind", [IdentifierType.EMAIL_SHA256, IdentifierType.PHONE_SHA256])
def test_hashed_inputs_are_validated_and_lowercased(kind: IdentifierType) -> None:
    digest = "973DFE463EC85785F5F95AF5BA3906EEDB2D931C24E69824A89EA65DBA4E813B"
    assert hashed(kind, digest) == (kind, digest.lower())
    assert hashed(kind.value, f" {digest.lower()}\n") == (kind, digest.lower())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("973dfe463ec85785", "64 hexadecimal"),
        ("test@example.com", "send it as email instead"),
        ("z" * 64, "64 hexadecimal"),
        ("", "64 hexadecimal"),
        (EMPTY_SHA256, "empty string"),
        (EMPTY_SHA256.upper(), "empty string"),
    ],
)
def test_bad_hashes(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        hashed("email_sha256", raw, field="hashed_email")
    assert reason in caught.value.reason
    assert caught.value.field == "hashed_email"


def test_normalize_sha256_names_its_field() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_sha256("nope", "hashed_phone")
    assert caught.value.field == "hashed_phone"


# --- mobile advertising ids -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "6D92078A-8246-4BA4-AE5B-76104861E7DC",  # IDFA as iOS prints it
        "6d92078a-8246-4ba4-ae5b-76104861e7dc",  # GAID as Android prints it
        " 6d92078a82464ba4ae5b76104861e7dc ",
    ],
)
def test_maid_normalised_not_hashed(raw: str) -> None:
    assert normalize_maid(raw) == "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    assert hashed("maid", raw) == (IdentifierType.MAID, "6d92078a-8246-4ba4-ae5b-76104861e7dc")


@pytest.mark.parametrize("raw", ["00000000-0000-0000-0000-000000000000", "0" * 32])
def test_zero_maid_rejected(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_maid(raw)
    assert "ad tracking is limited" in caught.value.reason


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not-a-uuid",
        "6d92078a-8246-4ba4-ae5b-76104861e7d",
        "{6d92078a-8246-4ba4-ae5b-76104861e7dc}",
        "a" * 64,
    ],
)
def test_bad_maid(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalize_maid(raw)


# --- dispatch -------------------------------------------------------------------------------


def test_unknown_type() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        hashed("idfa", "whatever")
    assert caught.value.field == "type"
    assert "email_sha256" in caught.value.reason


def test_identifier_type_values() -> None:
    assert [t.value for t in IdentifierType] == ["email_sha256", "phone_sha256", "maid", "email", "phone"]


# --- properties -----------------------------------------------------------------------------

local_parts = st.from_regex(r"[A-Za-z0-9._%+-]{1,30}", fullmatch=True)
domains = st.sampled_from(["example.com", "Example.ORG", "gmail.com", "GoogleMail.com", "mail.co.uk"])


@given(local=local_parts, domain=domains, pad=st.sampled_from(["", " ", "\t", "  \n"]))
def test_property_email_normalisation_is_idempotent_and_hash_matches(
    local: str, domain: str, pad: str
) -> None:
    raw = f"{pad}{local}@{domain}{pad}"
    try:
        normal = normalize_email(raw)
    except InvalidIdentifier:
        return  # e.g. "+x@gmail.com": nothing left of the Gmail local part
    assert normalize_email(normal) == normal
    assert normal == normal.strip().lower()
    assert hashed("email", raw) == (IdentifierType.EMAIL_SHA256, sha256_hex(normal))
    assert normalize_email(raw, Platform.META) == raw.strip().lower()


@given(digest=st.binary(min_size=32, max_size=32))
def test_property_any_digest_round_trips(digest: bytes) -> None:
    text = digest.hex()
    if text == EMPTY_SHA256:
        return
    assert hashed("email_sha256", text.upper()) == (IdentifierType.EMAIL_SHA256, text)
