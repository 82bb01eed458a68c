"""Postback signatures: `X-Auctera-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The signed string is `<t>.<raw body>` (the `t` text exactly as sent, a dot, then the body
bytes as received), keyed with the account's signing secret. Signing the raw bytes rather
than parsed JSON means client and server never have to agree on a serialisation; binding
`t` into the MAC and bounding it (`TOLERANCE`) stops a captured request from being replayed
later. Several `v1=` entries may be sent, and several secrets tried, so a secret can be
rotated without a window in which either side rejects the other. Unknown schemes
(`v0=`, a future `v2=`) are ignored, as Stripe does, so the scheme can evolve.

Pure: the caller passes `now`; nothing here reads a clock. Errors are 401s whose
message tells the developer what to fix (see docs/signing.md).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from auctera.errors import Unauthorized

HEADER = "X-Auctera-Signature"
SCHEME = "v1"
TOLERANCE = timedelta(seconds=300)

SignatureErrorCode = Literal[
    "missing_signature", "malformed_signature", "stale_signature", "invalid_signature"
]

_FORMAT = (
    f"{HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>' keyed with your signing secret>"
)
_TIMESTAMP = re.compile(r"[0-9]{1,15}")  # bounded so int() stays cheap on hostile input
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class SignatureError(Unauthorized):
    """A postback whose signature cannot be accepted; `code` says which way it failed."""

    def __init__(self, code: SignatureErrorCode, message: str) -> None:
        super().__init__(message, code=code)


def sign(secret: str, body: bytes, at: int) -> str:
    """The full header value for `body` sent at unix second `at` (clients, tests, docs)."""
    return f"t={at},{SCHEME}={_digest(secret.encode(), str(at), body)}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    now: int | datetime,
    tolerance: int | timedelta = TOLERANCE,
) -> None:
    """Accept the request or raise `SignatureError`.

    `secrets` are the account's current signing secret and, during a rotation, the previous
    one; a header matches when any `v1` value equals the MAC under any secret. The
    signature is checked before the clock, so a "stale" answer also tells the developer
    their signing code is right and only the timestamp is off.
    """
    if isinstance(secrets, str):  # a str is a Sequence[str]: its characters would be tried as secrets
        raise TypeError("secrets must be a sequence of secrets, not one str")
    if not secrets:
        raise ValueError("no signing secret to verify against")
    now_s = _unix_seconds(now)
    window = int(tolerance.total_seconds()) if isinstance(tolerance, timedelta) else tolerance

    t_text, candidates = _parse(header)
    # One MAC per secret, whatever the number of v1 values; compare_digest keeps each comparison
    # constant-time so the response time says nothing about how many hex digits were right.
    for secret in secrets:
        expected = _digest(secret.encode(), t_text, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            break
    else:
        raise SignatureError(
            "invalid_signature",
            f"{HEADER} does not match the request body. Compute HMAC-SHA256 over exactly "
            f"'{t_text}.' followed by the raw bytes you send (do not re-serialise the JSON or add a "
            "trailing newline), keyed with the account's current signing secret, hex-encoded.",
        )

    skew = now_s - int(t_text)
    if abs(skew) > window:
        direction = "old" if skew > 0 else "in the future"
        raise SignatureError(
            "stale_signature",
            f"{HEADER} timestamp t={t_text} is {abs(skew)} s {direction}; it must be within {window} s "
            f"of server time (now t={now_s}). Sign each request when you send it, with the current "
            "unix time in seconds, and check the sending machine's clock (NTP).",
        )


def _parse(header: str | None) -> tuple[str, list[str]]:
    """(`t` text, lower-cased `v1` values); unknown schemes are skipped."""
    if header is None or not header.strip():
        raise SignatureError("missing_signature", f"Missing {HEADER} header. Expected {_FORMAT}.")
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            # Not echoed: a confused sender may have put its secret or API key here.
            raise _malformed("items must be key=value pairs separated by commas")
        if key == "t":
            timestamps.append(value)
        elif key == SCHEME:
            if not _HEX_DIGEST.fullmatch(value):
                raise _malformed("each v1 value must be 64 hexadecimal characters (a hex HMAC-SHA256)")
            candidates.append(value.lower())
    if len(timestamps) != 1:
        raise _malformed("exactly one t=<unix seconds> is required" if timestamps else "t= is missing")
    if not _TIMESTAMP.fullmatch(timestamps[0]):
        raise _malformed("t must be the unix time in whole seconds, e.g. t=1763900000")
    if not candidates:
        raise _malformed("no v1= signature")
    return timestamps[0], candidates


def _malformed(problem: str) -> SignatureError:
    return SignatureError("malformed_signature", f"Malformed {HEADER} header: {problem}. Expected {_FORMAT}.")


def _digest(key: bytes, t_text: str, body: bytes) -> str:
    # One-shot: OpenSSL computes it in one call, without an HMAC object (postbacks are small).
    return hmac.digest(key, b"%s.%s" % (t_text.encode("ascii"), body), "sha256").hex()


def _unix_seconds(now: int | datetime) -> int:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return int(now.timestamp())
    return now
