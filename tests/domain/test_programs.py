"""Approval decisions, a publisher's standing, and the link parameters programs add."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auctera.domain.programs import (
    Application,
    ApprovalStatus,
    DecisionRefused,
    RejectReason,
    best_status,
    decide,
    transaction_type,
)
from auctera.domain.tracking import LinkError, click_url, deep_link_allowed, parse_link

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PENDING = Application(
    id=1,
    program_id=2,
    account_id=3,
    publisher_id=4,
    channel_id=5,
    status=ApprovalStatus.PENDING,
    applied_at=NOW,
)


def test_rejecting_needs_a_documented_reason_and_keeps_its_text() -> None:
    with pytest.raises(DecisionRefused) as refused:
        decide(PENDING, ApprovalStatus.REJECTED, None, NOW)
    assert refused.value.field == "rejectReason"
    rejected = decide(PENDING, ApprovalStatus.REJECTED, RejectReason(3), NOW)
    assert (rejected.status, rejected.reject_reason, rejected.reason_text) == (
        ApprovalStatus.REJECTED,
        RejectReason.NOT_FOUND_ON_SITE,
        "404 on site",
    )
    assert (
        decide(PENDING, ApprovalStatus.REJECTED, RejectReason(12), NOW, reason_text=" Old ").reason_text
        == "Old"
    )
    assert [r.text for r in RejectReason][11] == "Traffic is not relevant"
    assert len(RejectReason) == 13


def test_approving_clears_an_earlier_rejection_and_pending_is_no_decision() -> None:
    rejected = decide(PENDING, ApprovalStatus.REJECTED, RejectReason.POOR_DESIGN, NOW)
    approved = decide(rejected, ApprovalStatus.APPROVED, None, NOW)
    assert (approved.status, approved.reject_reason, approved.reason_text, approved.decided_at) == (
        ApprovalStatus.APPROVED,
        None,
        None,
        NOW,
    )
    with pytest.raises(DecisionRefused):
        decide(approved, ApprovalStatus.PENDING, None, NOW)
    assert ApprovalStatus.PENDING.label == "pending_manual_review"


def test_best_status_prefers_approved_then_pending() -> None:
    a, p, r = ApprovalStatus.APPROVED, ApprovalStatus.PENDING, ApprovalStatus.REJECTED
    assert best_status([r, p, a]) is a
    assert best_status([r, p]) is p
    assert best_status([r]) is r
    assert best_status([]) is None


def test_transaction_types_follow_seed_003() -> None:
    assert transaction_type("purchase") == 3
    assert transaction_type("lead") == 1
    assert transaction_type("newsletter_optin") == 0


def test_program_links_carry_channel_epi_product_and_deep_url() -> None:
    url = click_url("https://trk.example", 36, 37, 38, epi="PlayStation 5", product_id=39)
    assert url == "https://trk.example/click?o=10&p=11&ch=12&epi=PlayStation%205&pr=13"
    link = parse_link(url.partition("?")[2])
    assert (link.campaign_id, link.publisher_id, link.channel_id, link.epi, link.product_id) == (
        36,
        37,
        38,
        "PlayStation 5",
        39,
    )
    deep = click_url("https://trk.example", 36, 37, 38, deep_url="https://shop.example.com/p/1?x=1")
    assert parse_link(deep.partition("?")[2]).deep_url == "https://shop.example.com/p/1?x=1"
    for bad in ("o=10&ch=zz!", "o=10&url=javascript:alert(1)", "o=10&url=/relative", "o=10&pr=-"):
        with pytest.raises(LinkError):
            parse_link(bad)


def test_deep_links_stay_on_the_advertisers_sites() -> None:
    sites = ["https://www.shop.example.com/landing", None, "brand.example"]
    assert deep_link_allowed("https://shop.example.com/p/1", sites)
    assert deep_link_allowed("https://m.shop.example.com/p/1", sites)
    assert deep_link_allowed("http://brand.example/x", sites)
    assert not deep_link_allowed("https://evil.example/shop.example.com", sites)
    assert not deep_link_allowed("https://shop.example.com.evil.example/", sites)
    assert not deep_link_allowed("https://evilshop.example.com/", sites)
