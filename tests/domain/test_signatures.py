"""Postback signatures: what a sender must do to be accepted, and every way it is refused."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from auctera.domain.signatures import HEADER, TOLERANCE, SignatureError, sign, verify
from auctera.errors import Unauthorized

SECRET = "whsec_current_3f9a"
OLD_SECRET = "whsec_previous_77c1"
NOW = 1_763_900_000
BODY = b'{"click_id": "clk_9x2", "event_type": "purchase", "revenue": 149.99, "currency": "USD"}'

secrets_st = st.text(min_size=1, max_size=64)


def refused(header: str | None, body: bytes = BODY, secrets: list[str] | None = None, now: int = NOW) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(header, body, secrets or [SECRET], now)
    return caught.value.code


# --- the happy paths -----------------------------------------------------------------------


def test_round_trip() -> None:
    verify(sign(SECRET, BODY, NOW), BODY, [SECRET], NOW)


def test_header_is_the_documented_string() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_now_may_be_an_aware_datetime() -> None:
    verify(sign(SECRET, BODY, NOW), BODY, [SECRET], datetime.fromtimestamp(NOW, UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(sign(SECRET, BODY, NOW), BODY, [SECRET], datetime(2026, 11, 23, 12, 0))


def test_empty_body_is_signed_like_any_other() -> None:
    verify(sign(SECRET, b"", NOW), b"", [SECRET], NOW)


def test_whitespace_around_items_and_uppercase_hex_are_tolerated() -> None:
    t, v1 = sign(SECRET, BODY, NOW).split(",")
    verify(f" {t} , {v1.upper().replace('V1=', 'v1=')} ", BODY, [SECRET], NOW)


def test_errors_are_401s() -> None:
    with pytest.raises(Unauthorized) as caught:
        verify(None, BODY, [SECRET], NOW)
    assert caught.value.status_code == 401


# --- tampering and wrong keys --------------------------------------------------------------


@given(body=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_flipped_byte_is_rejected(body: bytes, data: st.DataObject) -> None:
    header = sign(SECRET, body, NOW)
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    bit = data.draw(st.integers(0, 7), label="bit")
    tampered = bytearray(body)
    tampered[index] ^= 1 << bit
    assert refused(header, bytes(tampered)) == "invalid_signature"


def test_a_trailing_newline_is_tampering() -> None:
    assert refused(sign(SECRET, BODY, NOW), BODY + b"\n") == "invalid_signature"


def test_wrong_secret() -> None:
    assert refused(sign("whsec_someone_else", BODY, NOW)) == "invalid_signature"


def test_timestamp_is_bound_into_the_mac() -> None:
    """Rewriting t (to dodge the window) breaks the signature."""
    _, v1 = sign(SECRET, BODY, NOW - 3600).split(",")
    assert refused(f"t={NOW},{v1}") == "invalid_signature"


def test_invalid_message_says_what_was_signed() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(sign("nope", BODY, NOW), BODY, [SECRET], NOW)
    assert f"'{NOW}.'" in caught.value.message
    assert "raw bytes" in caught.value.message


# --- the time window -----------------------------------------------------------------------


@pytest.mark.parametrize("offset", [0, 1, 299, 300, -300])
def test_within_the_window(offset: int) -> None:
    """A signature made `offset` s before now (negative: a fast client clock) passes."""
    verify(sign(SECRET, BODY, NOW - offset), BODY, [SECRET], NOW)


@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400])
def test_outside_the_window(offset: int) -> None:
    assert refused(sign(SECRET, BODY, NOW - offset)) == "stale_signature"


def test_stale_message_gives_server_time_and_direction() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(sign(SECRET, BODY, NOW - 301), BODY, [SECRET], NOW)
    assert f"now t={NOW}" in caught.value.message
    assert "301 s old" in caught.value.message
    with pytest.raises(SignatureError) as caught:
        verify(sign(SECRET, BODY, NOW + 301), BODY, [SECRET], NOW)
    assert "301 s in the future" in caught.value.message


def test_tolerance_is_configurable() -> None:
    assert timedelta(seconds=300) == TOLERANCE
    header = sign(SECRET, BODY, NOW - 60)
    verify(header, BODY, [SECRET], NOW, tolerance=60)
    with pytest.raises(SignatureError):
        verify(header, BODY, [SECRET], NOW, tolerance=timedelta(seconds=59))


def test_a_wrong_signature_is_reported_as_wrong_even_when_also_stale() -> None:
    """The stale answer is only given to a correct signature: it means "only your clock is off"."""
    assert refused(sign("nope", BODY, NOW - 3600)) == "invalid_signature"


# --- rotation and several signatures -------------------------------------------------------


def test_rotated_secret_still_accepts_the_old_one_during_rotation() -> None:
    header = sign(OLD_SECRET, BODY, NOW)
    verify(header, BODY, [SECRET, OLD_SECRET], NOW)
    assert refused(header, secrets=[SECRET]) == "invalid_signature"


def test_several_v1_values_any_may_match() -> None:
    """A sender mid-rotation signs with both secrets; either one on our side is enough."""
    old = sign(OLD_SECRET, BODY, NOW).split(",")[1]
    new = sign(SECRET, BODY, NOW).split(",")[1]
    header = f"t={NOW},{old},{new}"
    verify(header, BODY, [SECRET], NOW)
    verify(header, BODY, [OLD_SECRET], NOW)
    verify(f"t={NOW},{new},{old}", BODY, [SECRET], NOW)
    assert refused(header, secrets=["whsec_unrelated"]) == "invalid_signature"


def test_unknown_schemes_are_ignored() -> None:
    header = sign(SECRET, BODY, NOW)
    verify(f"{header},v0=deadbeef,v2=anything", BODY, [SECRET], NOW)
    verify(header.replace(",", ",v0=deadbeef,"), BODY, [SECRET], NOW)


# --- malformed and missing headers ---------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing(header: str | None) -> None:
    """An empty value is what `-H "X-Auctera-Signature: $SIG"` sends when $SIG is unset."""
    assert refused(header) == "missing_signature"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "sha256=abc",
        "t=1763900000",  # no v1
        f"t={NOW},v0=" + "a" * 64,  # only an unknown scheme
        "v1=" + "a" * 64,  # no t
        "t=,v1=" + "a" * 64,
        "t=soon,v1=" + "a" * 64,
        "t=-5,v1=" + "a" * 64,
        "t=1.5,v1=" + "a" * 64,
        "t=1e9,v1=" + "a" * 64,
        "t=" + "9" * 40 + ",v1=" + "a" * 64,
        f"t={NOW},t={NOW},v1=" + "a" * 64,
        f"t={NOW},v1=",
        f"t={NOW},v1=zz" + "a" * 62,
        f"t={NOW},v1=" + "a" * 63,
        f"t={NOW},v1=" + "é" * 64,  # non-ASCII never reaches compare_digest
        f"t={NOW},,v1=" + "a" * 64,
        f"t={NOW};v1=" + "a" * 64,
    ],
)
def test_malformed(header: str) -> None:
    assert refused(header) == "malformed_signature"


def test_malformed_message_shows_the_expected_format() -> None:
    with pytest.raises(SignatureError) as caught:
        verify("garbage", BODY, [SECRET], NOW)
    assert HEADER in caught.value.message
    assert "t=<unix seconds>,v1=" in caught.value.message


def test_malformed_message_does_not_echo_the_header() -> None:
    """A sender that pastes its secret into the header must not see it in logs or responses."""
    with pytest.raises(SignatureError) as caught:
        verify("auc_ss_leaked-secret", BODY, [SECRET], NOW)
    assert "leaked" not in caught.value.message


def test_missing_message_names_the_header() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(None, BODY, [SECRET], NOW)
    assert caught.value.message.startswith(f"Missing {HEADER} header")


# --- misuse by the caller ------------------------------------------------------------------


def test_a_single_str_is_not_taken_as_a_list_of_secrets() -> None:
    with pytest.raises(TypeError):
        verify(sign("w", BODY, NOW), BODY, "whsec", NOW)  # type-checks: a str is a Sequence[str]


def test_no_secrets_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        verify(sign(SECRET, BODY, NOW), BODY, [], NOW)


# --- properties ----------------------------------------------------------------------------


@given(
    body=st.binary(max_size=2048), secret=secrets_st, at=st.integers(0, 10**12), skew=st.integers(-300, 300)
)
def test_property_signed_bodies_verify(body: bytes, secret: str, at: int, skew: int) -> None:
    verify(sign(secret, body, at), body, [secret], at + skew)


@given(body=st.binary(max_size=2048), secret=secrets_st, other=secrets_st, at=st.integers(0, 10**12))
def test_property_other_secrets_never_verify(body: bytes, secret: str, other: str, at: int) -> None:
    # Distinct keys: HMAC zero-pads short keys, so "a" and "a\0" are the same key.
    assume(hmac.digest(secret.encode(), b"", "sha256") != hmac.digest(other.encode(), b"", "sha256"))
    with pytest.raises(SignatureError) as caught:
        verify(sign(secret, body, at), body, [other], at)
    assert caught.value.code == "invalid_signature"


@given(body=st.binary(max_size=512), other=st.binary(max_size=512), secret=secrets_st)
def test_property_a_signature_is_bound_to_its_body(body: bytes, other: bytes, secret: str) -> None:
    assume(body != other)
    with pytest.raises(SignatureError):
        verify(sign(secret, body, NOW), other, [secret], NOW)
