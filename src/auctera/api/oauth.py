"""`POST /oauth2/token`: the OAuth2 client-credentials grant used by the retail-media surface."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from auctera.api.deps import container_of
from auctera.api.responses import OrjsonResponse
from auctera.errors import Unauthorized

router = APIRouter(tags=["oauth2"])


def _oauth_error(status: int, error: str, description: str) -> OrjsonResponse:
    # RFC 6749 section 5.2 error body.
    return OrjsonResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.post("/oauth2/token", summary="Exchange client credentials for a short-lived access token")
def token(
    request: Request,
    grant_type: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
) -> OrjsonResponse:
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be 'client_credentials'")
    if not client_id or not client_secret:
        missing = "client_id" if not client_id else "client_secret"
        return _oauth_error(400, "invalid_request", f"{missing} is required")
    try:
        issued = container_of(request).auth.issue_token(client_id, client_secret)
    except Unauthorized:
        return _oauth_error(401, "invalid_client", "client authentication failed")
    return OrjsonResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": None,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
