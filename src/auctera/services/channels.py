"""Publishers' channels and their applications to offers (programs), and the advertiser's
decision on them (seed 003's channels and approval, seed 000's `POST /v2/network/applications`).

Who may do what:
- a channel is its publisher's: the publisher (or the network acting for it) lists, creates,
  changes and deletes it; an advertiser may read a channel that applied to one of its offers;
  anyone else is told "not found";
- a publisher applies to an active affiliate offer, public or private (applying is how a
  publisher gets at a private offer, so it need not see it first), publisher-wide or for one of
  its channels, once each;
- the offer's advertiser, or the network, approves or rejects; the applicant may read its
  application but not decide it (403); every other tenant is told "not found".

Errors name the /v2 field (`reject_reason`, `segment_id`, ...); the /v3 surface, which calls
`decide`, renders them under its own names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.programs import (
    MAX_NAME,
    MAX_URL,
    MAX_VOLUME_ESTIMATE,
    Application,
    ApprovalStatus,
    Channel,
    ChannelType,
    DecisionRefused,
    ProgramStatus,
    RejectReason,
    decide,
)
from auctera.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auctera.services.campaigns import DEFAULT_PAGE, MAX_PAGE, decode_cursor, encode_cursor
from auctera.services.clock import Clock, Ids
from auctera.services.offers import acting_publisher, is_running
from auctera.services.ports import UnitOfWork, UnitOfWorkFactory

CHANNEL_PREFIX = "chn"
APPLICATION_PREFIX = "app"
SEGMENT_PREFIX = "seg"
MAX_TRAFFIC_TYPE = 64
MAX_DESCRIPTION = 2000

# The domain's field names (seed 003's) as /v2 names them.
_FIELDS = {"rejectReason": "reject_reason", "reasonText": "reason_text", "approvalStatus": "approval_status"}


class _Unset:
    pass


UNSET = _Unset()  # a PATCH field the caller left out


@dataclass(frozen=True, slots=True)
class ChannelFields:
    """A channel as the caller describes it; on a PATCH, UNSET fields stay as they are."""

    name: str | _Unset = UNSET
    type: str | _Unset = UNSET
    url: str | _Unset | None = UNSET
    description: str | _Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class ChannelPage:
    channels: list[Channel]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ApplicationQuery:
    status: ApprovalStatus | None = None
    offer_id: int | None = None
    channel_id: int | None = None
    limit: int = DEFAULT_PAGE
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ApplicationPage:
    applications: list[Application]
    next_cursor: str | None


def channel_type(text: str) -> ChannelType:
    """A channel type from its value or name, any case ("blog", "Social media", "social_media")."""
    wanted = text.strip().casefold()
    for t in ChannelType:
        value = t.value.casefold()
        # The value with `_` for its spaces is the documented snake_case form ("social_media").
        if wanted in (value, value.replace(" ", "_"), t.name.casefold()):
            return t
    allowed = ", ".join(t.value for t in ChannelType)
    raise ValidationFailed(f"unknown channel type {text!r}; one of: {allowed}", field="type")


class ChannelService:
    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    # --- channels ------------------------------------------------------------------------------

    def list_channels(
        self,
        principal: Principal,
        cursor: str | None,
        limit: int = DEFAULT_PAGE,
        *,
        publisher_id: int | None = None,
    ) -> ChannelPage:
        """The publisher's channels, newest first. A network key without `publisher_id` sees every
        publisher's."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        before = decode_cursor(cursor) if cursor else None
        with self._uow(read_only=True) as uow:
            scope = None
            if not (principal.is_network and publisher_id is None):
                scope = _publisher(uow, principal, publisher_id)
            rows = uow.channels.page(account_id=scope, before_id=before, limit=limit + 1)
        page, more = rows[:limit], len(rows) > limit
        return ChannelPage(page, encode_cursor(page[-1].id) if more else None)

    def create_channel(
        self, principal: Principal, fields: ChannelFields, *, publisher_id: int | None = None
    ) -> Channel:
        if isinstance(fields.name, _Unset):
            raise ValidationFailed("'name' is required", field="name")
        if isinstance(fields.type, _Unset):
            raise ValidationFailed("'type' is required", field="type")
        now = self._clock()
        with self._uow() as uow:
            owner = _publisher(uow, principal, publisher_id)
            channel = _apply_fields(
                Channel(self._ids.next_id(), owner, "", ChannelType.OTHER, None, None, now, now), fields
            )
            uow.channels.add(channel)
            uow.commit()
        return channel

    def get_channel(self, principal: Principal, channel_id: int | None) -> Channel:
        with self._uow(read_only=True) as uow:
            channel, _ = self._channel(uow, principal, channel_id)
        return channel

    def update_channel(self, principal: Principal, channel_id: int | None, fields: ChannelFields) -> Channel:
        with self._uow() as uow:
            channel, owns = self._channel(uow, principal, channel_id)
            if not owns:
                raise Forbidden("a channel is changed by its publisher")
            changed = replace(_apply_fields(channel, fields), updated_at=self._clock())
            uow.channels.update(changed)
            uow.commit()
        return changed

    def delete_channel(self, principal: Principal, channel_id: int | None) -> None:
        """The channel and its applications: its links stop working (within the click cache)."""
        with self._uow() as uow:
            channel, owns = self._channel(uow, principal, channel_id)
            if not owns:
                raise Forbidden("a channel is deleted by its publisher")
            uow.channels.delete(channel.id)
            uow.commit()

    @staticmethod
    def _channel(uow: UnitOfWork, principal: Principal, channel_id: int | None) -> tuple[Channel, bool]:
        """The channel and whether the caller may change it (its publisher, the network). An
        advertiser may read a channel that applied to one of its offers; nobody else sees it."""
        channel = uow.channels.get(channel_id) if channel_id is not None else None
        if channel is not None:
            if principal.is_network or channel.account_id == principal.account_id:
                return channel, True
            if principal.kind is AccountKind.ADVERTISER and uow.channels.applications(
                account_id=principal.account_id, channel_id=channel.id, limit=1
            ):
                return channel, False
        raise NotFound("channel not found", field="channel_id")

    # --- applications --------------------------------------------------------------------------

    def apply(
        self,
        principal: Principal,
        offer_id: int | None,
        *,
        traffic_type: str | None = None,
        volume_estimate: int | None = None,
        channel_id: int | None = None,
        channel_given: bool = False,
        publisher_id: int | None = None,
    ) -> Application:
        """A pending application of the publisher (or of one of its channels) to an offer.
        `offer_id`/`channel_id` None with the field given: an id that did not parse (404)."""
        if traffic_type is not None:
            traffic_type = traffic_type.strip() or None
            if traffic_type is not None and len(traffic_type) > MAX_TRAFFIC_TYPE:
                raise ValidationFailed(f"at most {MAX_TRAFFIC_TYPE} characters", field="traffic_type")
        if volume_estimate is not None and not 0 <= volume_estimate <= MAX_VOLUME_ESTIMATE:
            raise ValidationFailed(f"must be 0 to {MAX_VOLUME_ESTIMATE}", field="volume_estimate")
        with self._uow() as uow:
            publisher = _publisher(uow, principal, publisher_id)
            campaign = uow.campaigns.get(offer_id) if offer_id is not None else None
            if campaign is None or not is_running(campaign):
                raise NotFound("offer not found", field="offer_id")
            if channel_given and (
                channel_id is None or uow.channels.get(channel_id, account_id=publisher) is None
            ):
                raise NotFound("channel not found", field="channel_id")
            program = uow.programs.get(campaign.id)
            if program is not None and program.status is ProgramStatus.CLOSING:
                raise Conflict("this program is closing and takes no new applications", field="offer_id")
            existing = uow.channels.application_for(
                campaign.id, publisher_id=publisher, channel_id=channel_id
            )
            application = Application(
                id=self._ids.next_id(),
                program_id=campaign.id,
                account_id=campaign.account_id,
                publisher_id=publisher,
                channel_id=channel_id,
                status=ApprovalStatus.PENDING,
                applied_at=self._clock(),
                traffic_type=traffic_type,
                volume_estimate=volume_estimate,
            )
            if existing is None and uow.channels.add_application(application):
                uow.commit()
                return application
            existing = existing or uow.channels.application_for(
                campaign.id, publisher_id=publisher, channel_id=channel_id
            )
        already = idfmt.render(APPLICATION_PREFIX, existing.id) if existing is not None else "an application"
        raise Conflict(
            f"{'this channel' if channel_id is not None else 'this publisher'} has applied to this "
            f"offer already: {already}",
            field="channel_id" if channel_id is not None else "offer_id",
        )

    def list_applications(
        self, principal: Principal, query: ApplicationQuery, *, publisher_id: int | None = None
    ) -> ApplicationPage:
        """Newest first: a publisher's own, an advertiser's (to its offers), the network's (all,
        or one publisher's with `publisher_id`)."""
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        before = decode_cursor(query.cursor) if query.cursor else None
        account = None
        if principal.kind is AccountKind.PUBLISHER:
            if publisher_id not in (None, principal.account_id):
                raise NotFound("publisher not found", field="publisher_id")
            publisher_id = principal.account_id
        elif not principal.is_network:
            account = principal.account_id
        with self._uow(read_only=True) as uow:
            rows = uow.channels.applications(
                account_id=account,
                publisher_id=publisher_id,
                program_ids=None if query.offer_id is None else [query.offer_id],
                channel_id=query.channel_id,
                status=query.status,
                before_id=before,
                limit=query.limit + 1,
            )
        page, more = rows[: query.limit], len(rows) > query.limit
        return ApplicationPage(page, encode_cursor(page[-1].id) if more else None)

    def get_application(self, principal: Principal, application_id: int | None) -> Application:
        with self._uow(read_only=True) as uow:
            application, _ = _application(uow, principal, application_id)
        return application

    def decide(
        self,
        principal: Principal,
        application_id: int,
        status: ApprovalStatus,
        reject_reason: RejectReason | None,
        reason_text: str | None = None,
    ) -> Application:
        """Approve or reject (a reason 0-12 is required to reject), by the offer's advertiser or
        the network. Deciding again is allowed: a rejected application approved later, an
        approved one revoked."""
        return self._decide(principal, application_id, status, reject_reason, reason_text, UNSET)

    def approve(
        self, principal: Principal, application_id: int | None, segment_id: int | _Unset | None = UNSET
    ) -> Application:
        """Approve, and put the application in a segment of the program when one is given."""
        return self._decide(principal, application_id, ApprovalStatus.APPROVED, None, None, segment_id)

    def move(self, principal: Principal, application_id: int | None, segment_id: int | None) -> Application:
        """Put the application in a segment of its program (None: the standard segment)."""
        with self._uow() as uow:
            application = _decidable(uow, principal, application_id)
            moved = replace(application, segment_id=_segment(uow, application, segment_id))
            uow.channels.update_application(moved)
            uow.commit()
        return moved

    def _decide(
        self,
        principal: Principal,
        application_id: int | None,
        status: ApprovalStatus,
        reject_reason: RejectReason | None,
        reason_text: str | None,
        segment_id: int | _Unset | None,
    ) -> Application:
        with self._uow() as uow:
            application = _decidable(uow, principal, application_id)
            try:
                decided = decide(application, status, reject_reason, self._clock(), reason_text=reason_text)
            except DecisionRefused as refused:
                raise ValidationFailed(
                    refused.message, field=_FIELDS.get(refused.field, refused.field)
                ) from None
            if not isinstance(segment_id, _Unset):
                decided = replace(decided, segment_id=_segment(uow, application, segment_id))
            uow.channels.update_application(decided)
            uow.commit()
        return decided


