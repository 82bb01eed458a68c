"""Auth dependencies, one per scheme the seeds use. All resolve to `AuthService` and count
the request against the credential's rate limit.

They are coroutines: a credential seen within `auth_cache_seconds` is answered from memory on
the event loop, and only a lookup goes to the threadpool. A sync dependency would cost every
request a thread hop (and, under load, a wait for the GIL in a thread) for a dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from auctera.api.deps import container_of
from auctera.domain.accounts import TOKEN_PREFIX, Principal
from auctera.errors import RateLimited, Unauthorized
from auctera.services.auth import MISSING


@dataclass(frozen=True, slots=True)
class Scheme:
    """How a surface takes its credential, said in each of its 401s: the `WWW-Authenticate`
    challenge, and what a request without one should have sent."""

    challenge: str
    credential: str  # what it takes, in words
    send: str  # "send <this>"
    tokens: bool  # whether OAuth2 access tokens are taken (else API keys only)
    keys: bool = True  # whether API keys are taken

    def refused(self, exc: Unauthorized) -> Unauthorized:
        missing = exc.message == MISSING
        message = f"missing {self.credential}: send {self.send}" if missing else exc.message
        refused = Unauthorized(message, field=exc.field, code=exc.code)
        refused.challenge = self.challenge
        return refused

    def check(self, credential: str | None) -> None:
        if credential is None:
            return
        if credential.startswith(TOKEN_PREFIX) and not self.tokens:
            raise self.refused(Unauthorized("an OAuth2 access token is not taken here: use an API key"))
        if not credential.startswith(TOKEN_PREFIX) and not self.keys:
            raise self.refused(Unauthorized("an OAuth2 access token from /oauth2/token is required"))


# /v2 takes both (docs/auth.md); the bid management and v3 seeds take the account's API key;
# retail media takes access tokens only. The two API-key headers have no registered HTTP scheme:
# their challenge names the header.
V2 = Scheme("Bearer", "API key", "Authorization: Bearer <api key>", tokens=True)
BIDS = Scheme('APIKey header="X-API-KEY"', "API key", "X-API-KEY: <api key>", tokens=False)
V3 = Scheme('APIKey header="X-Token"', "API key", "X-Token: <api key> (or ?token=)", tokens=False)
RETAIL_MEDIA = Scheme(
    'Bearer realm="retail-media"',
    "access token",
    "Authorization: Bearer <access token from /oauth2/token>",
    tokens=True,
    keys=False,
)


async def authenticated(request: Request, scheme: Scheme, credential: str | None) -> Principal:
    """The credential's principal, or 401 in the scheme's words (its rate limit not counted)."""
    container = container_of(request)
    try:
        scheme.check(credential)
        principal = container.auth.cached(credential)
        if principal is None:  # not seen lately: a database lookup, off the event loop
            principal = await run_in_threadpool(container.auth.authenticate, credential)
    except Unauthorized as exc:
        raise scheme.refused(exc) from None
    return principal


def v3_credential(request: Request) -> str | None:
    """Affiliate v3: the `X-Token` header or the `token` query parameter."""
    return request.headers.get("x-token") or request.query_params.get("token")


async def _admit(request: Request, scheme: Scheme, credential: str | None) -> Principal:
    container = container_of(request)
    principal = await authenticated(request, scheme, credential)
    limit = principal.rate_limit_per_minute or container.settings.default_rate_limit_per_minute
    # In memory and lock-protected for microseconds (a Redis limiter would be awaited here).
    decision = container.rate_limiter.hit(principal.credential_id, limit)
    state = request.state
    state.rate_limit = decision  # rendered as X-RateLimit-* headers by the middleware
    state.principal = principal  # the access log names the account, a throttled one's too
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of {decision.limit} requests per minute exceeded; retry in {decision.retry_after}s",
            retry_after=decision.retry_after,
        )
    return principal


def _bearer(request: Request, scheme: Scheme) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise scheme.refused(Unauthorized(f"the Authorization header must be: {scheme.send}"))
    return value.strip()


async def bearer_principal(request: Request) -> Principal:
    """/v2: `Authorization: Bearer <api key or access token>`."""
    return await _admit(request, V2, _bearer(request, V2))


async def api_key_principal(request: Request) -> Principal:
    """Bid management: `X-API-KEY: <api key>`."""
    return await _admit(request, BIDS, request.headers.get("x-api-key"))


async def token_principal(request: Request) -> Principal:
    """Affiliate v3: `X-Token` header or `token` query parameter, the account's API key."""
    return await _admit(request, V3, v3_credential(request))


async def oauth_principal(request: Request) -> Principal:
    """Retail media: `Authorization: Bearer <access token from /oauth2/token>`."""
    return await _admit(request, RETAIL_MEDIA, _bearer(request, RETAIL_MEDIA))
