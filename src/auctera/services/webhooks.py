"""Publisher postbacks (outbound webhooks): the publishers' postback URLs, the outbox rows a
conversion or reversal queues in its own transaction, the worker's claim and outcome bookkeeping,
the delivery log, dead letters and replay. Sending is the worker's (jobs/webhooks.py).

Delivery is at least once: a row is claimed with a lease (`locked_until`), sent, and only then
marked; a worker killed in between leaves the row to be claimed again once its lease runs out, and
the receiver sees the same `webhook-id` twice.

A publisher's postbacks and their deliveries are its own alone over the API: any other key (an
advertiser's, the operator's network keys) gets 403 on the lists and 404 on ids, so it can neither
read nor change them nor learn which exist. The operator sees and replays every publisher's
deliveries from the host (`auctera webhooks dead|replay|stats`).
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.conversions import Conversion
from auctera.domain.webhooks import (
    DELIVERY_PREFIX,
    FIRST_RETRY,
    KEPT_ATTEMPTS,
    METHODS,
    POSTBACK_PREFIX,
    Attempt,
    Delivery,
    DeliveryState,
    PostbackStatus,
    PublisherPostback,
    check_event,
    check_url_shape,
    macro_values,
    new_secret,
    next_attempt,
    render_url,
)
from auctera.errors import Forbidden, NotFound, ValidationFailed
from auctera.services.clock import Clock, Ids
from auctera.services.offers import approved_private_offer, is_open
from auctera.services.outbound import Resolver, internal_host
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory

OFFER_PREFIX = "off"  # as services/offers.py renders an offer (a campaign)
TRANSACTION_PREFIX = "txn"
MAX_PAGE = 500
MAX_CACHED = 65_536  # publishers whose postbacks are cached


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt got: a status code, or an error (connect failure, timeout, refusal)."""

    delivery_id: int
    status_code: int | None
    error: str | None
    latency_ms: float
    retry_after: float | None = None  # seconds, from a Retry-After header


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None


