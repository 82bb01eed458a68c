"""Publisher postbacks on both state backends: the outbox rows a conversion and a reversal queue in
their own transaction, macros, the claim lease, outcomes (delivered, retried with backoff and
Retry-After, dead on 410 or after 72 hours), replay, and the address checks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from itertools import count
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from standardwebhooks import Webhook

from auctera.bootstrap import resolve_host
from auctera.domain.accounts import Principal
from auctera.domain.campaigns import BudgetPatch, CampaignPatch, CampaignType
from auctera.domain.conversions import ReversalReason
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import Verdict
from auctera.domain.ids import IdGenerator, render
from auctera.domain.webhooks import (
    GIVE_UP_AFTER,
    MAX_WAIT,
    Delivery,
    DeliveryState,
    check_url_shape,
    forbidden_address,
    macro_values,
    next_attempt,
    render_url,
    sign,
)
from auctera.errors import Forbidden, NotFound, ValidationFailed
from auctera.events import DuckDBEventStore
from auctera.services.accounts import AccountService
from auctera.services.caching import CachedLookups
from auctera.services.campaigns import CampaignService
from auctera.services.conversions import ConversionService, Postback
from auctera.services.webhooks import Outcome, PostbackOutbox, WebhookService
from auctera.store.uow import SqlUnitOfWorkFactory
from support.clock import FrozenClock


def _principal(account: object) -> Principal:
    return Principal(account.id, account.kind, account.timezone, account.currency, None, "k")  # type: ignore[attr-defined]


class World:
    def __init__(self, uow: SqlUnitOfWorkFactory, events: DuckDBEventStore, clock: FrozenClock) -> None:
        ticks = count(int(clock.now.timestamp() * 1000))
        self.ids = IdGenerator(1, lambda: next(ticks))
        self.clock, self.events, self.uow = clock, events, uow
        accounts = AccountService(uow, self.ids, clock, rotation_grace=timedelta(hours=1))
        campaigns = CampaignService(uow, self.ids, clock, events)
        self.advertiser = _principal(accounts.create_account("Acme", "advertiser").account)
        self.publisher = _principal(accounts.create_account("Pub", "publisher").account)
        self.other_publisher = _principal(accounts.create_account("Other", "publisher").account)
        self.offers = [self._offer(campaigns, n) for n in range(2)]
        self.outbox = PostbackOutbox(uow, self.ids, clock, 60.0)
        self.webhooks = WebhookService(
            uow, self.ids, clock, self.outbox, resolve_host, allow_private=True, rng=random.Random(1)
        )
        self.clicks: dict[int, Event] = {}
        self.conversions = ConversionService(
            uow,
            events,
            self.ids,
            clock,
            find_click=self.clicks.get,
            screen=lambda click, at: Verdict(),
            default_fraud_threshold=0.8,
            lookups=CachedLookups(uow, 2.0),
            outbox=self.outbox,
        )

    def _offer(self, campaigns: CampaignService, n: int) -> int:
        patch = CampaignPatch(
            name=f"Offer {n}",
            budget=BudgetPatch(total_micros=10**12),
            payout_micros=12_500_000,
            destination_url="https://shop.example.com/?c={click_id}",
        )
        offer = campaigns.create(self.advertiser, CampaignType.AFFILIATE_CPA, patch).id
        campaigns.review(offer)
        return offer

    def click(self, offer: int, publisher: Principal | None = None, **attrs: str) -> str:
        click = Event(
            id=self.ids.next_id(),
            type=EventType.CLICK,
            at=self.clock.now,
            account_id=self.advertiser.account_id,
            campaign_id=offer,
            publisher_id=(publisher or self.publisher).account_id,
            country="DE",
            attrs={"uid": "u1", **attrs},
        )
        self.events.append(click)
        self.clicks[click.id] = click
        return render("auc", click.id)

    def pending(self) -> list[Delivery]:
        with self.uow(read_only=True) as uow:
            return uow.webhooks.deliveries(None, state=DeliveryState.PENDING, limit=1000)


@pytest.fixture
def world(uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> Iterator[World]:
    with DuckDBEventStore(tmp_path / "events", "t", compact_interval=None) as events:
        yield World(uow_factory, events, FrozenClock())


def test_a_conversion_queues_one_delivery_per_matching_postback(world: World) -> None:
    w = world.webhooks
    offer, other = world.offers
    glob = w.create(world.publisher, "purchase", "https://t.example/pb?cid={click_id}&p={payout}&s={sub_id1}")
    only = w.create(
        world.publisher, "purchase", "https://t.example/o?o={offer_id}", "POST", render("off", offer)
    )
    w.create(world.publisher, "purchase", "https://t.example/x", offer_id=render("off", other))  # other offer
    w.create(world.publisher, "lead", "https://t.example/lead")  # other event
    w.create(world.publisher, "purchase", "https://t.example/paused", status="paused")
    w.create(world.other_publisher, "purchase", "https://t.example/theirs")  # other publisher

    click = world.click(offer, sub_id1="a b&c")
    conversion = world.conversions.record(
        world.advertiser, Postback(click, "purchase", 10_000_000, None), None
    )
    queued = {d.postback_id: d for d in world.pending()}
    assert set(queued) == {glob.id, only.id}
    query = parse_qs(urlsplit(queued[glob.id].url).query)
    assert query == {"cid": [click], "p": ["12.5"], "s": ["a b&c"]}  # values URL-encoded into the URL
    assert "a%20b%26c" in queued[glob.id].url
    assert queued[only.id].method == "POST"
    assert queued[only.id].payload["offer_id"] == render("off", offer)
    assert queued[only.id].payload["transaction_id"] == render("txn", conversion.id)
    assert queued[only.id].payload["geo"] == "DE"
    assert queued[only.id].payload["status"] == "approved"

    # A retry of the same postback is the same conversion: nothing more is queued.
    world.conversions.record(world.advertiser, Postback(click, "purchase", 10_000_000, None), None)
    assert len(world.pending()) == 2


def test_a_group_commit_queues_every_conversion_and_a_reversal_queues_its_own(world: World) -> None:
    from auctera.services.conversions import PostbackRequest

    world.webhooks.create(world.publisher, "purchase", "https://t.example/pb?t={transaction_id}")
    rev = world.webhooks.create(
        world.publisher, "reversal", "https://t.example/rev?t={transaction_id}&s={status}"
    )
    requests = [
        PostbackRequest(
            world.advertiser, Postback(world.click(world.offers[0]), "purchase", 1_000_000, None), None
        )
        for _ in range(20)
    ]
    converted = world.conversions.record_many(requests)
    assert len(world.pending()) == 20
    first = converted[0]
    assert not isinstance(first, Exception)
    world.conversions.reverse(world.advertiser, render("txn", first.id), ReversalReason.REFUND)
    reversal = [d for d in world.pending() if d.postback_id == rev.id]
    assert len(reversal) == 1 and reversal[0].payload["status"] == "reversed"
    assert reversal[0].payload["event"] == "reversal"
    # Reversing again changes nothing, queues nothing.
    world.conversions.reverse(world.advertiser, render("txn", first.id), ReversalReason.REFUND)
    assert len(world.pending()) == 21


def _queue_one(world: World, url: str = "https://t.example/pb") -> Delivery:
    world.webhooks.create(world.publisher, "purchase", url)
    world.conversions.record(
        world.advertiser, Postback(world.click(world.offers[0]), "purchase", 1, None), None
    )
    (queued,) = world.pending()
    return queued


def test_claims_lease_rows_and_a_lapsed_lease_frees_them(world: World) -> None:
    queued = _queue_one(world)
    (claimed,) = world.webhooks.claim(10, timedelta(seconds=30))
    assert claimed.id == queued.id and claimed.secret.startswith("whsec_")
    assert world.webhooks.claim(10, timedelta(seconds=30)) == []  # leased: no second worker gets it
    world.clock.now += timedelta(seconds=31)  # the worker died: its lease runs out
    assert [d.id for d in world.webhooks.claim(10, timedelta(seconds=30))] == [queued.id]


def test_outcomes_deliver_retry_and_dead_letter(world: World) -> None:
    queued = _queue_one(world)
    w = world.webhooks
    (d,) = w.claim(1, timedelta(seconds=30))
    (after,) = w.record([d], [Outcome(d.id, 500, None, 3.0)])
    assert (
        after.state is DeliveryState.PENDING
        and after.attempts == 1
        and after.next_attempt_at > world.clock.now
    )
    assert w.claim(1, timedelta(seconds=30)) == []  # not due yet
    world.clock.now = after.next_attempt_at
    (d,) = w.claim(1, timedelta(seconds=30))
    (after,) = w.record([d], [Outcome(d.id, 429, None, 1.0, retry_after=600)])
    assert after.next_attempt_at >= world.clock.now + timedelta(seconds=600)  # Retry-After honoured
    world.clock.now = after.next_attempt_at
    (d,) = w.claim(1, timedelta(seconds=30))
    (after,) = w.record([d], [Outcome(d.id, 204, None, 2.0)])
    assert after.state is DeliveryState.DELIVERED and after.attempts == 3
    assert [a["status_code"] for a in after.log] == [500, 429, 204]
    page = w.deliveries(world.publisher, postback_id=render("pb", queued.postback_id))
    assert [x.state for x in page.deliveries] == [DeliveryState.DELIVERED]


def test_a_410_stops_at_once_and_a_dead_letter_can_be_replayed(world: World) -> None:
    queued = _queue_one(world)
    w = world.webhooks
    (d,) = w.claim(1, timedelta(seconds=30))
    (after,) = w.record([d], [Outcome(d.id, 410, None, 1.0)])
    assert after.state is DeliveryState.DEAD and after.attempts == 1
    dead = w.deliveries(world.publisher, state="dead").deliveries
    assert [x.id for x in dead] == [queued.id]
    with pytest.raises(NotFound):  # another publisher's delivery does not exist for it
        w.replay(world.other_publisher, after.webhook_id)
    with pytest.raises(NotFound):
        w.replay(world.advertiser, after.webhook_id)
    w.replay(world.publisher, after.webhook_id)
    assert [x.id for x in w.claim(1, timedelta(seconds=30))] == [queued.id]


def test_failures_for_72_hours_dead_letter_the_delivery(world: World) -> None:
    _queue_one(world)
    w = world.webhooks
    attempts = 0
    while True:
        claimed = w.claim(1, timedelta(seconds=30))
        if not claimed:
            break
        (after,) = w.record(claimed, [Outcome(claimed[0].id, None, "ConnectError", 0.5)])
        attempts += 1
        if after.state is DeliveryState.DEAD:
            break
        world.clock.now = after.next_attempt_at
    assert after.state is DeliveryState.DEAD
    assert after.next_attempt_at - after.created_at <= GIVE_UP_AFTER
    assert 70 < attempts < 200  # an hour apart at most once the backoff has grown


def test_the_backoff_doubles_with_jitter_up_to_an_hour() -> None:
    clock = FrozenClock()
    rng = random.Random(3)
    waits = [next_attempt(n, clock.now, clock.now, rng) for n in range(1, 16)]
    assert all(w is not None for w in waits)
    seconds = [(w - clock.now).total_seconds() for w in waits if w is not None]
    assert 2.5 <= seconds[0] <= 5 and 5 <= seconds[1] <= 10
    assert max(seconds) <= MAX_WAIT.total_seconds()
    assert next_attempt(5, clock.now - GIVE_UP_AFTER, clock.now, rng) is None


def test_signatures_verify_with_the_reference_library() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    clock = FrozenClock()
    stamp = int(clock.now.timestamp())
    body = b'{"click_id":"auc_1"}'
    ours = sign(secret, "msg_abc", stamp, body)
    assert ours == Webhook(secret).sign("msg_abc", clock.now, body.decode())


def test_macros_are_url_encoded_and_unknown_ones_refused(world: World) -> None:
    assert render_url("https://x/?a={geo}&b={sub_id2}", {"geo": "DE", "sub_id2": "ü/?"}) == (
        "https://x/?a=DE&b=%C3%BC%2F%3F"
    )
    with pytest.raises(ValidationFailed) as refused:
        world.webhooks.create(world.publisher, "purchase", "https://t.example/?x={nope}")
    assert refused.value.field == "url"
    with pytest.raises(ValidationFailed) as refused:
        world.webhooks.create(world.publisher, "Purchase!", "https://t.example/")
    assert refused.value.field == "event"
    with pytest.raises(Forbidden):
        world.webhooks.create(world.advertiser, "purchase", "https://t.example/")


@pytest.mark.parametrize(
    ("micros", "payout"), [(100_000_000, "100"), (12_500_000, "12.5"), (10_000, "0.01"), (0, "0")]
)
def test_the_payout_macro_is_a_plain_decimal(micros: int, payout: str) -> None:
    values = macro_values(
        click_id="auc_1", payout_micros=micros, currency="SEK", geo=None, offer_id="off_1",
        transaction_id="txn_1", event="purchase", status="approved", attrs={},
    )  # fmt: skip
    assert values["payout"] == payout  # never 1E+2, which a tracker would read as text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/pb",
        "http://localhost/pb",
        "http://10.1.2.3/pb",
        "http://192.168.0.1/pb",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/pb",
        "http://0.0.0.0/pb",
        "ftp://tracker.example/pb",
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(world: World, url: str) -> None:
    strict = WebhookService(world.uow, world.ids, world.clock, world.outbox, resolve_host)
    with pytest.raises(ValidationFailed) as refused:
        strict.create(world.publisher, "purchase", url)
    assert refused.value.field == "url"
    assert strict.target_refused(url) is not None  # checked again at delivery time


def test_addresses() -> None:
    assert forbidden_address("127.0.0.1") and forbidden_address("::ffff:10.0.0.1")
    assert forbidden_address("fe80::1") and forbidden_address("100.64.0.1")
    assert not forbidden_address("93.184.216.34") and not forbidden_address("2606:4700::1111")


@pytest.mark.parametrize(
    "url",
    [
        "https://tracker.com/a\r\nX-Injected: y",
        "https://trac ker.com/a",
        "https://t.com/a\tb",
        "https://tracker.com:0/",
    ],
)
def test_a_url_no_client_could_call_is_refused_at_registration(url: str) -> None:
    # urlsplit drops CR, LF and tabs without a word: the check must look at the text itself.
    assert check_url_shape(url) is not None
    assert check_url_shape("https://tracker.com/pb?c={click_id}&n=%20x") is None
