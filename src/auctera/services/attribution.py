"""Multi-touch attribution of one conversion: the visitor's journey and each touch's credit.

The journey is every click and impression the converting visitor (the first-party `uid` cookie
the tracking handlers set, copied from the click onto the conversion) had with the advertiser's
campaigns in the lookback window before the conversion, whichever channel served it. Credits
come from `auctera.domain.attribution`; the data-driven model is fitted on the account's own
paths and kept for a while, since fitting reads every path of the window.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Final

from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.attribution import (
    DEFAULT_HALF_LIFE,
    AttributionModel,
    MarkovModel,
    Touchpoint,
    credits,
)
from auctera.domain.campaigns import CampaignType
from auctera.domain.conversions import Conversion
from auctera.domain.events import Event, EventType
from auctera.errors import Forbidden, NotFound
from auctera.services.clock import Clock
from auctera.services.conversions import TRANSACTION_PREFIX
from auctera.services.ports import EventStore, UnitOfWork, UnitOfWorkFactory

# The model of accounts that have not chosen one (PATCH /v2/account {"attribution_model": ...}).
DEFAULT_MODEL: Final = AttributionModel.LAST_CLICK
DEFAULT_LOOKBACK: Final = timedelta(days=30)
MODEL_TTL: Final = timedelta(minutes=15)
MAX_MODELS: Final = 256  # fitted models kept per event store (a few KiB each)

CHANNELS: Final[dict[CampaignType, str]] = {
    CampaignType.DSP_PROSPECTING: "DSP",
    CampaignType.DSP_RETARGETING: "Retargeting",
    CampaignType.AFFILIATE_CPA: "Affiliate",
    CampaignType.AFFILIATE_CPC: "Affiliate",
    CampaignType.SMARTLINK_CPC: "SmartLink",
    CampaignType.RETAIL_MEDIA: "Retail Media",
}
UNKNOWN_CHANNEL: Final = "Unknown"  # a campaign the state store no longer has

_MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Credited:
    touchpoint: Touchpoint
    credit: Fraction  # exact; the touchpoints of a journey sum to 1


@dataclass(frozen=True, slots=True)
class Journey:
    conversion: Conversion
    model: AttributionModel
    lookback: timedelta
    half_life: timedelta | None  # the one used, for time_decay only
    touchpoints: tuple[Credited, ...]  # oldest first; empty when the visitor is unknown


class MarkovCache:
    """Fitted data-driven models per (account, lookback), each kept for `ttl`, at most `size`.

    Fitting scans every path of the window (millions in a large account) while the removal
    effects move slowly, so a report reuses a model up to `ttl` old. One fit per key at a time:
    concurrent requests for the same key wait for it rather than each scanning the log.
    """

    def __init__(self, ttl: timedelta = MODEL_TTL, size: int = MAX_MODELS) -> None:
        self._ttl = ttl
        self._size = size
        self._models: OrderedDict[tuple[int, timedelta], tuple[datetime, MarkovModel]] = OrderedDict()
        self._lock = threading.Lock()
        self._fitting: dict[tuple[int, timedelta], threading.Lock] = {}

    def get(self, key: tuple[int, timedelta], now: datetime, fit: Callable[[], MarkovModel]) -> MarkovModel:
        cached = self._fresh(key, now)
        if cached is not None:
            return cached
        with self._lock:
            fitting = self._fitting.setdefault(key, threading.Lock())
        with fitting:
            cached = self._fresh(key, now)  # fitted by the request we waited for
            if cached is not None:
                return cached
            model = fit()
            with self._lock:
                self._models[key] = (now, model)
                self._models.move_to_end(key)
                while len(self._models) > self._size:
                    self._models.popitem(last=False)
                self._fitting.pop(key, None)
            return model

    def _fresh(self, key: tuple[int, timedelta], now: datetime) -> MarkovModel | None:
        with self._lock:
            entry = self._models.get(key)
            if entry is None or not entry[0] <= now < entry[0] + self._ttl:
                return None
            self._models.move_to_end(key)
            return entry[1]


class AttributionService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        events: EventStore,
        clock: Clock,
        *,
        models: MarkovCache | None = None,
    ) -> None:
        self._uow = uow
        self._events = events
        self._clock = clock
        self._models = models if models is not None else MarkovCache()

    def journey(
        self,
        principal: Principal,
        conversion_id: str,
        model: AttributionModel | None = None,
        half_life: timedelta | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
    ) -> Journey:
        """The touches before conversion `conversion_id` (`txn_…`) with their credits under `model`
        (None: the account's default). `half_life` is for time_decay (default 7 days).

        Touches in [converted_at - lookback, converted_at]; the conversion's own click is added if
        the visitor's path lacks it (e.g. older than the lookback). A conversion without a visitor
        id has no journey: touchpoints are then empty.
        """
        if principal.kind is AccountKind.PUBLISHER:
            # A journey shows the advertiser's other channels and campaigns.
            raise Forbidden("publishers cannot see conversion journeys; the advertiser can")
        conversion = self._conversion(principal, conversion_id)
        chosen = model if model is not None else self._default_model(conversion.account_id)
        used_half_life = (half_life or DEFAULT_HALF_LIFE) if chosen is AttributionModel.TIME_DECAY else None
        events = self._journey_events(conversion, lookback)
        with self._uow(read_only=True) as uow:
            channel = _Channels(uow, conversion.account_id)
            path = [_touchpoint(e, channel(e.campaign_id)) for e in events]
        markov = None
        if chosen is AttributionModel.DATA_DRIVEN and path:
            markov = self.markov(conversion.account_id, lookback)
        shares = credits(
            path,
            chosen,
            converted_at=conversion.occurred_at,
            half_life=used_half_life or DEFAULT_HALF_LIFE,
            markov=markov,
        )
        return Journey(
            conversion=conversion,
            model=chosen,
            lookback=lookback,
            half_life=used_half_life,
            touchpoints=tuple(Credited(t, c) for t, c in zip(path, shares, strict=True)),
        )

    def _default_model(self, account_id: int) -> AttributionModel:
        with self._uow(read_only=True) as uow:
            account = uow.accounts.get(account_id)
        configured = account.attribution_model if account is not None else None
        return AttributionModel(configured) if configured else DEFAULT_MODEL

    def markov(self, account_id: int, lookback: timedelta) -> MarkovModel:
        """The account's data-driven model over the last `lookback`, up to and including now (cached,
        see `MarkovCache`)."""
        now = self._clock()
        return self._models.get(
            (account_id, lookback), now, lambda: self._fit(account_id, now - lookback, now + _MICROSECOND)
        )

    def _fit(self, account_id: int, start: datetime, end: datetime) -> MarkovModel:
        """Fit on every visitor path of the window, as channel sequences; streamed from the store."""
        with self._uow(read_only=True) as uow:
            channel = _Channels(uow, account_id)
            return MarkovModel.fit(channel_paths(self._events.paths(account_id, start, end), channel))

    def _conversion(self, principal: Principal, text: str) -> Conversion:
        conversion_id = idfmt.parse(TRANSACTION_PREFIX, text)
        found = None
        if conversion_id is not None:
            scope = None if principal.is_network else principal.account_id
            with self._uow(read_only=True) as uow:
                found = uow.conversions.get(conversion_id, account_id=scope)
        if found is None:
            raise NotFound(f"conversion {text} not found", field="conversion_id")
        return found

    def _journey_events(self, conversion: Conversion, lookback: timedelta) -> list[Event]:
        uid = conversion.attrs.get("uid")
        if not isinstance(uid, str) or not uid:
            return []
        converted_at = conversion.occurred_at
        # `end` is exclusive: a touch at the conversion's very microsecond still counts.
        found = self._events.touchpoints(
            conversion.account_id, uid, converted_at - lookback, converted_at + _MICROSECOND
        )
        if not any(e.id == conversion.click_id for e in found):
            own = self._own_click(conversion)
            if own is not None:
                found = sorted([*found, own], key=lambda e: (e.at, e.id))
        return found

    def _own_click(self, conversion: Conversion) -> Event | None:
        """The click the postback named: the one touch a conversion is known to have had."""
        issued = datetime.fromtimestamp(idfmt.issued_at_ms(conversion.click_id) / 1000, tz=UTC)
        click = self._events.find_event(conversion.click_id, issued)
        if (
            click is None
            or click.type is not EventType.CLICK
            or click.ivt
            or click.at > conversion.occurred_at
        ):
            return None
        return click


class _Channels:
    """campaign id -> channel, one state-store read per distinct campaign."""

    def __init__(self, uow: UnitOfWork, account_id: int) -> None:
        self._uow = uow
        self._account_id = account_id
        self._known: dict[int | None, str] = {None: UNKNOWN_CHANNEL}

    def __call__(self, campaign_id: int | None) -> str:
        channel = self._known.get(campaign_id)
        if channel is None:
            assert campaign_id is not None
            campaign = self._uow.campaigns.get(campaign_id, account_id=self._account_id)
            channel = (
                CHANNELS.get(campaign.type, UNKNOWN_CHANNEL) if campaign is not None else UNKNOWN_CHANNEL
            )
            self._known[campaign_id] = channel
        return channel


def _touchpoint(event: Event, channel: str) -> Touchpoint:
    return Touchpoint(
        channel=channel,
        interaction=event.type.value,
        at=event.at,
        event_id=event.id,
        campaign_id=event.campaign_id,
    )


def channel_paths(
    paths: Iterable[tuple[str, list[tuple[int, str, datetime]], bool]], channel: Callable[[int], str]
) -> Iterable[tuple[Sequence[str], bool]]:
    """(channels in time order, converted) of store paths: what `MarkovModel.fit` takes."""
    return (([channel(c) for c, _, _ in touches], converted) for _, touches, converted in paths)