# --- helpers -----------------------------------------------------------------------------------


def _publisher(uow: UnitOfWork, principal: Principal, publisher_id: int | None) -> int:
    """The publisher the caller acts for (as /v2/offers does). Advertisers have no channels and
    make no applications: 403."""
    return acting_publisher(uow, principal, publisher_id, _NOT_A_PUBLISHER)


_NOT_A_PUBLISHER = (
    "channels and applications are a publisher's; advertisers decide at /v2/network/applications"
)


def _application(
    uow: UnitOfWork, principal: Principal, application_id: int | None
) -> tuple[Application, bool]:
    """The application and whether the caller may decide it (the offer's advertiser, the network)."""
    found = None
    if application_id is not None:
        found = uow.channels.application(application_id)
    if found is not None:
        if principal.is_network or found.account_id == principal.account_id:
            return found, True
        if found.publisher_id == principal.account_id:
            return found, False
    raise NotFound("application not found", field="application_id")


def _decidable(uow: UnitOfWork, principal: Principal, application_id: int | None) -> Application:
    application, may_decide = _application(uow, principal, application_id)
    if not may_decide:
        raise Forbidden("applications are decided by the offer's advertiser, not by the applicant")
    return application


def _segment(uow: UnitOfWork, application: Application, segment_id: int | None) -> int | None:
    if segment_id is not None and uow.programs.segment(segment_id, program_id=application.program_id) is None:
        raise NotFound("segment not found in this offer's program", field="segment_id")
    return segment_id


def _apply_fields(channel: Channel, fields: ChannelFields) -> Channel:
    if not isinstance(fields.name, _Unset):
        name = fields.name.strip()
        if not name or len(name) > MAX_NAME:
            raise ValidationFailed(f"a name of 1-{MAX_NAME} characters is required", field="name")
        channel = replace(channel, name=name)
    if not isinstance(fields.type, _Unset):
        channel = replace(channel, type=channel_type(fields.type))
    if not isinstance(fields.url, _Unset):
        channel = replace(channel, url=_url(fields.url))
    if not isinstance(fields.description, _Unset):
        text = (fields.description or "").strip() or None
        if text is not None and len(text) > MAX_DESCRIPTION:
            raise ValidationFailed(f"at most {MAX_DESCRIPTION} characters", field="description")
        channel = replace(channel, description=text)
    return channel


def _url(url: str | None) -> str | None:
    text = (url or "").strip()
    if not text:
        return None
    split = urlsplit(text)
    if len(text) > MAX_URL or split.scheme not in ("http", "https") or not split.hostname:
        raise ValidationFailed(f"an absolute http(s) URL of at most {MAX_URL} characters", field="url")
    return text
