"""Click tokens: what an auction signs into a sponsored URL comes back unchanged, and nothing else
passes: not a changed byte, not another server's secret, not a token older than a week."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auctera.domain.click_tokens import (
    MAX_AGE,
    ClickToken,
    ExpiredToken,
    ForgedToken,
    MalformedToken,
    Placement,
    decode,
    encode,
)

SECRET = b"s3cret-key-of-the-tracking-host"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN = ClickToken(
    auction_id=2**62 + 5,
    line_item_id=358669652976373760,
    campaign_id=405429491681951744,
    product_id=77,
    publisher_id=299,
    price_micros=1_230_000,
    placement=Placement.RETAIL,
    issued_at=NOW,
)


def test_round_trip_is_compact_and_url_safe() -> None:
    text = encode(TOKEN, SECRET)
    assert decode(text, SECRET, NOW + timedelta(hours=1)) == TOKEN
    assert len(text) == 94
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_smartlink_token_has_no_line_item() -> None:
    token = ClickToken(1, None, 2, 3, 4, 0, Placement.SMARTLINK, NOW)
    assert decode(encode(token, SECRET), SECRET, NOW) == token


def test_issued_at_keeps_whole_seconds() -> None:
    token = ClickToken(1, 2, 3, 4, 5, 6, Placement.RETAIL, NOW.replace(microsecond=999_999))
    assert token.issued_at == NOW
    assert decode(encode(token, SECRET), SECRET, NOW) == token


@pytest.mark.parametrize("position", range(1, 70))  # byte 0, the version: MalformedToken (400)
def test_any_changed_byte_is_refused(position: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(encode(TOKEN, SECRET) + "=="))
    raw[position] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(ForgedToken):
        decode(tampered, SECRET, NOW)


def test_a_higher_price_cannot_be_written_in() -> None:
    raw = bytearray(base64.urlsafe_b64decode(encode(TOKEN, SECRET) + "=="))
    raw[42:50] = (1).to_bytes(8, "big")  # the price field: one micro
    with pytest.raises(ForgedToken, match="not issued by this server"):
        decode(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(), SECRET, NOW)


def test_another_secret_is_refused() -> None:
    with pytest.raises(ForgedToken):
        decode(encode(TOKEN, SECRET), b"another-server-secret", NOW)


@pytest.mark.parametrize(
    "text", ["", "abc", "!" * 94, encode(TOKEN, SECRET)[:-1], encode(TOKEN, SECRET) + "A"]
)
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(MalformedToken):
        decode(text, SECRET, NOW)


def test_expired_token_is_refused_but_still_says_what_it_was() -> None:
    text = encode(TOKEN, SECRET)
    assert decode(text, SECRET, NOW + MAX_AGE) == TOKEN  # a week old to the second: still good
    with pytest.raises(ExpiredToken) as caught:
        decode(text, SECRET, NOW + MAX_AGE + timedelta(seconds=1))
    assert caught.value.token == TOKEN  # logged, not charged
    assert caught.value.reason == "expired"


def test_values_outside_the_layout_are_refused() -> None:
    with pytest.raises(ValueError):
        ClickToken(0, None, 1, 1, 1, 1, Placement.RETAIL, NOW)
    with pytest.raises(ValueError):
        ClickToken(1, None, 1, 1, 1, -1, Placement.RETAIL, NOW)
    with pytest.raises(ValueError):
        ClickToken(1, None, 1, 1, 1, 1, Placement.RETAIL, NOW.replace(tzinfo=None))


ids = st.integers(min_value=1, max_value=2**64 - 1)


@given(
    auction=ids,
    line_item=st.none() | ids,
    campaign=ids,
    product=ids,
    publisher=ids,
    price=st.integers(min_value=0, max_value=2**64 - 1),
    placement=st.sampled_from(Placement),
    seconds=st.integers(min_value=0, max_value=2**32 - 1),
    secret=st.binary(min_size=16, max_size=64),
)
def test_any_token_round_trips(
    auction: int,
    line_item: int | None,
    campaign: int,
    product: int,
    publisher: int,
    price: int,
    placement: Placement,
    seconds: int,
    secret: bytes,
) -> None:
    issued = datetime.fromtimestamp(seconds, UTC)
    token = ClickToken(auction, line_item, campaign, product, publisher, price, placement, issued)
    text = encode(token, secret)
    assert len(text) == 94
    assert decode(text, secret, issued) == token
    with pytest.raises(ForgedToken):
        decode(text, secret + b"x", issued)
