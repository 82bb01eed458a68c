"""Auth dependencies, one per scheme the seeds use. All resolve to `AuthService` and count
the request against the credential's rate limit.

They are coroutines: a credential seen within `auth_cache_seconds` is answered from memory on
the event loop, and only a lookup goes to the threadpool. A sync dependency would cost every
request a thread hop (and, under load, a wait for the GIL in a thread) for a dict lookup.
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from auctera.api.deps import container_of
from auctera.domain.accounts import Principal
from auctera.errors import RateLimited, Unauthorized


async def _admit(request: Request, credential: str | None) -> Principal:
    container = container_of(request)
    principal = container.auth.cached(credential)
    if principal is None:  # not seen lately: a database lookup, off the event loop
        principal = await run_in_threadpool(container.auth.authenticate, credential)
    limit = principal.rate_limit_per_minute or container.settings.default_rate_limit_per_minute
    # In memory and lock-protected for microseconds (a Redis limiter would be awaited here).
    decision = container.rate_limiter.hit(principal.credential_id, limit)
    state = request.state
    state.rate_limit = decision  # rendered as X-RateLimit-* headers by the middleware
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of {decision.limit} requests per minute exceeded; retry in {decision.retry_after}s",
            retry_after=decision.retry_after,
        )
    state.principal = principal
    return principal


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Authorization header must be 'Bearer <API key>'")
    return value.strip()


async def bearer_principal(request: Request) -> Principal:
    """/v2: `Authorization: Bearer <api key>`."""
    return await _admit(request, _bearer(request))


async def api_key_principal(request: Request) -> Principal:
    """Bid management: `X-API-KEY: <api key>`."""
    return await _admit(request, request.headers.get("x-api-key"))


async def token_principal(request: Request) -> Principal:
    """Affiliate v3: `X-Token` header or `token` query parameter."""
    return await _admit(request, request.headers.get("x-token") or request.query_params.get("token"))


async def oauth_principal(request: Request) -> Principal:
    """Retail media: `Authorization: Bearer <access token from /oauth2/token>`."""
    credential = _bearer(request)
    if credential is not None and not credential.startswith("auc_at_"):
        raise Unauthorized("an OAuth2 access token from /oauth2/token is required")
    return await _admit(request, credential)
