"""What `auctera webhooks work --until-idle` reports when it exits, on both state backends: how
many deliveries are pending and when the first is next due, a retry's time or the end of the
lease a worker holds a delivery by, to the microsecond."""

from __future__ import annotations

from datetime import timedelta

from auctera.services.conversions import Postback
from auctera.services.webhooks import Outcome

from .test_webhooks import World, _queue_one, world  # noqa: F401 - the fixture


def test_scheduled_is_the_earliest_retry_or_lease_end(world: World) -> None:  # noqa: F811
    w = world.webhooks
    assert w.scheduled() == (0, None)
    _queue_one(world)
    assert w.due() and w.scheduled() == (1, world.clock.now)  # due now

    (d,) = w.claim(1, timedelta(seconds=30))
    assert not w.due()  # leased: in flight, due again when the lease runs out
    assert w.scheduled() == (1, world.clock.now + timedelta(seconds=30))
    (after,) = w.record([d], [Outcome(d.id, 500, None, 3.0, retry_after=7200)])
    assert after.next_attempt_at >= world.clock.now + timedelta(hours=2)
    assert not w.due() and w.scheduled() == (1, after.next_attempt_at)

    second_click = Postback(world.click(world.offers[0]), "purchase", 1, None)
    world.conversions.record(world.advertiser, second_click, None)  # a second delivery, due now
    assert w.scheduled() == (2, world.clock.now)
    (second,) = w.claim(1, timedelta(seconds=45))
    w.record([second], [Outcome(second.id, None, "ConnectError", 1.0)])  # the backoff, with jitter
    (retried,) = [x for x in world.pending() if x.id == second.id]
    assert retried.next_attempt_at.microsecond  # found to the microsecond
    assert w.scheduled() == (2, retried.next_attempt_at)  # the earlier of the two retries
