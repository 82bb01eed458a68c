"""The signed token a sponsored click or impression URL carries (`/sp/click?t=…`).

It holds what the auction decided (winner, product, publisher, price), so the click path needs no
lookup of the auction and nobody can change the price or the winner: the bytes are signed with a
server secret (HMAC-SHA256, truncated to 128 bits) and checked in constant time.

Layout (big-endian), then URL-safe base64 without padding (94 characters):

    version u8 | placement u8 | auction u64 | line item u64 (0: none) | campaign u64 | product u64
    | publisher u64 | price micros u64 | issued at u32 (unix seconds) | MAC 16 bytes
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

VERSION = 1
MAC_BYTES = 16  # 128 bits of HMAC-SHA256: forging one is 2^128 guesses
# A page cached this long may still be clicked; a click on an older token is logged, not charged.
MAX_AGE = timedelta(days=7)
_BODY = struct.Struct(">BBQQQQQQI")
_TEXT_LENGTH = len(base64.urlsafe_b64encode(bytes(_BODY.size + MAC_BYTES)).rstrip(b"="))
_DOMAIN = b"auctera/click-token/"  # keeps these MACs apart from any other use of the secret
_U64 = 2**64


class Placement(StrEnum):
    RETAIL = "retail"  # a sponsored product on a retailer's page (a line item won)
    SMARTLINK = "smartlink"  # a SmartLink rewritten to a merchant's product page (a CPC campaign won)


_PLACEMENT_CODE = {Placement.RETAIL: 1, Placement.SMARTLINK: 2}
_PLACEMENT_OF = {code: placement for placement, code in _PLACEMENT_CODE.items()}


@dataclass(frozen=True, slots=True)
class ClickToken:
    auction_id: int
    line_item_id: int | None  # None: a SmartLink CPC campaign, which has no line items
    campaign_id: int
    product_id: int
    publisher_id: int  # the account showing the placement: the retailer or the SmartLink's publisher
    price_micros: int  # what the click costs the winner, set by the auction
    placement: Placement
    issued_at: datetime  # whole seconds, UTC

    def __post_init__(self) -> None:
        ids = (self.auction_id, self.campaign_id, self.product_id, self.publisher_id)
        if any(not 0 < i < _U64 for i in ids) or not 0 < (self.line_item_id or 1) < _U64:
            raise ValueError("ids must be positive 64-bit integers")
        if not 0 <= self.price_micros < _U64:
            raise ValueError("price must be a non-negative 64-bit integer of micros")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")
        # The token keeps whole seconds: normalised here so a decoded token equals the one encoded.
        object.__setattr__(self, "issued_at", self.issued_at.astimezone(UTC).replace(microsecond=0))


class ClickTokenError(ValueError):
    """A token we will not act on. `reason`: malformed, forged or expired."""

    reason = "malformed"


class MalformedToken(ClickTokenError):
    reason = "malformed"


class ForgedToken(ClickTokenError):
    """Well-formed, but not signed with our secret (altered, or made up)."""

    reason = "forged"


class ExpiredToken(ClickTokenError):
    """Authentic but older than `MAX_AGE`: the click is logged, not charged."""

    reason = "expired"

    def __init__(self, message: str, token: ClickToken) -> None:
        super().__init__(message)
        self.token = token


def encode(token: ClickToken, secret: bytes) -> str:
    body = _BODY.pack(
        VERSION,
        _PLACEMENT_CODE[token.placement],
        token.auction_id,
        token.line_item_id or 0,
        token.campaign_id,
        token.product_id,
        token.publisher_id,
        token.price_micros,
        int(token.issued_at.timestamp()),
    )
    return base64.urlsafe_b64encode(body + _mac(body, secret)).rstrip(b"=").decode("ascii")


def decode(text: str, secret: bytes, now: datetime, max_age: timedelta = MAX_AGE) -> ClickToken:
    """The token `text` carries; raises MalformedToken, ForgedToken or ExpiredToken (with the token)."""
    if len(text) != _TEXT_LENGTH:
        raise MalformedToken(f"a click token has {_TEXT_LENGTH} characters, this one {len(text)}")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MalformedToken("a click token is URL-safe base64") from None
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    # The version says how the rest is laid out and signed, so it is read before the MAC: a token
    # of another version is malformed (400), not a forgery of this one (404).
    if body[0] != VERSION:
        raise MalformedToken(f"unknown click token version {body[0]}")
    if not hmac.compare_digest(mac, _mac(body, secret)):
        raise ForgedToken("this click token was not issued by this server")
    _, placement, auction, line_item, campaign, product, publisher, price, issued = _BODY.unpack(body)
    if placement not in _PLACEMENT_OF:  # signed by us, so only a newer server's placement
        raise MalformedToken(f"unknown click token placement {placement}")
    token = ClickToken(
        auction_id=auction,
        line_item_id=line_item or None,
        campaign_id=campaign,
        product_id=product,
        publisher_id=publisher,
        price_micros=price,
        placement=_PLACEMENT_OF[placement],
        issued_at=datetime.fromtimestamp(issued, UTC),
    )
    if now - token.issued_at > max_age:
        raise ExpiredToken(f"this click token is older than {max_age.days} days", token)
    return token


def _mac(body: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + body, hashlib.sha256).digest()[:MAC_BYTES]
