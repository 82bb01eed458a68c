"""Expected failures. Each surface renders them in its own error envelope; none is a 500."""

from __future__ import annotations


class AucteraError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class ValidationFailed(AucteraError):
    status_code = 422
    code = "validation_error"


class Unauthorized(AucteraError):
    status_code = 401
    code = "unauthorized"
    # The WWW-Authenticate challenge: the scheme of the surface that refused (`api.auth`).
    challenge = "Bearer"


class Forbidden(AucteraError):
    """The caller is known but its account kind may not do this (never used to hide other tenants)."""

    status_code = 403
    code = "forbidden"


class NotFound(AucteraError):
    status_code = 404
    code = "not_found"


class Conflict(AucteraError):
    status_code = 409
    code = "conflict"


class RateLimited(AucteraError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
