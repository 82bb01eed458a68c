"""check_bid on values far out of range: it range-checks before any arithmetic (scaling to micros,
the change's percentage overflow Decimal's context there), whatever built the row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from auctera.domain.bids import (
    OUT_OF_RANGE,
    BiddingSettings,
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
    exact_value,
)

AT = datetime(2025, 1, 1, tzinfo=UTC)
NETWORK = Network(
    1, 1, "Unity", PartnerKind.AUCTERA, None, {},
    BiddingSettings(enabled=True, decimal_precision=6, max_change_percent=50),
    {}, {}, RequiredAttributes(), AT, AT,
)  # fmt: skip
CAMPAIGN = NetworkCampaign(2, 1, 1, "Spring", frozenset({"DE"}), OptimizationType.CPI, {}, None, None, AT, AT)
RUNNING = StoredBid(9, 1_000_000, BidStatus.SUCCESS, 9, 1_000_000)  # the network runs 1 USD


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1E+999999", Reason.BELOW_MINIMUM),
        ("-1e30", Reason.BELOW_MINIMUM),
        ("-1e400", Reason.BELOW_MINIMUM),
        ("-1000000000.000001", Reason.BELOW_MINIMUM),
        ("1e30", OUT_OF_RANGE),
        ("1E+999999", OUT_OF_RANGE),
        ("9" * 40 + "E+999960", OUT_OF_RANGE),  # normalize() overflows on it
        ("NaN", OUT_OF_RANGE),
        ("-Infinity", OUT_OF_RANGE),
    ],
)
def test_a_value_out_of_range_is_rejected_without_a_change(value: str, message: str) -> None:
    row = BidRow(2, None, "DE", None, Decimal(value))
    verdict = check_bid(row, Hierarchy(CAMPAIGN, NETWORK, None, RUNNING))
    assert verdict.message == message
    assert verdict.delta.change_percentage is None  # none is computed from an impossible value
    assert verdict.delta.old_value == 1
    assert exact_value(Decimal(value)) is None
    assert not UploadRules(NETWORK, CAMPAIGN).accepts(row, True, RUNNING, None)


def test_the_bounds_themselves_are_judged_by_the_rules() -> None:
    for value, change in (("1.5", "50.00"), ("-1000000000", "-100000000100.00")):
        row = BidRow(2, None, "DE", None, Decimal(value))
        assert check_bid(row, Hierarchy(CAMPAIGN, NETWORK, None, RUNNING)).delta.change_percentage == Decimal(
            change
        )
    top = BidRow(2, None, "DE", None, Decimal("1000000000"))
    assert check_bid(top, Hierarchy(CAMPAIGN, NETWORK, None, None)).message is None


@pytest.mark.parametrize(
    ("value", "places"), [("1." + "0" * 50 + "1", 51), ("0.250000", 2), ("1E+3", 0), ("0E-9", 0), ("-0.0", 0)]
)
def test_decimal_places_count_the_digits_as_sent(value: str, places: int) -> None:
    found = exact_value(Decimal(value))
    assert found is not None and found.places == places
