"""The bid rules on their own: filters, dimension keys, deltas, and which rule a bid breaks first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auctera.domain.bids import (
    FILTER_COMBINATIONS,
    AdSet,
    BiddingSettings,
    BidFilter,
    BidRow,
    BidStatus,
    Hierarchy,
    Network,
    NetworkCampaign,
    OptimizationType,
    PartnerKind,
    Reason,
    RequiredAttributes,
    StoredBid,
    UploadRules,
    check_bid,
    delta_of,
    dimension_key,
    exact_value,
    filter_problem,
)

NOW = datetime(2026, 11, 23, tzinfo=UTC)
NETWORK = Network(
    id=1,
    account_id=9,
    name="Unity",
    kind=PartnerKind.HTTP,
    base_url="https://bids.example",
    credentials={"token": "t"},
    settings=BiddingSettings(
        enabled=True, ad_set_bidding=True, source_id_bidding=True, min_bid_micros=10_000, decimal_precision=2
    ),
    vendor_attributes={},
    client_vendor_attributes={},
    required=RequiredAttributes(),
    created_at=NOW,
    updated_at=NOW,
)
CAMPAIGN = NetworkCampaign(
    id=2,
    account_id=9,
    network_id=1,
    name="Spring",
    countries=frozenset({"DE"}),
    optimization_type=OptimizationType.CPI,
    attributes={},
    external_id=None,
    campaign_id=None,
    created_at=NOW,
    updated_at=NOW,
)
AD_SET = AdSet(3, 9, 1, 2, "Fans", None, None, NOW, NOW)


def stored(value_micros: int) -> StoredBid:
    return StoredBid(4, value_micros, BidStatus.SUCCESS, 5, value_micros)


def row(value: str | None = "0.5", **fields: object) -> BidRow:
    base = BidRow(campaign_id=2, ad_set_id=None, country="DE", source_id=None, value=None)
    return base._replace(value=None if value is None else Decimal(value), **fields)


def verdict(r: BidRow, network: Network = NETWORK, existing: StoredBid | None = None) -> str | None:
    ad_set = AD_SET if r.ad_set_id == AD_SET.id else None
    return check_bid(r, Hierarchy(CAMPAIGN, network, ad_set, existing)).message


def test_exactly_the_seven_filter_combinations_pass() -> None:
    names = ("networkId", "campaignId", "adSetId", "country", "sourceId")
    values = {"networkId": 1, "campaignId": 2, "adSetId": 3, "country": "DE", "sourceId": "s"}
    fields = {
        "networkId": "network_id",
        "campaignId": "campaign_id",
        "adSetId": "ad_set_id",
        "country": "country",
        "sourceId": "source_id",
    }
    passed = set()
    for size in range(len(names) + 1):
        for chosen in combinations(names, size):
            given = BidFilter(**{fields[n]: values[n] for n in chosen})  # type: ignore[arg-type]
            if filter_problem(given) is None:
                passed.add(frozenset(chosen))
    assert passed == {frozenset(c) for c in FILTER_COMBINATIONS}


def test_dimension_keys_tell_every_dimension_apart() -> None:
    keys = {
        dimension_key(1, None, "DE", None),
        dimension_key(1, 2, "DE", None),
        dimension_key(1, 2, "DE", "x"),
        dimension_key(1, 2, "DE", "x:y"),
        dimension_key(1, 2, "FR", None),
        dimension_key(12, None, "DE", None),
    }
    assert len(keys) == 6
    assert dimension_key(1, None, "DE", "") == dimension_key(1, None, "DE", None)


def test_delta_is_exact() -> None:
    delta = delta_of(row("0.3"), stored(100_000))
    assert (delta.old_value, delta.new_value, delta.change_percentage) == (
        Decimal("0.1"),
        Decimal("0.3"),
        Decimal("200.00"),
    )
    assert delta_of(row("0.5"), None).change_percentage is None
    assert delta_of(row(None, delete=True), stored(100_000)).new_value is None


def test_setup_problems_come_before_the_bids_own() -> None:
    off = replace(NETWORK, settings=replace(NETWORK.settings, enabled=False), credentials={})
    assert verdict(row(country="FR"), off) == Reason.MISSING_CREDENTIALS
    assert verdict(row(country="FR"), replace(off, credentials={"t": "x"})) == Reason.BIDDING_DISABLED
    # Our own platform needs no credentials.
    auctera = replace(NETWORK, kind=PartnerKind.AUCTERA, credentials={})
    assert verdict(row(), auctera) is None


@pytest.mark.parametrize(
    ("value", "precision", "expected"),
    [
        ("0.10", 1, None),  # trailing zeros are not precision
        ("1E+1", 0, None),
        ("0.15", 1, Reason.DECIMAL_PRECISION),
        ("0.009", 3, Reason.BELOW_MINIMUM),
        ("0", 2, Reason.BELOW_MINIMUM),
        ("-1", 2, Reason.BELOW_MINIMUM),
        ("0.01", 2, None),
    ],
)
def test_values(value: str, precision: int, expected: Reason | None) -> None:
    network = replace(NETWORK, settings=replace(NETWORK.settings, decimal_precision=precision))
    assert verdict(row(value), network) == expected


def test_deleting_an_ad_set_bid_needs_one() -> None:
    delete = row(None, ad_set_id=3, delete=True)
    assert verdict(delete) == Reason.DELETE_MISSING_BID
    assert verdict(delete, existing=stored(100_000)) is None


def test_max_change_both_ways() -> None:
    network = replace(NETWORK, settings=replace(NETWORK.settings, max_change_percent=10))
    assert verdict(row("1.10"), network, stored(1_000_000)) is None
    assert verdict(row("0.90"), network, stored(1_000_000)) is None
    message = verdict(row("0.89"), network, stored(1_000_000))
    assert message == "bid change of -11.00% exceeds the network's maximum change of 10% per upload"


# Mostly networks that take bids, so that the rules of the bid itself are reached.
_mostly = st.sampled_from([True, True, True, False])
_networks = st.builds(
    lambda enabled, campaign, ad_set, source, credentials, precision, minimum, limit, required: replace(
        NETWORK,
        credentials={"token": "t"} if credentials else {},
        required=RequiredAttributes(campaign=("appId",) if required else ()),
        settings=BiddingSettings(
            enabled=enabled,
            campaign_bidding=campaign,
            ad_set_bidding=ad_set,
            source_id_bidding=source,
            decimal_precision=precision,
            min_bid_micros=minimum,
            max_change_percent=limit,
        ),
    ),
    *[_mostly] * 5,
    st.integers(0, 6),
    st.sampled_from([0, 1, 10_000, 500_000]),
    st.none() | st.integers(1, 300),
    _mostly.map(lambda b: not b),
)
_rows = st.builds(
    BidRow,
    campaign_id=st.just(2),
    ad_set_id=st.sampled_from([None, 3, 7]),  # 7: not an ad set of the campaign
    country=st.sampled_from(["DE", "DE", "FR"]),
    source_id=st.sampled_from([None, "app"]),
    value=st.none()
    | st.integers(0, 8).flatmap(
        lambda places: st.decimals(min_value=-1, max_value=1000, places=places, allow_nan=False)
    )
    | st.sampled_from([Decimal("0.10"), Decimal("1E+1"), Decimal("-0.0"), Decimal("1.0000001")]),
    delete=st.booleans(),
).filter(lambda r: r.delete or r.value is not None)  # as translate.py parses them


@settings(max_examples=2000, deadline=None)
@given(
    network=_networks,
    campaign_type=st.sampled_from([OptimizationType.CPI, *OptimizationType]),
    r=_rows,
    existing=st.none() | st.sampled_from([0, 1, 100_000, 1_230_000]).map(stored),
)
def test_the_quick_rules_accept_exactly_what_check_bid_accepts(
    network: Network, campaign_type: OptimizationType, r: BidRow, existing: StoredBid | None
) -> None:
    campaign = replace(CAMPAIGN, optimization_type=campaign_type)
    ad_set = AD_SET if r.ad_set_id == AD_SET.id else None
    value = None if r.delete or r.value is None else exact_value(r.value)
    quick = UploadRules(network, campaign).accepts(
        r, r.ad_set_id is None or ad_set is not None, existing, value
    )
    assert quick == (check_bid(r, Hierarchy(campaign, network, ad_set, existing)).message is None)
