"""ChannelService with its SQL repositories (SQLite and PostgreSQL): channels, applications and
who may decide them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import count

import pytest

from auctera.domain.accounts import Principal
from auctera.domain.campaigns import Budget, Campaign, CampaignStatus, CampaignType, Visibility
from auctera.domain.ids import IdGenerator, render
from auctera.domain.programs import (
    ApprovalStatus,
    ChannelType,
    Program,
    ProgramStatus,
    RejectReason,
    Segment,
    TrackingType,
)
from auctera.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auctera.services.accounts import AccountService
from auctera.services.channels import ApplicationQuery, ChannelFields, ChannelService
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory, clock: FrozenClock) -> None:
        ticks = count(int(clock.now.timestamp() * 1000))
        self.ids = IdGenerator(1, lambda: next(ticks))
        self.uow = uow
        self.clock = clock
        self.accounts = AccountService(uow, self.ids, clock, rotation_grace=timedelta(hours=1))
        self.channels = ChannelService(uow, self.ids, clock)

    def principal(self, kind: str) -> Principal:
        a = self.accounts.create_account(f"{kind} account", kind).account
        return Principal(a.id, a.kind, a.timezone, a.currency, None, f"key:{a.id}")

    def offer(self, owner: Principal, **fields: object) -> int:
        now = self.clock.now
        campaign = Campaign(
            id=self.ids.next_id(),
            account_id=owner.account_id,
            name="Card signup",
            type=CampaignType.AFFILIATE_CPA,
            status=CampaignStatus.ACTIVE,
            budget=Budget("USD", None, 1_000_000_000),
            created_at=now,
            updated_at=now,
            destination_url="https://fintech.example.com/",
            payout_micros=5_000_000,
        )
        campaign = replace(campaign, **fields)  # type: ignore[arg-type]
        with self.uow() as uow:
            uow.campaigns.add(campaign)
            uow.commit()
        return campaign.id

    def program(self, offer_id: int, owner: Principal, status: ProgramStatus = ProgramStatus.LIVE) -> int:
        """Program settings for the offer, with one segment besides the standard one; its id."""
        now = self.clock.now
        program = Program(
            offer_id, owner.account_id, "US", status, 30, frozenset(), None, None, None, None,
            TrackingType.PIXEL, (), now, now,
        )  # fmt: skip
        segment = Segment(self.ids.next_id(), offer_id, "VIP", False, now)
        with self.uow() as uow:
            uow.programs.add(program)
            uow.programs.add_segment(Segment(self.ids.next_id(), offer_id, "Standard", True, now))
            uow.programs.add_segment(segment)
            uow.commit()
        return segment.id

    def blog(self, who: Principal, **fields: object) -> int:
        given = ChannelFields(**{"name": "John's blog", "type": "blog", **fields})  # type: ignore[arg-type]
        return self.channels.create_channel(who, given).id


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory) -> World:
    return World(uow_factory, FrozenClock())


# --- channels ----------------------------------------------------------------------------------


def test_a_publisher_keeps_its_channels(world: World) -> None:
    pub = world.principal("publisher")
    s = world.channels
    blog = s.create_channel(
        pub, ChannelFields("John's blog", "BLOG", "https://www.johnsblog.com", " A blog about business. ")
    )
    assert (blog.type, blog.url, blog.description) == (
        ChannelType.BLOG,
        "https://www.johnsblog.com",
        "A blog about business.",
    )
    social = s.create_channel(pub, ChannelFields("Insta", "social media"))
    assert social.type is ChannelType.SOCIAL
    assert [c.id for c in s.list_channels(pub, None).channels] == [social.id, blog.id]
    changed = s.update_channel(pub, blog.id, ChannelFields(url=None, type="Newsletter"))
    assert (changed.name, changed.type, changed.url) == ("John's blog", ChannelType.NEWSLETTER, None)
    s.delete_channel(pub, social.id)
    assert [c.id for c in s.list_channels(pub, None).channels] == [blog.id]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        (ChannelFields("", "blog"), "name"),
        (ChannelFields("x" * 256, "blog"), "name"),
        (ChannelFields("Blog", "carrier pigeon"), "type"),
        (ChannelFields("Blog", "blog", "ftp://example.com"), "url"),
        (ChannelFields("Blog", "blog", "johnsblog.com"), "url"),
        (ChannelFields(name="Blog"), "type"),
    ],
)
def test_bad_channels_are_refused_naming_the_field(world: World, fields: ChannelFields, field: str) -> None:
    pub = world.principal("publisher")
    with pytest.raises(ValidationFailed) as refused:
        world.channels.create_channel(pub, fields)
    assert refused.value.field == field
    assert world.channels.list_channels(pub, None).channels == []


def test_who_reaches_a_channel(world: World) -> None:
    pub, other, adv, net = (world.principal(k) for k in ("publisher", "publisher", "advertiser", "network"))
    blog = world.blog(pub)
    with pytest.raises(Forbidden):
        world.channels.create_channel(adv, ChannelFields("Mine", "blog"))
    for intruder in (other, adv):
        with pytest.raises(NotFound):
            world.channels.get_channel(intruder, blog)
        with pytest.raises(NotFound):
            world.channels.update_channel(intruder, blog, ChannelFields(name="hijacked"))
    # The network acts for the publisher; an advertiser may read a channel that applied to it.
    made = world.channels.create_channel(net, ChannelFields("Net-made", "ppc"), publisher_id=pub.account_id)
    assert made.account_id == pub.account_id
    world.channels.apply(pub, world.offer(adv), channel_id=blog, channel_given=True)
    assert world.channels.get_channel(adv, blog).id == blog
    with pytest.raises(Forbidden):
        world.channels.delete_channel(adv, blog)


# --- applications ------------------------------------------------------------------------------


def test_applying_once_per_channel_and_once_publisher_wide(world: World) -> None:
    pub, adv = world.principal("publisher"), world.principal("advertiser")
    offer, blog = world.offer(adv, visibility=Visibility.PRIVATE), world.blog(pub)
    wide = world.channels.apply(pub, offer, traffic_type="SEO", volume_estimate=500)
    assert (wide.status, wide.channel_id, wide.account_id) == (ApprovalStatus.PENDING, None, adv.account_id)
    for_blog = world.channels.apply(pub, offer, channel_id=blog, channel_given=True)
    with pytest.raises(Conflict) as again:
        world.channels.apply(pub, offer)
    assert render("app", wide.id) in again.value.message
    with pytest.raises(Conflict) as twice:
        world.channels.apply(pub, offer, channel_id=blog, channel_given=True)
    assert render("app", for_blog.id) in twice.value.message


def test_what_cannot_be_applied_to(world: World) -> None:
    pub, other, adv = (
        world.principal("publisher"),
        world.principal("publisher"),
        world.principal("advertiser"),
    )
    theirs = world.blog(other)
    for offer_id in (
        None,
        12345,
        world.offer(adv, type=CampaignType.DSP_RETARGETING),
        world.offer(adv, status=CampaignStatus.PAUSED),
    ):
        with pytest.raises(NotFound) as refused:
            world.channels.apply(pub, offer_id)
        assert refused.value.field == "offer_id"
    open_offer = world.offer(adv)
    with pytest.raises(NotFound) as refused:
        world.channels.apply(pub, open_offer, channel_id=theirs, channel_given=True)
    assert refused.value.field == "channel_id"
    with pytest.raises(ValidationFailed) as refused:
        world.channels.apply(pub, open_offer, traffic_type="x" * 65)
    assert refused.value.field == "traffic_type"
    with pytest.raises(Forbidden):
        world.channels.apply(adv, open_offer)
    closing = world.offer(adv)
    world.program(closing, adv, ProgramStatus.CLOSING)
    with pytest.raises(Conflict) as closed:
        world.channels.apply(pub, closing)
    assert "closing" in closed.value.message
    assert world.channels.list_applications(pub, ApplicationQuery()).applications == []


def test_deciding(world: World) -> None:
    pub, adv, rival, net = (world.principal(k) for k in ("publisher", "advertiser", "advertiser", "network"))
    offer = world.offer(adv)
    vip = world.program(offer, adv)
    application = world.channels.apply(pub, offer)
    with pytest.raises(Forbidden):
        world.channels.decide(pub, application.id, ApprovalStatus.APPROVED, None)
    with pytest.raises(NotFound):
        world.channels.decide(rival, application.id, ApprovalStatus.APPROVED, None)
    with pytest.raises(ValidationFailed) as refused:
        world.channels.decide(adv, application.id, ApprovalStatus.REJECTED, None)
    assert refused.value.field == "reject_reason"
    with pytest.raises(ValidationFailed) as refused:
        world.channels.decide(adv, application.id, ApprovalStatus.PENDING, None)
    assert refused.value.field == "approval_status"
    rejected = world.channels.decide(
        adv, application.id, ApprovalStatus.REJECTED, RejectReason.NOT_FOUND_ON_SITE
    )
    assert (rejected.status, rejected.reason_text, rejected.decided_at) == (
        ApprovalStatus.REJECTED,
        "404 on site",
        world.clock.now,
    )
    approved = world.channels.approve(net, application.id, vip)
    assert (approved.status, approved.reject_reason, approved.segment_id) == (
        ApprovalStatus.APPROVED,
        None,
        vip,
    )
    with pytest.raises(NotFound) as refused:
        world.channels.move(adv, application.id, world.ids.next_id())
    assert refused.value.field == "segment_id"
    assert world.channels.move(adv, application.id, None).segment_id is None
    assert world.channels.get_application(pub, application.id).status is ApprovalStatus.APPROVED


def test_who_sees_which_applications(world: World) -> None:
    pub, other, adv, rival, net = (
        world.principal(k) for k in ("publisher", "publisher", "advertiser", "advertiser", "network")
    )
    mine, theirs = world.offer(adv), world.offer(rival)
    a = world.channels.apply(pub, mine)
    b = world.channels.apply(other, mine)
    c = world.channels.apply(pub, theirs)
    world.channels.decide(adv, b.id, ApprovalStatus.APPROVED, None)

    def seen(who: Principal, **query: object) -> list[int]:
        page = world.channels.list_applications(who, ApplicationQuery(**query))  # type: ignore[arg-type]
        return [x.id for x in page.applications]

    assert seen(pub) == [c.id, a.id]
    assert seen(adv) == [b.id, a.id]
    assert seen(adv, status=ApprovalStatus.APPROVED) == [b.id]
    assert seen(net) == [c.id, b.id, a.id]
    assert seen(net, offer_id=theirs) == [c.id]
    first = world.channels.list_applications(net, ApplicationQuery(limit=2))
    assert [x.id for x in first.applications] == [c.id, b.id] and first.next_cursor
    rest = world.channels.list_applications(net, ApplicationQuery(limit=2, cursor=first.next_cursor))
    assert [x.id for x in rest.applications] == [a.id] and rest.next_cursor is None
    with pytest.raises(NotFound):
        world.channels.get_application(other, a.id)
