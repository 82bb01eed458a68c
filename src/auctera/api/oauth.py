"""`POST /oauth2/token`: the OAuth2 client-credentials grant used by the retail-media surface.

The client authenticates with HTTP Basic (RFC 6749 2.3.1, which servers must support) or with
`client_id`/`client_secret` in the form body (what the official SDKs send), never both at once.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import Depends, Form, Request

from auctera.api.deps import container_of
from auctera.api.errors import register_envelope
from auctera.api.responses import OrjsonResponse
from auctera.api.routing import IndexedRouter
from auctera.errors import Unauthorized

router = IndexedRouter(tags=["oauth2"])


def _oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> OrjsonResponse:
    # RFC 6749 section 5.2 error body.
    return OrjsonResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})},
    )


def _oauth_envelope(status: int, code: str, message: str, field: str | None) -> dict[str, str]:
    """What the app's own errors (HTTPS required, rate limits, a server fault) look like here: an
    OAuth2 client reads `error` and `error_description` whatever went wrong (RFC 6749 5.2 names no
    codes beyond its own; ours is kept in the description)."""
    error = "invalid_client" if status == 401 else "server_error" if status >= 500 else "invalid_request"
    if status == 503:
        error = "temporarily_unavailable"
    return {"error": error, "error_description": f"{code}: {message}"}


register_envelope("/oauth2/", _oauth_envelope)


class _BadBasic(ValueError):
    pass


def _basic(request: Request) -> tuple[str, str] | None:
    """The (client_id, client_secret) of an `Authorization: Basic` header, None without one.
    Each was form-urlencoded before being joined with ':' (RFC 6749 2.3.1), so a ':' in an id
    arrives as %3A."""
    scheme, _, encoded = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _BadBasic("the Basic credentials are not base64 of UTF-8 text") from None
    client_id, colon, client_secret = decoded.partition(":")
    if not colon:
        raise _BadBasic("the Basic credentials must be client_id:client_secret")
    return unquote_plus(client_id), unquote_plus(client_secret)


async def _repeated(request: Request) -> str | None:
    """The first form parameter the body gives more than once, None when each comes once.

    FastAPI's Form() keeps the last value, so `client_secret=WRONG&client_secret=<right>` would
    authenticate and `grant_type=client_credentials&grant_type=password` read as a password
    grant. RFC 6749 3.2: parameters "MUST NOT be included more than once", and 5.2 answers a
    repeat with invalid_request. Identical repeats too: no reading of them is more right than
    another, and a client that sends them is broken. (The form is FastAPI's, parsed once.)"""
    form = await request.form()
    seen: set[str] = set()
    for name, _ in form.multi_items():  # every occurrence, in order
        if name in seen:
            return name
        seen.add(name)
    return None


@router.post("/oauth2/token", summary="Exchange client credentials for a short-lived access token")
def token(
    request: Request,
    repeated: Annotated[str | None, Depends(_repeated)],
    grant_type: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
) -> OrjsonResponse:
    if repeated is not None:  # before anything is read from the form: any value could be meant
        return _oauth_error(400, "invalid_request", f"{repeated} is given more than once")
    if not grant_type:  # a missing parameter is a malformed request (RFC 6749 5.2)
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be 'client_credentials'")
    try:
        basic = _basic(request)
    except _BadBasic as exc:
        return _oauth_error(400, "invalid_request", str(exc))
    if basic is not None:
        # One authentication method per request (RFC 6749 2.3): a client_id repeated in the
        # body is harmless only when it is the same client.
        if client_secret is not None or client_id not in (None, basic[0]):
            return _oauth_error(
                400,
                "invalid_request",
                "send the client credentials in the Basic header or the body, not both",
            )
        client_id, client_secret = basic
    if not client_id or not client_secret:
        missing = "client_id" if not client_id else "client_secret"
        return _oauth_error(400, "invalid_request", f"{missing} is required")
    try:
        issued = container_of(request).auth.issue_token(client_id, client_secret)
    except Unauthorized:
        # A client that tried Basic is told the scheme to retry with (RFC 6749 5.2).
        challenge = {"WWW-Authenticate": 'Basic realm="auctera"'} if basic else None
        return _oauth_error(401, "invalid_client", "client authentication failed", challenge)
    return OrjsonResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": None,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
