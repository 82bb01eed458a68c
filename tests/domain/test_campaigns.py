"""Campaign value objects, patches, field checks, the status machine and performance figures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from auctera.domain.campaigns import (
    ALLOWED,
    UNSET,
    Bidding,
    BiddingPatch,
    BidStrategy,
    Budget,
    BudgetPatch,
    Campaign,
    CampaignPatch,
    CampaignStatus,
    CampaignType,
    DeviceType,
    Performance,
    Review,
    Targeting,
    TargetingPatch,
    affiliate_problems,
    archive,
    bidding_problems,
    budget_problems,
    ensure_editable,
    flight_problems,
    multiplier_problems,
    needs_review,
    record_review,
    resubmit,
    set_status,
    targeting_problems,
)
from auctera.domain.events import Totals
from auctera.errors import Conflict

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
COUNTRIES = frozenset({"US", "CA", "DE", "SE"})
S = CampaignStatus


def campaign(status: CampaignStatus = S.ACTIVE, **changes: object) -> Campaign:
    base = Campaign(
        id=1,
        account_id=7,
        name="Holiday Promo",
        type=CampaignType.DSP_RETARGETING,
        status=status,
        budget=Budget("USD", total_micros=10_000_000_000),
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def fields(problems: list[object]) -> list[str]:
    return [p.field for p in problems]  # type: ignore[attr-defined]


# --- values and patches --------------------------------------------------------------------


def test_targeting_is_normalised() -> None:
    t = Targeting.of(
        geo=[" us", "CA", "us"], zip_codes=["10001 ", "10001"], device_types=[DeviceType.MOBILE] * 2
    )
    assert t.geo == ("US", "CA")
    assert t.zip_codes == ("10001",)
    assert t.device_types == (DeviceType.MOBILE,)


def test_patch_changes_only_what_it_names() -> None:
    before = campaign(
        budget=Budget("USD", daily_micros=5_000_000_000, total_micros=50_000_000_000),
        targeting=Targeting.of(geo=["US"], device_types=[DeviceType.MOBILE]),
        destination_url="https://shop.example.com/",
    )
    after = CampaignPatch(
        budget=BudgetPatch(daily_micros=7_500_000_000), targeting=TargetingPatch(geo=("ca", "US"))
    ).apply(before)
    assert after.budget == Budget("USD", daily_micros=7_500_000_000, total_micros=50_000_000_000)
    assert after.targeting.geo == ("CA", "US")
    assert after.targeting.device_types == (DeviceType.MOBILE,)  # untouched sub-field kept
    assert after.destination_url == "https://shop.example.com/"


def test_patch_null_clears() -> None:
    before = campaign(destination_url="https://shop.example.com/", end_date=date(2026, 12, 31))
    after = CampaignPatch(destination_url=None, end_date=None).apply(before)
    assert after.destination_url is None and after.end_date is None


def test_new_strategy_drops_the_old_target_unless_given() -> None:
    b = Bidding(BidStrategy.TARGET_CPA, 35_000_000)
    assert BiddingPatch(strategy=BidStrategy.MAXIMIZE_CONVERSIONS).apply(b) == Bidding()
    assert BiddingPatch(target_micros=40_000_000).apply(b) == Bidding(BidStrategy.TARGET_CPA, 40_000_000)
    assert (
        BiddingPatch(strategy=BidStrategy.MANUAL_CPC, target_micros=1_500_000).apply(b).target_micros
        == 1_500_000
    )


def test_review_is_needed_only_for_checked_fields() -> None:
    before = campaign()
    assert not needs_review(before, CampaignPatch(name="Renamed").apply(before))
    assert needs_review(before, CampaignPatch(budget=BudgetPatch(daily_micros=1_000_000)).apply(before))
    assert needs_review(before, CampaignPatch(destination_url="https://a.example.com/").apply(before))
    assert not needs_review(before, CampaignPatch(budget=BudgetPatch(daily_micros=UNSET)).apply(before))


# --- field checks --------------------------------------------------------------------------


def test_budget_checks() -> None:
    assert budget_problems(Budget("USD", daily_micros=1)) == []
    assert fields(budget_problems(Budget("USD"))) == ["budget"]
    assert fields(budget_problems(Budget("USD", daily_micros=0))) == ["budget.daily"]
    assert fields(budget_problems(Budget("USD", total_micros=-5))) == ["budget.total"]
    assert fields(budget_problems(Budget("USD", daily_micros=20, total_micros=10))) == ["budget.daily"]
    assert fields(budget_problems(Budget("USD", total_micros=10**16))) == ["budget.total"]


def test_targeting_checks() -> None:
    ok = Targeting.of(geo=["US", "CA"], zip_codes=["10001", "94105-1234"], dmas=["501"])
    assert targeting_problems(ok, COUNTRIES) == []
    assert fields(targeting_problems(Targeting.of(geo=["XX"]), COUNTRIES)) == ["targeting.geo"]
    assert fields(targeting_problems(Targeting.of(zip_codes=["1234"]), COUNTRIES)) == ["targeting.zip_codes"]
    assert fields(targeting_problems(Targeting.of(dmas=["999"]), COUNTRIES)) == ["targeting.dmas"]
    outside_us = targeting_problems(Targeting.of(geo=["DE"], dmas=["501"]), COUNTRIES)
    assert fields(outside_us) == ["targeting.dmas"] and "US" in outside_us[0].message
    assert targeting_problems(Targeting.of(dmas=["501"]), COUNTRIES) == []  # no geo: everywhere, US included


def test_bidding_checks() -> None:
    assert bidding_problems(Bidding()) == []
    assert bidding_problems(Bidding(BidStrategy.TARGET_ROAS, 4_000_000)) == []
    assert fields(bidding_problems(Bidding(BidStrategy.TARGET_CPA))) == ["bidding.target_amount"]
    assert fields(bidding_problems(Bidding(BidStrategy.MANUAL_CPC, 0))) == ["bidding.target_amount"]
    assert fields(bidding_problems(Bidding(target_micros=5))) == ["bidding.target_amount"]


def test_multiplier_checks() -> None:
    assert multiplier_problems({DeviceType.MOBILE: Decimal("1.25"), DeviceType.CTV: Decimal(0)}) == []
    assert multiplier_problems({DeviceType.MOBILE: Decimal("1.500")}) == []  # trailing zeros are fine
    assert fields(multiplier_problems({DeviceType.MOBILE: Decimal("10.5")})) == [
        "bid_multipliers.device_type.mobile"
    ]
    assert fields(multiplier_problems({DeviceType.TABLET: Decimal("1.125"), DeviceType.CTV: Decimal(1)})) == [
        "bid_multipliers.device_type.tablet"
    ]


def test_affiliate_campaigns_need_payout_and_destination() -> None:
    affiliate = campaign(type=CampaignType.AFFILIATE_CPA)
    assert fields(affiliate_problems(affiliate)) == ["payout", "destination_url"]
    complete = replace(affiliate, payout_micros=45_000_000, destination_url="https://x.example.com/")
    assert affiliate_problems(complete) == []
    assert fields(affiliate_problems(campaign(payout_micros=1_000_000))) == ["payout"]  # not affiliate


def test_flight_checks() -> None:
    assert flight_problems(date(2026, 12, 1), date(2026, 12, 31)) == []
    assert fields(flight_problems(date(2026, 12, 31), date(2026, 12, 1))) == ["end_date"]
    assert fields(flight_problems(None, date(2026, 11, 22), today=date(2026, 11, 23))) == ["end_date"]
    assert flight_problems(None, date(2026, 11, 23), today=date(2026, 11, 23)) == []


# --- status machine ------------------------------------------------------------------------


def test_archived_is_terminal() -> None:
    assert ALLOWED[S.ARCHIVED] == frozenset()
    archived = archive(campaign(), LATER)
    assert archived.status is S.ARCHIVED and archived.archived_at == LATER
    assert archive(archived, datetime(2027, 1, 1, tzinfo=UTC)) is archived  # idempotent, first time kept
    with pytest.raises(Conflict, match="cannot be restarted"):
        set_status(archived, S.ACTIVE, LATER)
    with pytest.raises(Conflict):
        ensure_editable(archived)
    with pytest.raises(Conflict):
        record_review(archived, (), LATER)


def test_pause_and_resume() -> None:
    paused = set_status(campaign(S.ACTIVE), S.PAUSED, LATER)
    assert paused.status is S.PAUSED and paused.updated_at == LATER
    assert set_status(paused, S.ACTIVE, LATER).status is S.ACTIVE
    same = campaign(S.ACTIVE)
    assert set_status(same, S.ACTIVE, LATER) is same  # asking for the current status is a no-op


@pytest.mark.parametrize(
    ("start", "to", "message"),
    [
        (S.PENDING_REVIEW, S.ACTIVE, "pending review"),
        (S.PENDING_REVIEW, S.PAUSED, "only an active campaign can be paused"),
        (S.REJECTED, S.ACTIVE, "was rejected"),
        (S.ACTIVE, S.ARCHIVED, "DELETE archives"),
        (S.ACTIVE, S.PENDING_REVIEW, "active or paused"),
    ],
)
def test_illegal_user_transitions(start: CampaignStatus, to: CampaignStatus, message: str) -> None:
    with pytest.raises(Conflict, match=message) as raised:
        set_status(campaign(start), to, LATER)
    assert raised.value.field == "status"


def test_rejection_reasons_are_in_the_conflict_message() -> None:
    rejected = campaign(S.REJECTED, review=Review(("destination_url: evil.example is blocked",), NOW))
    with pytest.raises(Conflict, match=r"evil\.example is blocked"):
        set_status(rejected, S.ACTIVE, LATER)


def test_review_outcomes() -> None:
    passed = record_review(campaign(S.PENDING_REVIEW), (), LATER)
    assert passed.status is S.ACTIVE and passed.review == Review((), LATER, None)
    failed = record_review(campaign(S.PENDING_REVIEW), ("bad",), LATER)
    assert failed.status is S.REJECTED and failed.review.reasons == ("bad",)
    # A live campaign that passes keeps its status: a paused one is not switched on by a review.
    assert record_review(campaign(S.PAUSED), (), LATER).status is S.PAUSED
    assert record_review(campaign(S.PAUSED), ("bad",), LATER).status is S.REJECTED
    # By hand: the network approves a rejected campaign.
    approved = record_review(campaign(S.REJECTED), (), LATER, reviewer_id=99)
    assert approved.status is S.ACTIVE and approved.review.reviewer_id == 99


def test_resubmission() -> None:
    assert resubmit(campaign(S.REJECTED), LATER).status is S.PENDING_REVIEW
    with pytest.raises(Conflict):
        resubmit(campaign(S.ACTIVE), LATER)


# --- performance ---------------------------------------------------------------------------


def test_cpa_and_roas() -> None:
    period = Totals(conversions=47, reversals=2, cost_micros=1_240_500_000, revenue_micros=4_962_000_000)
    p = Performance(today=Totals(), period=period, lifetime=period)
    assert Performance.conversions(period) == 45  # reversals take their conversions back
    assert p.cpa is not None and p.cpa.quantize(Decimal("0.000001")) == Decimal("27.566667")
    assert p.roas == Decimal(4)


def test_cpa_and_roas_agree_with_the_spend_and_revenue_shown() -> None:
    """Spend 17.406 shows as 17.41: one conversion's CPA is 17.41 too, not 17.406 cut to 17.40."""
    period = Totals(conversions=1, cost_micros=17_406_000, revenue_micros=669_000_000)
    p = Performance(today=Totals(), period=period, lifetime=period)
    assert p.cpa == Decimal("17.41")
    assert p.roas == Decimal(669) / Decimal("17.41")


def test_no_conversions_no_cpa_no_spend_no_roas() -> None:
    p = Performance(Totals(), Totals(cost_micros=5_000_000), Totals())
    assert p.cpa is None
    assert Performance(Totals(), Totals(revenue_micros=10), Totals()).roas is None
