"""Conversions: S2S postbacks, reversals, the fraud log.

A conversion is written to the state store first (its row is the idempotency record and what
reversals and the fraud log read), then its event to the event log (what every report sums),
and only then answered. The next batch's transaction marks the row `logged` (`LoggedMarks`). A
crash between the two writes leaves a row without its event: the sweep (`log_pending`, every 30 s)
checks rows not yet marked once they are older than any request could still be in flight,
appends the events the log lacks and marks the rows, so an acknowledged conversion always
reaches the reports, exactly once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pycountry

from auctera.domain import ids as idfmt
from auctera.domain.accounts import Account, AccountKind, Principal
from auctera.domain.budgets import local_day
from auctera.domain.campaigns import AFFILIATE_TYPES, Campaign, CampaignType
from auctera.domain.conversions import (
    EVENT_TYPE,
    MAX_CLOCK_SKEW,
    MAX_EVENT_AGE,
    Conversion,
    ConversionStatus,
    ReversalReason,
    ReversalRefused,
    convert,
    dedup_key,
    reverse,
)
from auctera.domain.events import Event, EventType
from auctera.domain.fraud import Verdict
from auctera.domain.money import MAX_AMOUNT, MICROS
from auctera.domain.programs import ApprovalStatus, Commission, commission
from auctera.domain.signatures import verify
from auctera.domain.webhooks import REVERSAL_EVENT
from auctera.errors import AucteraError, Conflict, Forbidden, NotFound, ValidationFailed
from auctera.services.caching import CachedLookups
from auctera.services.clock import Clock, Ids
from auctera.services.fx import rate_on
from auctera.services.logged_marks import LoggedMarks
from auctera.services.ports import EventStore, UnitOfWork, UnitOfWorkFactory
from auctera.services.spend import ChargeGroup, Click, SpendService
from auctera.services.webhooks import PostbackOutbox

TRANSACTION_PREFIX = "txn"
# A row not yet logged is left to the request writing it for this long before the sweep steps in.
IN_FLIGHT = timedelta(seconds=60)


# The records of a postback's way through are not frozen (see `Conversion`): each is made once per
# postback and never changed.
@dataclass(slots=True)
class Postback:
    click_id: str
    event_type: str
    revenue_micros: int
    currency: str | None  # None: the advertiser account's
    order_id: str | None = None
    event_time: datetime | None = None  # None: now
    identifiers: tuple[tuple[str, str], ...] = ()  # (email_sha256 | phone_sha256, hex): identity links
    category: str | None = None  # the product category, for a program's per-category rates


OFFLINE_LOOKBACK = timedelta(days=30)
OFFLINE_BATCH = 10_000  # offline events matched per event-log query
OFFLINE_EVENT_TYPE = "offline_purchase"
# An event_time ahead of our clock by up to MAX_CLOCK_SKEW is a partner's drifting clock: recorded
# at its arrival. Further ahead, it is refused.
_FUTURE = (
    f"event_time is in the future (more than {MAX_CLOCK_SKEW.seconds // 60} minutes ahead of "
    "the server's clock)"
)


@dataclass(frozen=True, slots=True)
class OfflineEvent:
    identifiers: tuple[tuple[str, str], ...]  # (email_sha256 | phone_sha256, hex), at least one
    value_micros: int
    currency: str | None = None  # None: the account's
    event_time: datetime | None = None  # None: now
    event_id: str | None = None
    event_type: str = OFFLINE_EVENT_TYPE

    def dedup_key(self, at: datetime, currency: str | None) -> str:
        """Without an event id: the identifiers, value, currency (`currency`: as resolved, so an
        event sent once with the account's currency and once without it is one sale) and time as
        sent (not as recorded: one a little ahead of our clock is recorded at `at`, its arrival),
        or, for an event without a time (which is recorded at `at`, now), the day it arrived: a
        retried upload is not paid twice, a repeat purchase uploaded another day is counted."""
        if self.event_id is not None:
            return f"offline:{self.event_id}"
        sent = self.event_time
        when = sent.isoformat() if sent is not None else f"received {at.date().isoformat()}"
        content = f"{sorted(self.identifiers)}|{self.value_micros}|{currency}|{when}"
        return f"offline:~{hashlib.sha256(content.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class OfflineProblem:
    """An uploaded event refused on its own: its position in the upload, the field and why."""

    position: int
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class OfflineResult:
    matched: int
    unmatched: int
    invalid: tuple[OfflineProblem, ...] = ()


@dataclass(slots=True)
class PostbackRequest:
    principal: Principal
    postback: Postback
    idempotency_key: str | None


@dataclass(slots=True)
class Sale:
    """What was sold, as reported (before currency conversion)."""

    event_type: str
    order_id: str | None
    revenue_micros: int
    currency: str
    occurred_at: datetime
    category: str | None = None


@dataclass(slots=True)
class _Checked:
    """A postback whose click, accounts and fields are checked, ready to be written."""

    click: Event
    dedup_key: str
    account: Account
    campaign: Campaign
    sale: Sale


# What a conversion keeps of the touch it is attributed to (and passes on to its event), so its
# event can be rebuilt from the row alone. Country and device go to the event's own columns.
# The click's placement (where its ad ran, which creative variant): kept on the conversion and
# on its reversal so the publisher and creative reports split them as they split the click.
_PLACEMENT = ("referrer", "domain", "ssp", "app_bundle", "variant")
# A sponsored click's placement kind and product: the auction's predictions find the conversions
# of sponsored clicks by them, without looking up the click of every other conversion.
_SPONSORED = ("placement", "product_id")
_KEPT_FROM_TOUCH = ("uid", "sub_id1", "sub_id2", "sub_id3", "sub_id4", "sub_id5", *_PLACEMENT, *_SPONSORED)
_TOUCH_PLACE = frozenset({"country", "device_type", "creative_id"})  # event columns, not attrs

# (the click, when the conversion happened) -> the fraud verdict of the conversion
ConversionScreen = Callable[[Event, datetime], Verdict]


class ConversionService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        events: EventStore,
        ids: Ids,
        clock: Clock,
        find_click: Callable[[int], Event | None],
        screen: ConversionScreen,
        default_fraud_threshold: float,
        lookups: CachedLookups,
        outbox: PostbackOutbox | None = None,
        spend: SpendService | None = None,
    ) -> None:
        self._uow = uow
        self._events = events
        self._ids = ids
        self._clock = clock
        self._find_click = find_click
        self._screen = screen
        self._default_threshold = default_fraud_threshold
        # Accounts (signing secrets, currency, fraud threshold) and campaigns (payouts) are read
        # on every postback: through the cache, a change applies within its delay.
        self._lookups = lookups
        # Publisher postbacks: outbox rows written in the conversion's own transaction.
        self._outbox = outbox
        # Payouts are charged to the campaign's caps and the prepaid balance, as clicks are.
        self._spend = spend
        self._logged = LoggedMarks()

    # --- postbacks ----------------------------------------------------------------------------

    def verify_signature(self, principal: Principal, header: str | None, body: bytes) -> None:
        """Raise `SignatureError` (401) unless `body` is signed with the account's secret."""
        now = self._clock()
        account = self._lookups.account(principal.account_id)
        if account is None:  # deleted since the key was cached
            raise Forbidden("the account of this key no longer exists")
        verify(header, body, account.signing_secrets(now), now)

    def record(self, principal: Principal, postback: Postback, idempotency_key: str | None) -> Conversion:
        """The conversion of `postback`: recorded now, or the one recorded for an earlier copy."""
        (result,) = self.record_many([PostbackRequest(principal, postback, idempotency_key)])
        if isinstance(result, AucteraError):
            raise result
        return result

    def record_many(self, requests: Sequence[PostbackRequest]) -> list[Conversion | AucteraError]:
        """`record` for several postbacks in one write transaction (a group commit: a busy server
        pays one commit for the postbacks that arrived together). Each answer is the request's
        conversion, or the error it alone failed with; the others are unaffected."""
        now = self._clock()
        results: list[Conversion | AucteraError | None] = [None] * len(requests)
        ready: list[tuple[int, PostbackRequest, _Checked]] = []
        for i, request in enumerate(requests):
            try:
                ready.append((i, request, self._check(request, now)))
            except AucteraError as exc:
                results[i] = exc
        recorded: list[Conversion] = []
        if not ready:
            return [r for r in results if r is not None]
        # One write transaction: look for an earlier copy (also one earlier in this batch), convert,
        # screen, insert. The screen runs only for a new conversion, so retries never count twice
        # in the velocity checks.
        with self._uow() as uow:
            payouts = self._payouts(uow)
            for i, request, checked in ready:
                try:
                    results[i] = self._write(uow, payouts, request, checked, recorded)
                except AucteraError as exc:
                    results[i] = exc
            if payouts is not None:
                payouts.close()
            if self._outbox is not None and recorded:  # the publishers' postbacks, in bulk
                self._outbox.enqueue(uow, [(c, c.event_type, c.status.value) for c in recorded])
            uow.conversions.mark_logged_unless_reversed(self._logged.take())  # see LoggedMarks
            uow.commit()
        # Answered once the events are in the log too; the rows are marked `logged` by the next
        # batch's transaction, which costs the postbacks no write of their own.
        self._events.append_many([self._conversion_event(c) for c in recorded])
        self._logged.add(c.id for c in recorded)
        answered = [r for r in results if r is not None]
        assert len(answered) == len(requests), "every postback of the batch is answered"
        return answered

    def _check(self, request: PostbackRequest, now: datetime) -> _Checked:
        if request.principal.kind is AccountKind.PUBLISHER:
            raise Forbidden("publishers cannot report conversions; the advertiser's server does")
        postback = request.postback
        click = self._click(request.principal, postback.click_id)
        _check_event_type(postback.event_type)
        occurred = _occurred_at(postback.event_time, click, now)
        account, campaign = self._owners(click)
        currency = (postback.currency or account.currency).upper()
        sale = Sale(
            postback.event_type,
            postback.order_id,
            postback.revenue_micros,
            currency,
            occurred,
            postback.category,
        )
        key = dedup_key(click.id, postback.event_type, postback.order_id)
        return _Checked(click, key, account, campaign, sale)

    def _write(
        self,
        uow: UnitOfWork,
        payouts: ChargeGroup | None,
        request: PostbackRequest,
        checked: _Checked,
        recorded: list[Conversion],
    ) -> Conversion:
        click, key = checked.click, checked.dedup_key
        earlier = uow.conversions.by_keys(click.account_id, key, request.idempotency_key)
        if earlier is not None:
            if request.idempotency_key is not None and earlier.idempotency_key is None:
                # A retry adding a key: the key names this conversion from now on, so a request
                # reusing it for another sale is answered with it, not recorded as a second one.
                uow.conversions.adopt_idempotency_key(earlier, request.idempotency_key)
            return earlier
        sale = checked.sale
        revenue = self._in_account_currency(
            uow, sale.revenue_micros, sale.currency, checked.account, sale.occurred_at
        )
        conversion = self._conversion(
            click,
            checked.account,
            checked.campaign,
            sale,
            revenue,
            request.idempotency_key,
            request.postback.identifiers,
        )
        if not uow.conversions.add(conversion, key):  # a concurrent copy won (PostgreSQL)
            earlier = uow.conversions.by_keys(click.account_id, key, request.idempotency_key)
            assert earlier is not None, "a conflicting conversion must be readable"
            return earlier
        conversion = self._pay(payouts, uow, conversion, click.at)
        recorded.append(conversion)
        return conversion

    def _payouts(self, uow: UnitOfWork) -> ChargeGroup | None:
        """The payouts charged in this write transaction (None: no spend service, nothing charged)."""
        return self._spend.group(uow) if self._spend is not None else None

    def _pay(
        self, payouts: ChargeGroup | None, uow: UnitOfWork, c: Conversion, touched_at: datetime
    ) -> Conversion:
        """Charge an approved conversion's payout (its row just written, in the same transaction)
        to the campaign's caps and the advertiser's prepaid balance, whole or not at all. Refused,
        the conversion stays recorded and approved (the sale happened; it is no fraud) but pays
        nothing, and says why in `payout_refused` (a `ChargeOutcome`: `not_live` for a touch made
        at `touched_at` outside the campaign's flight, `campaign_budget`, `campaign_daily`,
        `no_funds`). Keyed on the conversion's id: a replay charges nothing."""
        if payouts is None or c.cost_micros <= 0 or c.status is not ConversionStatus.APPROVED:
            return c
        # Paid after a pause or the flight's end too (`live_only`), but only for a touch made in it.
        due = Click(
            c.id,
            c.campaign_id,
            None,
            c.cost_micros,
            c.occurred_at,
            c.publisher_id,
            live_only=False,
            earned_at=touched_at,
        )
        charge = payouts.charge(due, payout=True)
        if charge.charged:
            return c
        attrs = {**c.attrs, "payout_refused": charge.outcome.value}
        unpaid = replace(c, payout_micros=0, cost_micros=0, attrs=attrs)
        uow.conversions.update(unpaid)
        return unpaid

    def _owners(self, touch: Event) -> tuple[Account, Campaign]:
        account = self._lookups.account(touch.account_id)
        campaign = self._lookups.campaign(touch.campaign_id or 0)
        if account is None or campaign is None:
            raise ValidationFailed("the click's campaign no longer exists", field="click_id")
        return account, campaign

    def _conversion(
        self,
        touch: Event,
        account: Account,
        campaign: Campaign,
        sale: Sale,
        revenue_micros: int,
        idempotency_key: str | None,
        identifiers: Sequence[tuple[str, str]],
        *,
        screened: bool = True,
    ) -> Conversion:
        """A conversion attributed to `touch` (a click, or an impression for offline matches),
        screened by the fraud filters unless told otherwise; its payout is withheld when they
        reject it."""
        verdict = self._screen(touch, sale.occurred_at) if screened else Verdict()
        threshold = self._default_threshold if account.fraud_threshold is None else account.fraud_threshold
        rejected = verdict.flagged(threshold)
        strongest = verdict.strongest
        touch_attrs = touch.attrs
        kept = {k: touch_attrs[k] for k in _KEPT_FROM_TOUCH if k in touch_attrs}
        if touch.country:
            kept["country"] = touch.country
        if touch.device_type:
            kept["device_type"] = touch.device_type
        if touch.creative_id is not None:
            kept["creative_id"] = touch.creative_id
        channel_id = touch_attrs.get("channel_id")
        if channel_id is not None:
            kept["channel_id"] = channel_id
        payout = 0
        # Affiliate offers pay by the program's terms; a rejected conversion pays nothing.
        if campaign.type in AFFILIATE_TYPES and not rejected:
            priced = self._commission(touch, campaign, sale, revenue_micros, channel_id)
            payout = priced.payout_micros
            kept.update(commission_type_id=priced.commission_type_id, commission_rule=priced.rule)
        return Conversion(
            id=self._ids.next_id(),
            account_id=touch.account_id,
            campaign_id=campaign.id,
            publisher_id=touch.publisher_id,
            click_id=touch.id,
            event_type=sale.event_type,
            order_id=sale.order_id,
            idempotency_key=idempotency_key,
            currency=account.currency,
            revenue_micros=revenue_micros,
            original_revenue_micros=sale.revenue_micros,
            original_currency=sale.currency,
            payout_micros=payout,
            cost_micros=payout,  # CPA offers: the advertiser pays what the publisher earns
            fraud_score=round(verdict.score, 4),
            status=ConversionStatus.REJECTED if rejected else ConversionStatus.APPROVED,
            occurred_at=sale.occurred_at,
            created_at=self._clock(),
            fraud_reason=strongest.reason.value if strongest is not None else None,
            fraud_signals=tuple(s.as_dict() for s in verdict.signals) if verdict.signals else (),
            attrs={**kept, **dict(identifiers)} if identifiers else kept,
        )

    def _commission(
        self, touch: Event, campaign: Campaign, sale: Sale, order_value_micros: int, channel_id: int | None
    ) -> Commission:
        """The publisher's commission from the program's terms (cached lookups only: no database
        read per postback). The order value is the revenue in the account's currency, which is
        the program's. The click's channel (else the publisher as a whole) is in the segment its
        approved application names; a channel whose application was revoked since earns nothing."""
        terms = self._lookups.commissions(campaign.id)
        segment_id = None
        if touch.publisher_id is not None and (channel_id is not None or terms.types):
            application = self._lookups.application(campaign.id, touch.publisher_id, channel_id)
            if application is not None and application.status is ApprovalStatus.APPROVED:
                segment_id = application.segment_id
            elif application is not None and channel_id is not None:
                return Commission(0, None, "not_approved")
        flat = campaign.payout_micros if campaign.type is CampaignType.AFFILIATE_CPA else None
        return commission(
            terms.types,
            segment_id,
            terms.standard_segment_id,
            sale.event_type,
            order_value_micros,
            sale.category,
            flat,
        )

    def _click(self, principal: Principal, text: str) -> Event:
        click_id = idfmt.parse(idfmt.CLICK_PREFIX, text)
        click = self._find_click(click_id) if click_id is not None else None
        if click is None or (not principal.is_network and click.account_id != principal.account_id):
            raise ValidationFailed(
                f"no click {text!r} was recorded for this account", field="click_id", code="unknown_click_id"
            )
        return click

    def _in_account_currency(
        self,
        uow: UnitOfWork,
        micros: int,
        currency: str,
        account: Account,
        occurred_at: datetime,
        field: str = "revenue",
    ) -> int:
        """`micros` of `currency` in the account's, at the rate in effect on the day of the sale
        (in the account's time zone, as its reports count days): a late postback is converted as
        it would have been on time."""
        if currency == account.currency:
            return micros
        if pycountry.currencies.get(alpha_3=currency) is None:
            raise ValidationFailed(f"{currency!r} is not an ISO 4217 currency code", field="currency")
        day = local_day(occurred_at, ZoneInfo(account.timezone))
        rate = rate_on(uow, currency, account.currency, day)
        if rate is None:
            raise ValidationFailed(
                f"no exchange rate from {currency} to {account.currency}; the operator sets one with "
                f"`auctera fx set {currency} {account.currency} <rate>`",
                field="currency",
            )
        converted = convert(micros, rate)
        if abs(converted) > MAX_AMOUNT * MICROS:
            raise ValidationFailed(
                f"{field} converted into {account.currency} is past {MAX_AMOUNT:,}: check the "
                f"{currency}/{account.currency} exchange rate",
                field=field,
            )
        return converted

    # --- offline conversions ------------------------------------------------------------------

    @staticmethod
    def check_offline_uploader(principal: Principal) -> None:
        if principal.kind is not AccountKind.ADVERTISER:
            raise Forbidden("offline conversions are uploaded by the advertiser whose campaigns they credit")

    def record_offline(
        self, principal: Principal, uploads: Sequence[OfflineEvent], lookback: timedelta = OFFLINE_LOOKBACK
    ) -> OfflineResult:
        """Match uploaded offline sales to the visitors their hashed identifiers were seen with, and
        record a conversion for each match, attributed to the visitor's last click before the sale
        within `lookback` (else the last impression: a view-through). Idempotent per event id
        (without one, per identifiers, value and time)."""
        self.check_offline_uploader(principal)
        now = self._clock()
        matched = unmatched = 0
        invalid: list[OfflineProblem] = []
        for start in range(0, len(uploads), OFFLINE_BATCH):
            batch: list[tuple[int, OfflineEvent, datetime]] = []
            for position in range(start, min(start + OFFLINE_BATCH, len(uploads))):
                try:
                    batch.append((position, uploads[position], _checked_offline(uploads[position], now)))
                except ValidationFailed as exc:  # fails alone: the rest of the upload goes on
                    invalid.append(OfflineProblem(position, exc.field, exc.message))
            batch = self._convertible(principal.account_id, batch, invalid)
            if not batch:
                continue
            times = [at for _, _, at in batch]
            hashes = sorted({digest for _, u, _ in batch for _, digest in u.identifiers})
            touches: dict[str, list[Event]] = {}
            since, until = min(times) - lookback, max(times) + timedelta(microseconds=1)
            for digest, touch in self._events.identity_touches(principal.account_id, hashes, since, until):
                touches.setdefault(digest, []).append(touch)
            matches = []
            for position, upload, at in batch:
                last = _last_touch(upload, at, touches, lookback)
                if last is None:
                    unmatched += 1
                else:
                    matches.append((position, upload, at, last))
            refused = self._record_matches(principal, matches)
            matched += len(matches) - len(refused)
            invalid.extend(refused)
        return OfflineResult(matched, unmatched, tuple(sorted(invalid, key=lambda p: p.position)))

    def _convertible(
        self, account_id: int, batch: list[tuple[int, OfflineEvent, datetime]], invalid: list[OfflineProblem]
    ) -> list[tuple[int, OfflineEvent, datetime]]:
        """The events of `batch` whose value converts into the account's currency on their day;
        the others are invalid whether they would match or not, as the docs say."""
        account = self._lookups.account(account_id)
        if account is None or all(
            (u.currency or account.currency).upper() == account.currency for _, u, _ in batch
        ):
            return batch
        kept = []
        with self._uow(read_only=True) as uow:
            for position, upload, at in batch:
                currency = (upload.currency or account.currency).upper()
                try:
                    self._in_account_currency(uow, upload.value_micros, currency, account, at, "value")
                except ValidationFailed as exc:
                    invalid.append(OfflineProblem(position, exc.field, exc.message))
                    continue
                kept.append((position, upload, at))
        return kept

    def _record_matches(
        self, principal: Principal, matches: list[tuple[int, OfflineEvent, datetime, Event]]
    ) -> list[OfflineProblem]:
        """Record the matched events not uploaded before; those whose amount cannot be converted
        into the account's currency come back refused, and the others are recorded."""
        if not matches:
            return []
        refused = []
        with self._uow(read_only=True) as uow:
            owners = {t.campaign_id: self._owners(t) for _, _, _, t in matches}
            fresh = []
            for position, upload, at, touch in matches:
                account, campaign = owners[touch.campaign_id]
                currency = (upload.currency or account.currency).upper()
                key = upload.dedup_key(at, currency)
                # Keys stored by earlier releases hold the currency as sent (None when left out):
                # looked up too, so re-uploading a file after an upgrade pays nothing twice.
                keys = {key, upload.dedup_key(at, upload.currency)}
                if any(uow.conversions.by_keys(principal.account_id, k, None) is not None for k in keys):
                    continue  # uploaded before
                try:
                    revenue = self._in_account_currency(
                        uow, upload.value_micros, currency, account, at, "value"
                    )
                except ValidationFailed as exc:
                    refused.append(OfflineProblem(position, exc.field, exc.message))
                    continue
                sale = Sale(upload.event_type, upload.event_id, upload.value_micros, currency, at)
                # The advertiser's own sales records joined to our touches: days after a click by
                # nature (the timing rules would misread them) and no request to judge.
                conversion = self._conversion(
                    touch, account, campaign, sale, revenue, None, upload.identifiers, screened=False
                )
                fresh.append((conversion, key, touch))
        with self._uow() as uow:
            payouts = self._payouts(uow)
            # By campaign: on PostgreSQL each payout locks its campaign's row, and two uploads
            # taking them in one order cannot deadlock.
            fresh.sort(key=lambda f: (f[0].campaign_id, f[0].occurred_at))
            added = [
                (self._pay(payouts, uow, c, t.at), t) for c, key, t in fresh if uow.conversions.add(c, key)
            ]
            if payouts is not None:
                payouts.close()
            if self._outbox is not None and added:
                self._outbox.enqueue(uow, [(c, c.event_type, c.status.value) for c, _ in added])
            uow.commit()
        if not added:  # all uploaded before: no write transaction for nothing
            return refused
        self._events.append_many([self._conversion_event(c) for c, _ in added])
        with self._uow() as uow:  # a bulk upload: marked at once, not left to the sweep (D40)
            uow.conversions.mark_logged_unless_reversed([c.id for c, _ in added])
            uow.commit()
        return refused

    # --- reversals ------------------------------------------------------------------------------

    def reverse(self, principal: Principal, transaction_id: str, reason: ReversalReason) -> Conversion:
        """Reverse a conversion; reversing it again answers the same and changes nothing."""
        if principal.kind is AccountKind.PUBLISHER:
            raise Forbidden("publishers cannot reverse conversions")
        conversion_id = idfmt.parse(TRANSACTION_PREFIX, transaction_id)
        now = self._clock()
        with self._uow() as uow:
            found = None
            if conversion_id is not None:
                scope = None if principal.is_network else principal.account_id
                found = uow.conversions.get(conversion_id, account_id=scope, for_update=True)
            if found is None:
                raise NotFound(f"transaction {transaction_id} not found", field="transaction_id")
            try:
                reversed_ = reverse(found, reason, now)
            except ReversalRefused as refused:
                raise Conflict(refused.message, field="transaction_id", code=refused.code) from None
            if reversed_ is found:
                return found
            reversed_ = replace(
                reversed_, logged=False, attrs={**found.attrs, "reversal_event_id": self._ids.next_id()}
            )
            uow.conversions.update(reversed_)
            if self._spend is not None and found.cost_micros > 0:  # the payout's charge, given back
                self._spend.refund_in(uow, found.id, int(reversed_.attrs["reversal_event_id"]))
            if self._outbox is not None:
                self._outbox.enqueue(uow, [(reversed_, REVERSAL_EVENT, ConversionStatus.REVERSED.value)])
            uow.commit()
        self._events.append(self._reversal_event(reversed_))
        return reversed_

    def get(self, principal: Principal, transaction_id: str) -> Conversion:
        conversion_id = idfmt.parse(TRANSACTION_PREFIX, transaction_id)
        with self._uow(read_only=True) as uow:
            found = None
            if conversion_id is not None:
                # The account scope is the advertiser's: a publisher's conversions belong to the
                # advertisers it earned them from, so it is matched by publisher_id below instead.
                publisher = principal.kind is AccountKind.PUBLISHER
                scope = None if principal.is_network or publisher else principal.account_id
                found = uow.conversions.get(conversion_id, account_id=scope)
                if found is not None and publisher:
                    found = found if found.publisher_id == principal.account_id else None
        if found is None:
            raise NotFound(f"transaction {transaction_id} not found", field="transaction_id")
        return found

    # --- the event log --------------------------------------------------------------------------

    def log_pending(self, batch: int = 5000) -> int:
        """Append the events of conversions whose rows may have been written without them (a
        crash in between), unless the log has them already, and mark the rows logged; returns how
        many events were appended. Rows changed within `IN_FLIGHT` are left to their request."""
        cutoff = self._clock() - IN_FLIGHT
        appended = 0
        while True:
            with self._uow(read_only=True) as uow:
                pending = [c for c in uow.conversions.unlogged(batch) if _last_change(c) < cutoff]
            if not pending:
                return appended
            wanted = [self._conversion_event(c) for c in pending]
            wanted += [self._reversal_event(c) for c in pending if c.status is ConversionStatus.REVERSED]
            start = min(e.at for e in wanted)
            present = self._events.existing_ids([e.id for e in wanted], start, max(e.at for e in wanted))
            missing = [e for e in wanted if e.id not in present]
            self._events.append_many(missing)
            appended += len(missing)
            with self._uow() as uow:
                uow.conversions.mark_logged([c.id for c in pending])
                uow.commit()

    def _conversion_event(self, c: Conversion) -> Event:
        attrs = {k: v for k, v in c.attrs.items() if k not in _TOUCH_PLACE}
        attrs["event_type"] = c.event_type
        if c.order_id:
            attrs["order_id"] = c.order_id
        return Event(
            id=c.id,
            type=EventType.CONVERSION,
            at=c.occurred_at,
            account_id=c.account_id,
            campaign_id=c.campaign_id,
            publisher_id=c.publisher_id,
            creative_id=c.attrs.get("creative_id"),
            click_id=idfmt.render(idfmt.CLICK_PREFIX, c.click_id),
            country=c.attrs.get("country"),
            device_type=c.attrs.get("device_type"),
            cost_micros=c.cost_micros,
            revenue_micros=c.revenue_micros,
            payout_micros=c.payout_micros,
            currency=c.currency,
            ivt=c.status is ConversionStatus.REJECTED,
            attrs=attrs,
        )

    def _reversal_event(self, c: Conversion) -> Event:
        # Negative amounts: summed with the conversion they cancel it in every report.
        assert c.reversed_at is not None and c.reversal_reason is not None
        return Event(
            id=int(c.attrs["reversal_event_id"]),
            type=EventType.REVERSAL,
            at=c.reversed_at,
            account_id=c.account_id,
            campaign_id=c.campaign_id,
            publisher_id=c.publisher_id,
            creative_id=c.attrs.get("creative_id"),
            click_id=idfmt.render(idfmt.CLICK_PREFIX, c.click_id),
            cost_micros=-c.cost_micros,
            revenue_micros=-c.revenue_micros,
            payout_micros=-c.payout_micros,
            currency=c.currency,
            attrs={
                **{k: c.attrs[k] for k in _PLACEMENT if k in c.attrs},
                "transaction_id": idfmt.render(TRANSACTION_PREFIX, c.id),
                "reason": c.reversal_reason.value,
            },
        )


def _checked_offline(upload: OfflineEvent, now: datetime) -> datetime:
    """When an uploaded event happened, once the fields the service judges are checked."""
    _check_event_type(upload.event_type)  # as a postback's: reports and commissions key on it
    at = upload.event_time or now
    if at.tzinfo is None:
        raise ValidationFailed("event_time needs a time zone offset (e.g. Z or +02:00)", field="event_time")
    if at > now + MAX_CLOCK_SKEW:
        raise ValidationFailed(_FUTURE, field="event_time")
    if at < now - MAX_EVENT_AGE:
        raise ValidationFailed(f"event_time is more than {MAX_EVENT_AGE.days} days ago", field="event_time")
    if upload.currency is not None and pycountry.currencies.get(alpha_3=upload.currency.upper()) is None:
        raise ValidationFailed(f"{upload.currency!r} is not an ISO 4217 currency code", field="currency")
    return min(at, now)  # a clock a little ahead of ours: booked on arrival, never in a day to come


def _last_touch(
    upload: OfflineEvent, at: datetime, touches: dict[str, list[Event]], lookback: timedelta
) -> Event | None:
    """The last click before `at` within `lookback` of a visitor seen with the upload's hashes,
    else the last impression."""
    seen = [
        t for _, digest in upload.identifiers for t in touches.get(digest, ()) if at - lookback <= t.at <= at
    ]
    clicks = [t for t in seen if t.type is EventType.CLICK]
    pool = clicks or seen
    return max(pool, key=lambda t: (t.at, t.id)) if pool else None


def _last_change(c: Conversion) -> datetime:
    return c.reversed_at if c.reversed_at is not None else c.created_at


def _check_event_type(event_type: str) -> None:
    if not EVENT_TYPE.match(event_type):
        raise ValidationFailed(
            "event_type must be 1-64 lowercase letters, digits or underscores, starting with a letter "
            "(e.g. purchase, lead, install)",
            field="event_type",
        )


def _occurred_at(event_time: datetime | None, click: Event, now: datetime) -> datetime:
    if event_time is None:
        return max(now, click.at)
    if event_time.tzinfo is None:
        raise ValidationFailed("event_time needs a time zone offset (e.g. Z or +02:00)", field="event_time")
    if event_time > now + MAX_CLOCK_SKEW:
        raise ValidationFailed(_FUTURE, field="event_time")
    if event_time < now - MAX_EVENT_AGE:
        raise ValidationFailed(f"event_time is more than {MAX_EVENT_AGE.days} days ago", field="event_time")
    if event_time < click.at:
        raise ValidationFailed("event_time is before the click it converts", field="event_time")
    # A partner's clock a little ahead of ours is tolerated, but the sale is booked when it reached
    # us: at 23:56 an event_time of 00:00:30 must not count (and charge) in a day not begun.
    return max(min(event_time, now), click.at)
