"""The queries behind /v3 on both backends: the partner market (visibility, the best-status
filter, count and pages), the channels that applied to an advertiser's programs, and a feed's
products in keyset batches with their counts and last import."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from auctera.domain.accounts import Account, AccountKind
from auctera.domain.campaigns import Budget, Campaign, CampaignStatus, CampaignType, Visibility
from auctera.domain.catalog import FeedFormat, FeedImport, ImportStatus, ProductFields, Retailer
from auctera.domain.programs import (
    Application,
    ApprovalStatus,
    Channel,
    ChannelType,
    Program,
    ProgramStatus,
    TrackingType,
)
from auctera.services.ports import PartnerProgramQuery, ProgramChannelQuery
from auctera.store.uow import SqlUnitOfWorkFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADV, OTHER_ADV, PUB, OTHER_PUB = 1, 2, 3, 4
CH, OTHER_CH = 50, 51


def _program(
    pid: int, account: int = ADV, market: str = "SE", status: ProgramStatus = ProgramStatus.LIVE
) -> Program:
    return Program(
        pid, account, market, status, 30, frozenset(), None, None, None, None, TrackingType.PIXEL, (), T0, T0
    )


def _campaign(pid: int, account: int = ADV, **fields: object) -> Campaign:
    base = Campaign(
        id=pid,
        account_id=account,
        name=f"Program {pid}",
        type=CampaignType.AFFILIATE_CPA,
        status=CampaignStatus.ACTIVE,
        budget=Budget("SEK"),
        created_at=T0,
        updated_at=T0,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def _apply(aid: int, pid: int, publisher: int, channel: int | None, status: ApprovalStatus) -> Application:
    return Application(aid, pid, ADV, publisher, channel, status, T0 + timedelta(seconds=aid))


@pytest.fixture
def uow(uow_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
    with uow_factory() as u:
        kinds = {ADV: AccountKind.ADVERTISER, OTHER_ADV: AccountKind.ADVERTISER}
        for account_id in (ADV, OTHER_ADV, PUB, OTHER_PUB):
            kind = kinds.get(account_id, AccountKind.PUBLISHER)
            u.accounts.add(
                Account(account_id, f"Account {account_id}", kind, "UTC", "SEK", "auc_ss_x", None, T0)
            )
        programs = {
            10: _campaign(10),  # public, live
            11: _campaign(11),  # public, applied to: pending
            12: _campaign(12, status=CampaignStatus.PAUSED),  # campaign not active: hidden
            13: _campaign(13),  # closing
            14: _campaign(14),  # another market
            15: _campaign(15),  # public, applied to: rejected
            # A private program is its approved publishers' alone.
            16: _campaign(16, visibility=Visibility.PRIVATE),  # rejected: hidden
            17: _campaign(17, visibility=Visibility.PRIVATE),  # approved: shown
            18: _campaign(18, visibility=Visibility.PRIVATE),  # pending: hidden
        }
        for c in programs.values():
            u.campaigns.add(c)
        for p in (_program(10), _program(11), _program(12), _program(13, status=ProgramStatus.CLOSING),
                  _program(14, market="NO"), *(_program(n) for n in (15, 16, 17, 18))):  # fmt: skip
            u.programs.add(p)
        u.channels.add(Channel(CH, PUB, "Blog", ChannelType.BLOG, None, None, T0, T0))
        u.channels.add(Channel(OTHER_CH, OTHER_PUB, "Other", ChannelType.WEBSITE, None, None, T0, T0))
        u.channels.add_application(_apply(100, 11, PUB, CH, ApprovalStatus.PENDING))
        u.channels.add_application(_apply(101, 13, PUB, CH, ApprovalStatus.APPROVED))
        u.channels.add_application(_apply(102, 13, PUB, None, ApprovalStatus.REJECTED))
        u.channels.add_application(_apply(103, 15, PUB, CH, ApprovalStatus.REJECTED))
        u.channels.add_application(_apply(104, 10, OTHER_PUB, OTHER_CH, ApprovalStatus.APPROVED))
        u.channels.add_application(_apply(105, 16, PUB, CH, ApprovalStatus.REJECTED))
        u.channels.add_application(_apply(106, 17, PUB, CH, ApprovalStatus.APPROVED))
        u.channels.add_application(_apply(107, 18, PUB, CH, ApprovalStatus.PENDING))
        u.commit()
    return uow_factory


def _page(uow: SqlUnitOfWorkFactory, **query: object) -> tuple[list[int], int]:
    with uow(read_only=True) as u:
        found, count = u.programs.partner_page(PartnerProgramQuery(**query))  # type: ignore[arg-type]
    return [item.program.id for item in found], count


def test_visibility(uow: SqlUnitOfWorkFactory) -> None:
    assert _page(uow, publisher_id=PUB, market="SE") == ([10, 11, 13, 15, 17], 5)
    assert _page(uow, publisher_id=OTHER_PUB, market="SE") == ([10, 11, 13, 15], 4)
    assert _page(uow, publisher_id=PUB, program_id=18) == ([], 0)  # private, pending
    assert _page(uow, publisher_id=PUB, market="NO") == ([14], 1)
    assert _page(uow, publisher_id=PUB, program_id=12) == ([], 0)


def test_filters_and_pages(uow: SqlUnitOfWorkFactory) -> None:
    assert _page(uow, publisher_id=PUB, market="SE", status=3) == ([13], 1)
    # The best standing: 13 is approved (channel) though rejected publisher-wide.
    assert _page(uow, publisher_id=PUB, market="SE", approval_status=ApprovalStatus.APPROVED) == ([13, 17], 2)
    assert _page(uow, publisher_id=PUB, market="SE", approval_status=ApprovalStatus.PENDING) == ([11], 1)
    assert _page(uow, publisher_id=PUB, market="SE", approval_status=ApprovalStatus.REJECTED) == ([15], 1)
    # One channel's own status.
    assert _page(
        uow, publisher_id=PUB, market="SE", channel_id=CH, approval_status=ApprovalStatus.REJECTED
    ) == (
        [15],
        1,
    )
    assert _page(uow, publisher_id=PUB, market="SE", offset=1, limit=2) == ([11, 13], 5)
    with uow(read_only=True) as u:
        [listed], _ = u.programs.partner_page(PartnerProgramQuery(publisher_id=PUB, program_id=10))
    assert (listed.name, listed.currency) == ("Program 10", "SEK")


def test_program_channels(uow: SqlUnitOfWorkFactory) -> None:
    with uow(read_only=True) as u:
        found, count = u.channels.program_channels(ProgramChannelQuery(account_id=ADV))
        assert count == 7  # the publisher-wide application is not a channel's
        assert [f.application.id for f in found] == [107, 106, 105, 104, 103, 101, 100]
        assert found[3].channel.name == "Other" and found[3].publisher_name == "Account 4"
        only, count = u.channels.program_channels(
            ProgramChannelQuery(account_id=ADV, publisher_id=PUB, status=ApprovalStatus.REJECTED)
        )
        assert [f.application.id for f in only] == [105, 103] and count == 2
        none, count = u.channels.program_channels(ProgramChannelQuery(account_id=OTHER_ADV))
        assert none == [] and count == 0


def test_feed_products_in_keyset_batches(uow: SqlUnitOfWorkFactory) -> None:
    with uow() as u:
        u.retailers.add(Retailer(70, ADV, AccountKind.ADVERTISER, "Shop", "shop.example.com", T0, T0))
        record = FeedImport(
            80, ADV, 70, "api", FeedFormat.JSON, ImportStatus.SUCCEEDED, 5, 5, 0, 0, (), T0, T0
        )
        u.feed_imports.add(record)
        failed = FeedImport(81, ADV, 70, "api", FeedFormat.JSON, ImportStatus.FAILED, 0, 0, 0, 0, (), T0, T0)
        u.feed_imports.add(replace(failed, finished_at=T0 + timedelta(hours=1)))
        items = [ProductFields(f"p{i}", f"Product {i}", 1_000_000 * i, "SEK", f"https://shop.example.com/{i}")
                 for i in range(5)]  # fmt: skip
        u.products.upsert(
            retailer_id=70,
            account_id=ADV,
            import_id=80,
            items=items,
            new_ids=[200 + i for i in range(5)],
            now=T0,
        )
        u.commit()
    with uow(read_only=True) as u:
        first = u.products.after(70, None, 2)
        rest = u.products.after(70, first[-1].id, 10)
        assert [p.id for p in first + rest] == [200, 201, 202, 203, 204]
        assert rest[0].name == "Product 2" and rest[0].price_micros == 2_000_000 and rest[0].created_at == T0
        assert u.products.counts([70, 71]) == {70: 5}
        assert u.feed_imports.last_succeeded([70, 71]) == {70: T0}  # the failed import does not count
        assert {r: i.id for r, i in u.feed_imports.latest([70, 71]).items()} == {70: 81}
        assert set(u.retailers.many([70, 71])) == {70}
