"""The check pipeline: URL rules, the blocklist, input validation (first problem) and review (all reasons)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from auctera.domain.campaigns import Budget, Campaign, CampaignStatus, CampaignType, Targeting
from auctera.domain.compliance import (
    CheckContext,
    domain_suffixes,
    host_of,
    normalize_domain,
    review,
    url_problems,
    validate,
)
from auctera.errors import ValidationFailed

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CTX = CheckContext(countries=frozenset({"US", "CA"}), currency="USD")


def campaign(**changes: object) -> Campaign:
    base = Campaign(
        id=1,
        account_id=7,
        name="Holiday Promo",
        type=CampaignType.DSP_RETARGETING,
        status=CampaignStatus.PENDING_REVIEW,
        budget=Budget("USD", total_micros=10_000_000_000),
        created_at=NOW,
        updated_at=NOW,
        destination_url="https://shop.example.com/sale?cid={click_id}",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/sale?cid={click_id}&s={sub_id1}",
        "http://example.com",
        "https://Shop.Example.COM:8443/p",
        "https://bücher.example/x",
    ],
)
def test_good_urls(url: str) -> None:
    assert url_problems(url) == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/file", "http"),
        ("shop.example.com/sale", "http"),
        ("https://example.com/{clickid}", "unknown macro {clickid}"),
        ("https://{click_id}.example.com/", "not the host"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com:99999/", "port"),
        ("https://exa mple.com/", "spaces"),
        ("https://localhost/", "public host name"),
        ("https://-bad-.example.com/", "public host name"),
        ("https://example.com/" + "a" * 2100, "at most 2048"),
    ],
)
def test_bad_urls(url: str, says: str) -> None:
    problems = url_problems(url)
    assert [p.field for p in problems] == ["destination_url"]
    assert says in problems[0].message


def test_domains() -> None:
    assert normalize_domain(" Shop.Example.COM. ") == "shop.example.com"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"
    for bad in ("", "exa mple.com", "under_score.com", "a..b", "-x.com"):
        with pytest.raises(ValueError):
            normalize_domain(bad)
    assert domain_suffixes("a.shop.example.com") == [
        "a.shop.example.com",
        "shop.example.com",
        "example.com",
        "com",
    ]
    assert host_of("https://A.Example.com:8443/x?{click_id}") == "a.example.com"
    assert host_of("not a url") is None


def test_validate_raises_the_first_problem_with_its_field() -> None:
    validate(campaign(), CTX)
    with pytest.raises(ValidationFailed) as raised:
        validate(campaign(name=" ", targeting=Targeting.of(geo=["XX"])), CTX)
    assert raised.value.field == "name"
    with pytest.raises(ValidationFailed) as raised:
        validate(campaign(budget=Budget("EUR", daily_micros=1_000_000)), CTX)
    assert raised.value.field == "budget.currency"


def test_review_passes_a_clean_campaign() -> None:
    assert review(campaign(), CTX) == ()


def test_review_rejects_a_blocklisted_destination_and_its_subdomains() -> None:
    blocked = replace(CTX, blocked_domains=frozenset({"example.com"}))
    reasons = review(campaign(), blocked)
    assert reasons == ("destination_url: shop.example.com is on the network's blocklist (via example.com)",)
    assert review(campaign(destination_url="https://example.org/"), blocked) == ()


def test_review_collects_every_reason() -> None:
    bad = campaign(
        type=CampaignType.AFFILIATE_CPA,
        destination_url="https://shop.example.com/{oops}",
        budget=Budget("USD", daily_micros=0),
    )
    reasons = review(bad, CTX)
    assert len(reasons) == 3
    assert any(r.startswith("destination_url: unknown macro") for r in reasons)
    assert any(r.startswith("budget.daily") for r in reasons)
    assert any(r.startswith("payout") for r in reasons)


def test_a_campaign_without_destination_passes() -> None:
    # DSP campaigns may carry their landing pages on creatives; nothing to check at campaign level.
    assert review(campaign(destination_url=None), replace(CTX, blocked_domains=frozenset({"com"}))) == ()