class PostbackOutbox:
    """The outbox rows a conversion queues: one per matching active postback of its publisher.
    Postbacks are read through a short cache, so the group-commit path pays no query per postback."""

    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock, cache_seconds: float) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._seconds = cache_seconds
        self._cache: dict[int, tuple[float, tuple[PublisherPostback, ...]]] = {}
        self._lock = threading.Lock()

    def postbacks(self, publisher_id: int, uow: UnitOfWork | None = None) -> tuple[PublisherPostback, ...]:
        """The publisher's postbacks, read at most `cache_seconds` ago: a postback created, paused
        or resumed in another process applies within that delay (in this one, at once). Read
        through `uow` when given (the conversion's transaction: no second connection held)."""
        now = time.monotonic()
        held = self._cache.get(publisher_id)
        if held is not None and now - held[0] < self._seconds:
            return held[1]
        value = (
            tuple(uow.webhooks.postbacks_of(publisher_id)) if uow is not None else self._load(publisher_id)
        )
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[publisher_id] = (now, value)
        return value

    def forget(self, publisher_id: int) -> None:
        """Drop a publisher's cached postbacks (after a change in this process)."""
        with self._lock:
            self._cache.pop(publisher_id, None)

    def _load(self, publisher_id: int) -> tuple[PublisherPostback, ...]:
        with self._uow(read_only=True) as uow:
            return tuple(uow.webhooks.postbacks_of(publisher_id))

    def deliveries_for(
        self, conversion: Conversion, event: str, status: str, uow: UnitOfWork | None = None
    ) -> list[Delivery]:
        if conversion.publisher_id is None:
            return []
        found = self.postbacks(conversion.publisher_id, uow)
        matching = [p for p in found if p.matches(event, conversion.campaign_id)]
        if not matching:
            return []
        now = self._clock()
        values = macro_values(
            click_id=idfmt.render(idfmt.CLICK_PREFIX, conversion.click_id),
            payout_micros=conversion.payout_micros,
            currency=conversion.currency,
            geo=conversion.attrs.get("country"),
            offer_id=idfmt.render(OFFER_PREFIX, conversion.campaign_id),
            transaction_id=idfmt.render(TRANSACTION_PREFIX, conversion.id),
            event=event,
            status=status,
            attrs=conversion.attrs,
        )
        return [
            Delivery(
                id=self._ids.next_id(),
                postback_id=p.id,
                account_id=p.account_id,
                transaction_id=conversion.id,
                method=p.method,
                url=render_url(p.url, values),
                payload=values,
                state=DeliveryState.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            for p in matching
        ]

    def enqueue(self, uow: UnitOfWork, items: Sequence[tuple[Conversion, str, str]]) -> int:
        """Queue the deliveries of (conversion, event, status) in `uow`'s transaction, in bulk."""
        rows = [d for c, event, status in items for d in self.deliveries_for(c, event, status, uow)]
        uow.webhooks.add_deliveries(rows)
        return len(rows)


def _may_run(uow: UnitOfWork, offer_id: int, publisher: int) -> bool:
    """Whether the publisher may run the offer, as GET /v2/offers and its links decide: anything
    else (another tenant's private, paused or non-affiliate campaign) is as unknown as an id that
    never existed, so registering a postback is no oracle of other tenants' campaigns."""
    campaign = uow.campaigns.get(offer_id)
    return campaign is not None and (is_open(campaign) or approved_private_offer(uow, campaign, publisher))


_ALLOW_PRIVATE = "the operator may allow such targets with AUCTERA_WEBHOOK_ALLOW_PRIVATE=true"


class WebhookService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: Ids,
        clock: Clock,
        outbox: PostbackOutbox,
        resolve: Resolver,
        *,
        allow_private: bool = False,
        first_retry: timedelta = FIRST_RETRY,
        rng: random.Random | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self.outbox = outbox
        self._resolve = resolve
        self.allow_private = allow_private
        self._first_retry = first_retry
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()

    # --- the publisher's postbacks ------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        event: str,
        url: str,
        method: str = "GET",
        offer_id: str | None = None,
        status: str = PostbackStatus.ACTIVE.value,
    ) -> PublisherPostback:
        if principal.kind is not AccountKind.PUBLISHER:
            raise Forbidden("postbacks are registered by the publisher whose conversions they report")
        why = check_event(event)
        if why:
            raise ValidationFailed(why, field="event")
        method = method.upper()
        if method not in METHODS:
            raise ValidationFailed("method must be GET or POST", field="method")
        try:
            initial = PostbackStatus(status)
        except ValueError:
            raise ValidationFailed("status must be active or paused", field="status") from None
        self.check_target(url)
        offer = None
        if offer_id is not None:
            offer = idfmt.parse(OFFER_PREFIX, offer_id)
            if offer is None:
                raise ValidationFailed(f"not an offer id: {offer_id!r}", field="offer_id")
        now = self._clock()
        postback = PublisherPostback(
            id=self._ids.next_id(),
            account_id=principal.account_id,
            event=event,
            url=url,
            method=method,
            offer_id=offer,
            status=initial,
            secret=new_secret(secrets.token_bytes(24)),
            created_at=now,
            updated_at=now,
        )
        with self._uow() as uow:
            if offer is not None and not _may_run(uow, offer, principal.account_id):
                raise ValidationFailed(f"no offer {offer_id}", field="offer_id")
            uow.webhooks.add_postback(postback)
            uow.commit()
        self.outbox.forget(principal.account_id)
        return postback

    def list_postbacks(self, principal: Principal) -> list[PublisherPostback]:
        self._publisher(principal)
        with self._uow(read_only=True) as uow:
            return uow.webhooks.postbacks_of(principal.account_id)

    def set_status(self, principal: Principal, postback_id: str, status: str) -> PublisherPostback:
        try:
            wanted = PostbackStatus(status)
        except ValueError:
            raise ValidationFailed("status must be active or paused", field="status") from None
        with self._uow() as uow:
            found = self._own_postback(uow, principal, postback_id)
            changed = replace(found, status=wanted, updated_at=self._clock())
            uow.webhooks.set_status(found.id, wanted, changed.updated_at)
            uow.commit()
        self.outbox.forget(found.account_id)
        return changed

    def check_target(self, url: str, field: str = "url", *, must_resolve: bool = False) -> None:
        """Refuse URLs that are malformed or whose host resolves to a private, loopback,
        link-local or reserved address (unless the operator allows them). A host that does not
        resolve (yet) is accepted when the postback is made, refused when it is delivered."""
        why = check_url_shape(url)
        if why:
            raise ValidationFailed(why, field=field)
        if self.allow_private:
            return
        host = urlsplit(url).hostname or ""
        why = internal_host(host, self._resolve, must_resolve=must_resolve, allowed_by=_ALLOW_PRIVATE)
        if why is not None:
            raise ValidationFailed(why, field=field)

    def target_refused(self, url: str) -> str | None:
        """At delivery time (DNS may have changed since): why the target is refused, else None."""
        try:
            self.check_target(url, must_resolve=True)
        except ValidationFailed as refused:
            return refused.message
        return None

    # --- the delivery log, dead letters, replay ---------------------------------------------------

    def deliveries(
        self,
        principal: Principal,
        *,
        postback_id: str | None = None,
        state: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> DeliveryPage:
        wanted = None
        if state is not None:
            try:
                wanted = DeliveryState(state)
            except ValueError:
                raise ValidationFailed("state must be pending, delivered or dead", field="state") from None
        after = None
        if cursor is not None:
            after = idfmt.parse(DELIVERY_PREFIX, cursor)
            if after is None:
                raise ValidationFailed("not a cursor from this list", field="cursor")
        limit = max(1, min(limit, MAX_PAGE))
        if postback_id is None:
            self._publisher(principal)
        with self._uow(read_only=True) as uow:
            pb = None
            if postback_id is not None:  # anyone else's postback (an advertiser's, a network's): 404
                pb = self._own_postback(uow, principal, postback_id).id
            found = uow.webhooks.deliveries(
                principal.account_id, postback_id=pb, state=wanted, after=after, limit=limit + 1
            )
        more = len(found) > limit
        found = found[:limit]
        return DeliveryPage(found, idfmt.render(DELIVERY_PREFIX, found[-1].id) if more else None)

    def replay(self, principal: Principal, delivery_id: str) -> Delivery:
        """Queue a delivery again now (a dead letter, or one delivered before), for another 72 hours."""
        parsed = idfmt.parse(DELIVERY_PREFIX, delivery_id)
        with self._uow() as uow:
            found = uow.webhooks.delivery(parsed) if parsed is not None else None
            if found is None or found.account_id != principal.account_id:  # only its publisher's
                raise NotFound(f"delivery {delivery_id} not found", field="delivery_id")
            now = self._clock()
            uow.webhooks.replay(found.id, now)
            uow.commit()
        return replace(found, state=DeliveryState.PENDING, next_attempt_at=now, created_at=now)

    def replay_as_operator(self, delivery_id: str) -> Delivery:
        """`auctera webhooks replay`: the operator's replay of any delivery (from the host's shell:
        over the API, only the publisher replays its own)."""
        parsed = idfmt.parse(DELIVERY_PREFIX, delivery_id)
        with self._uow() as uow:
            found = uow.webhooks.delivery(parsed) if parsed is not None else None
            if found is None:
                raise NotFound(f"delivery {delivery_id} not found", field="delivery_id")
            now = self._clock()
            uow.webhooks.replay(found.id, now)
            uow.commit()
        return replace(found, state=DeliveryState.PENDING, next_attempt_at=now, created_at=now)

    def dead_letters(self, limit: int = MAX_PAGE) -> list[Delivery]:
        with self._uow(read_only=True) as uow:
            return uow.webhooks.deliveries(None, state=DeliveryState.DEAD, limit=limit)

    def counts(self) -> dict[str, int]:
        with self._uow(read_only=True) as uow:
            return uow.webhooks.count_by_state()

    def due(self) -> bool:
        """Whether a delivery is due now and held by no worker (one a worker could claim)."""
        with self._uow(read_only=True) as uow:
            return uow.webhooks.has_due(self._clock())

    def scheduled(self) -> tuple[int, datetime | None]:
        """The pending deliveries and when the first of them is next due (its retry, or the end of
        the lease a worker holds it by); None when none is pending."""
        with self._uow(read_only=True) as uow:
            pending = uow.webhooks.count_by_state().get(DeliveryState.PENDING.value, 0)
            return pending, uow.webhooks.next_due() if pending else None

    # --- the worker's side ------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def claim(
        self, limit: int, lease: timedelta, *, share: int | None = None, held: Mapping[int, int] | None = None
    ) -> list[Delivery]:
        """Up to `limit` due deliveries, leased. With a `share`: at most that many of a publisher's,
        less the rows the caller already holds of it (`held`, by account), every publisher's first
        due row before any's second (D60)."""
        now = self._clock()
        full = [a for a, n in (held or {}).items() if share is not None and n >= share]
        # A read first: an idle worker (most of the time), or one whose due rows are all of
        # publishers it holds in full, takes no write lock from the postbacks.
        with self._uow(read_only=True) as uow:
            if not uow.webhooks.has_due(now, full):
                return []
        with self._uow() as uow:
            claimed = uow.webhooks.claim(now, now + lease, limit, share=share, held=dict(held or {}))
            uow.commit()
        return claimed

    def record(self, claimed: Sequence[Delivery], outcomes: Sequence[Outcome]) -> list[Delivery]:
        """Write the attempts' outcomes: delivered (2xx), dead (410, or failing past 72 hours), else
        due again after the backoff (at least the receiver's Retry-After)."""
        by_id = {o.delivery_id: o for o in outcomes}
        now = self._clock()
        updated = []
        with self._rng_lock:
            for d in claimed:
                o = by_id.get(d.id)
                if o is not None:
                    updated.append(self._after(d, o, now))
        with self._uow() as uow:
            uow.webhooks.record_outcomes(updated)
            uow.commit()
        return updated

    def _after(self, d: Delivery, o: Outcome, now: datetime) -> Delivery:
        attempt = Attempt(now, o.status_code, o.error, o.latency_ms)
        log = (*d.log, attempt.as_dict())[-KEPT_ATTEMPTS:]
        attempts = d.attempts + 1
        common = {
            "attempts": attempts,
            "last_status_code": o.status_code,
            "last_error": o.error,
            "last_latency_ms": round(o.latency_ms, 3),
            "log": log,
        }
        if o.status_code is not None and 200 <= o.status_code < 300:
            return replace(d, state=DeliveryState.DELIVERED, delivered_at=now, **common)  # type: ignore[arg-type]
        if o.status_code == 410:  # the receiver says the endpoint is gone: stop
            return replace(d, state=DeliveryState.DEAD, **common)  # type: ignore[arg-type]
        at = next_attempt(attempts, d.created_at, now, self._rng, o.retry_after, self._first_retry)
        if at is None:
            return replace(d, state=DeliveryState.DEAD, **common)  # type: ignore[arg-type]
        return replace(d, next_attempt_at=at, **common)  # type: ignore[arg-type]

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _publisher(principal: Principal) -> None:
        if principal.kind is not AccountKind.PUBLISHER:
            raise Forbidden("postbacks belong to publishers; use a publisher's API key")

    @staticmethod
    def _own_postback(uow: UnitOfWork, principal: Principal, postback_id: str) -> PublisherPostback:
        """The caller's own postback. Anyone else's (the operator's network keys included: the
        seed gives them no say over a publisher's postbacks) is not found, as a missing one is."""
        parsed = idfmt.parse(POSTBACK_PREFIX, postback_id)
        found = uow.webhooks.postback(parsed) if parsed is not None else None
        if found is None or found.account_id != principal.account_id:
            raise NotFound(f"postback {postback_id} not found", field="postback_id")
        return found
