"""Requests the server sends to an address a tenant gave (publisher postbacks, bid networks): never
into the operator's own network unless the operator allows it (D57; the address rule itself is
domain/webhooks.forbidden_address)."""

from __future__ import annotations

import socket
from collections.abc import Callable

from auctera.domain.webhooks import forbidden_address

_INTERNAL = "a private, loopback, link-local or reserved address"
# host -> its addresses (raises OSError when it does not resolve)
Resolver = Callable[[str], list[str]]


def resolve_host(host: str) -> list[str]:
    """The addresses `host` resolves to (an address resolves to itself)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


def internal_host(host: str, resolve: Resolver, *, must_resolve: bool, allowed_by: str) -> str | None:
    """Why a request to `host` is refused, else None: it resolves to a private, loopback,
    link-local or reserved address (every address: a client may connect to any of them), or, when
    `must_resolve` (a request about to be sent), it does not resolve; a host that does not resolve
    yet is accepted when the target is saved. `allowed_by` ends the refusal: how the operator may
    allow such targets."""
    try:
        addresses = resolve(host)
    except (OSError, ValueError):  # ValueError: a name no resolver takes (a bad IDNA label)
        return f"the host {host!r} does not resolve" if must_resolve else None
    if not addresses or any(forbidden_address(a) for a in addresses):
        return (
            f"the host {host!r} resolves to a private, loopback, link-local or reserved address; {allowed_by}"
        )
    return None
