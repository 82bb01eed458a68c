"""/v2/network/blocklist: the operator's blocked destination domains (network keys only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import BlockedDomainIn, DecimalJSONRoute, blocked_domain_json
from auctera.domain.accounts import Principal

router = IndexedRouter(prefix="/v2/network", tags=["network"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]


@router.get("/blocklist", summary="Blocked destination domains")
def list_blocked(request: Request, caller: Caller) -> dict[str, Any]:
    entries = container_of(request).campaigns.blocked_domains(by=caller)
    return {"data": [blocked_domain_json(b) for b in entries]}


@router.post(
    "/blocklist",
    status_code=201,
    summary="Block a domain and its subdomains; live campaigns sending traffic there are rejected",
)
def block(request: Request, body: BlockedDomainIn, caller: Caller) -> dict[str, Any]:
    entry, rejected = container_of(request).campaigns.block_domain(body.domain, body.reason, by=caller)
    return {"success": True, **blocked_domain_json(entry), "campaigns_rejected": rejected}


@router.delete("/blocklist/{domain}", summary="Unblock a domain (idempotent)")
def unblock(request: Request, domain: str, caller: Caller) -> dict[str, Any]:
    removed = container_of(request).campaigns.unblock_domain(domain, by=caller)
    return {"success": True, "domain": domain, "removed": removed}
