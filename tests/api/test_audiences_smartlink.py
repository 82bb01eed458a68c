"""Audience targeting in the SmartLink auction: its clicks name no visitor, so a campaign that
includes audiences does not bid there, and one that only excludes audiences does."""

from __future__ import annotations

from typing import Any

from auctera.domain.audiences import Audience, AudienceSource, AudienceStatus, Targets

from .test_smartlink_auction import auction, sl_app, world  # noqa: F401


def _winner(w: dict[str, Any]) -> str:
    body = auction(w["client"], w["link"]["auction_id"], uuid=None).json()
    return str(body["data"][0]["auction_result"]["product"]["merchant"]["name"])


def _target(w: dict[str, Any], targets: Targets) -> None:
    c = w["m"].c
    with c.uow() as uow:
        campaign = uow.campaigns.get(w["amazon"])
        uow.audiences.set_targets(campaign.id, campaign.account_id, targets)
        uow.commit()
    c.auctions.targeting_changed()
    c.auctions.refresh_caches()


def test_smartlink_campaigns_with_included_audiences_do_not_bid(world: dict[str, Any]) -> None:  # noqa: F811
    c = world["m"].c
    assert _winner(world) == "Amazon"
    with c.uow() as uow:
        owner = uow.campaigns.get(world["amazon"]).account_id
        now = c.clock()
        fans = Audience(
            c.ids.next_id(), owner, "Fans", AudienceSource.CRM_SYNC, AudienceStatus.READY, 0, 0, now, now
        )
        uow.audiences.add(fans)
        uow.commit()
    _target(world, Targets(include=(fans.id,)))
    assert _winner(world) == "Boutique"
    _target(world, Targets(exclude=(fans.id,)))
    assert _winner(world) == "Amazon"
