"""Campaign management: create, read, list with performance, change, archive, review; the blocklist.

Who sees what: an advertiser its own campaigns; the network operator every campaign; a
publisher none. A campaign the caller cannot see is "not found", never "forbidden".
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import pycountry

from auctera.domain import compliance
from auctera.domain.accounts import Account, AccountKind, Principal, render_account_id
from auctera.domain.audiences import Targets
from auctera.domain.campaigns import (
    LIVE,
    Budget,
    Campaign,
    CampaignPatch,
    CampaignStatus,
    CampaignType,
    Performance,
    ensure_editable,
    flight_problems,
    needs_review,
    record_review,
    resubmit,
    set_status,
)
from auctera.domain.campaigns import (
    archive as archive_campaign,
)
from auctera.domain.compliance import BlockedDomain, CheckContext, domain_suffixes, host_of
from auctera.domain.dates import DatePreset, DateSpan, local_today, resolve_span
from auctera.domain.events import Totals
from auctera.domain.ids import from_decimal, render
from auctera.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auctera.services.clock import Clock, Ids
from auctera.services.ports import EventStore, UnitOfWork, UnitOfWorkFactory
from auctera.services.reports import check_dates

COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)
MAX_PAGE = 100
DEFAULT_PAGE = 50
# Lifetime figures: every event the log can hold.
_LIFETIME = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class CampaignQuery:
    status: CampaignStatus | None = None  # None: every status but archived (unless all_statuses)
    all_statuses: bool = False
    type: CampaignType | None = None
    advertiser_id: int | None = None  # the network's filter; anyone else sees only their own
    date_range: DatePreset | None = None  # scopes the period figures; today when nothing is given
    start_date: date | None = None
    end_date: date | None = None
    limit: int = DEFAULT_PAGE
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class CampaignPage:
    campaigns: list[Campaign]
    performance: dict[int, Performance]
    span: DateSpan  # the period, in the caller's time zone
    next_cursor: str | None  # None on the last page


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"c1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, value = text.partition(":")
        if version == "c1" and (last_id := from_decimal(value)) is not None:
            return last_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValidationFailed("cursor is not one this API handed out", field="cursor")


class CampaignService:
    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock, events: EventStore) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._events = events

    # --- reads -----------------------------------------------------------------------------

    def get(self, principal: Principal, campaign_id: int) -> Campaign:
        with self._uow(read_only=True) as uow:
            return _with_audiences(uow, self._visible(uow, principal, campaign_id))

    def list_campaigns(self, principal: Principal, query: CampaignQuery) -> CampaignPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        now = self._clock()
        check_dates(start_date=query.start_date, end_date=query.end_date)
        span = resolve_span(
            query.date_range, query.start_date, query.end_date, local_today(now, principal.timezone)
        )
        before = decode_cursor(query.cursor) if query.cursor else None
        if principal.is_network:
            scope = query.advertiser_id
        elif query.advertiser_id in (None, principal.account_id):
            scope = principal.account_id
        else:  # another tenant's campaigns: there are none to show
            return CampaignPage([], {}, span, None)
        with self._uow(read_only=True) as uow:
            rows = uow.campaigns.page(
                account_id=scope,
                status=query.status,
                include_archived=query.all_statuses,
                type=query.type,
                before_id=before,
                limit=query.limit + 1,  # one more tells whether there is a next page
            )
        page, more = rows[: query.limit], len(rows) > query.limit
        return CampaignPage(
            page,
            self._performance(page, principal.timezone, span, now),
            span,
            encode_cursor(page[-1].id) if more else None,
        )

    def _performance(
        self, campaigns: Sequence[Campaign], tz: str, span: DateSpan, now: datetime
    ) -> dict[int, Performance]:
        """One event-log query for the whole page and every window (per owning account for the network)."""
        if not campaigns:
            return {}
        today = local_today(now, tz)
        windows = {"today": DateSpan(today, today).utc_bounds(tz), "lifetime": _LIFETIME}
        if span.utc_bounds(tz) != windows["today"]:  # the default period is today: asked once
            windows["period"] = span.utc_bounds(tz)
        by_account: dict[int, list[int]] = {}
        for c in campaigns:
            by_account.setdefault(c.account_id, []).append(c.id)
        found: dict[str, dict[int, Totals]] = {name: {} for name in windows}
        for account_id, ids in by_account.items():
            for name, totals in self._events.campaign_totals_windows(account_id, ids, windows).items():
                found[name].update(totals)
        period = found.get("period", found["today"])
        empty = Totals()
        return {
            c.id: Performance(
                today=found["today"].get(c.id, empty),
                period=period.get(c.id, empty),
                lifetime=found["lifetime"].get(c.id, empty),
            )
            for c in campaigns
        }

    # --- writes ----------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        type: CampaignType,
        fields: CampaignPatch,
        *,
        advertiser_id: int | None = None,
    ) -> Campaign:
        """A new campaign in `pending_review`. Run `review` (or `review_pending`) after it commits.

        A network key creates campaigns on behalf of an advertiser named by `advertiser_id`.
        """
        now = self._clock()
        with self._uow() as uow:
            owner = self._owner_for_create(uow, principal, advertiser_id)
            blank = Campaign(
                id=self._ids.next_id(),
                account_id=owner.id,
                name="",
                type=type,
                status=CampaignStatus.PENDING_REVIEW,
                budget=Budget(owner.currency),
                created_at=now,
                updated_at=now,
            )
            campaign = fields.apply(blank)
            self._validate(campaign, owner, now, end_date_set=campaign.end_date is not None)
            uow.campaigns.add(campaign)
            _save_audiences(uow, campaign, None)
            uow.commit()
        return campaign

    def update(
        self,
        principal: Principal,
        campaign_id: int,
        fields: CampaignPatch,
        status: CampaignStatus | None = None,
    ) -> Campaign:
        """Change fields and/or pause/resume, in one transaction: all of it or none of it.

        A change to what the review checks re-runs it: at once for a live campaign (failing
        rejects it), through `pending_review` for a rejected one (a resubmission). Resuming a
        paused campaign runs it too, and a campaign that fails (or still lacks the creative it
        paused for) stays paused: 409 on `status`.
        """
        now = self._clock()
        with self._uow() as uow:
            before = _with_audiences(uow, self._visible(uow, principal, campaign_id, for_update=True))
            ensure_editable(before)
            after = fields.apply(before)
            account = self._account(uow, before.account_id)
            if after != before:
                self._validate(after, account, now, end_date_set=after.end_date != before.end_date)
            if status is not None:
                after = set_status(after, status, now)
            resuming = before.status is CampaignStatus.PAUSED and after.status is CampaignStatus.ACTIVE
            if needs_review(before, after) or resuming:
                if after.status is CampaignStatus.REJECTED:
                    after = resubmit(after, now)
                elif after.status in LIVE:
                    context = self._review_context(uow, after, account)
                    reasons = compliance.review(after, context)
                    if resuming:  # only a campaign that passes may serve again; a refusal changes nothing
                        blockers = (*reasons, *map(str, compliance.resume_problems(after, context)))
                        if blockers:
                            raise Conflict(
                                f"the campaign cannot resume: {'; '.join(blockers)}", field="status"
                            )
                    after = compliance.review_outcome(after, reasons, now)  # a resume clears the pause reason
            if after != before:
                after = replace(after, updated_at=now)
                uow.campaigns.update(after)
                _save_audiences(uow, after, before)
            uow.commit()
        return after

    def archive(self, principal: Principal, campaign_id: int) -> Campaign:
        """Terminal and idempotent. The status changes in the same transaction as archived_at, so
        everything serving the campaign (auctions, tracking links) stops at the commit."""
        now = self._clock()
        with self._uow() as uow:
            campaign = self._visible(uow, principal, campaign_id, for_update=True)
            archived = archive_campaign(campaign, now)
            if archived is not campaign:
                uow.campaigns.update(archived)
            uow.commit()
        return archived

    # --- review ----------------------------------------------------------------------------

    def review(self, campaign_id: int) -> Campaign | None:
        """The automated review of a pending campaign. Any other status means it was decided,
        or archived, meanwhile: nothing to do."""
        with self._uow() as uow:
            campaign = uow.campaigns.get(campaign_id, for_update=True)
            if campaign is None or campaign.status is not CampaignStatus.PENDING_REVIEW:
                return campaign
            account = self._account(uow, campaign.account_id)
            reasons = compliance.review(campaign, self._review_context(uow, campaign, account))
            campaign = compliance.review_outcome(campaign, reasons, self._clock())
            uow.campaigns.update(campaign)
            uow.commit()
        return campaign

    def rereview(self, campaign_id: int) -> Campaign | None:
        """The review again after something it checks changed outside the campaign (its creatives):
        a pending or rejected campaign that now passes goes active, a live one that fails is
        rejected. Archived campaigns are left alone."""
        with self._uow() as uow:
            campaign = uow.campaigns.get(campaign_id, for_update=True)
            if campaign is None or campaign.status is CampaignStatus.ARCHIVED:
                return campaign
            account = self._account(uow, campaign.account_id)
            reasons = compliance.review(campaign, self._review_context(uow, campaign, account))
            reviewed = compliance.review_outcome(campaign, reasons, self._clock())
            uow.campaigns.update(reviewed)
            uow.commit()
        return reviewed

    def review_pending(self, limit: int = 500) -> int:
        """Review what is waiting (after a restart lost the post-commit review); returns how many."""
        with self._uow(read_only=True) as uow:
            ids = uow.campaigns.pending_review_ids(limit)
        for campaign_id in ids:
            self.review(campaign_id)
        return len(ids)

    def decide(
        self, principal: Principal, campaign_id: int, *, approve: bool, reasons: Sequence[str] = ()
    ) -> Campaign:
        """The network operator approves or rejects by hand, overriding the automated review."""
        now = self._clock()
        with self._uow() as uow:
            campaign = self._visible(uow, principal, campaign_id, for_update=True)
            if not principal.is_network:
                raise Forbidden("only the network operator reviews campaigns by hand")
            given = tuple(r.strip() for r in reasons if r.strip())
            if approve and given:
                raise ValidationFailed("an approval takes no reasons", field="reasons")
            outcome = () if approve else given or ("rejected by the network operator",)
            # A rejection by hand records the operator's reasons as given; an approval restores the
            # pause an automated rejection kept (compliance.PAUSED_BEFORE).
            decided = compliance.review_outcome if approve else record_review
            campaign = decided(campaign, outcome, now, reviewer_id=principal.account_id)
            uow.campaigns.update(campaign)
            uow.commit()
        return campaign

    # --- blocklist -------------------------------------------------------------------------
    # `by` is the calling principal over HTTP; None is the operator at the command line.

    def blocked_domains(self, *, by: Principal | None = None) -> list[BlockedDomain]:
        self._require_network(by)
        with self._uow(read_only=True) as uow:
            return uow.blocklist.list()

    def block_domain(
        self, domain: str, reason: str | None = None, *, by: Principal | None = None
    ) -> tuple[BlockedDomain, int]:
        """List a domain (and its subdomains); live campaigns sending traffic there are rejected
        in the same transaction. Idempotent. Returns the entry and how many campaigns it rejected."""
        self._require_network(by)
        name = _domain(domain)
        if compliance.is_public_suffix(name):  # 'com' would reject every live campaign at once
            raise ValidationFailed(
                f"{name} is a public suffix, not a site: list a registered domain such as example.{name}",
                field="domain",
            )
        entry = BlockedDomain(
            domain=name,
            reason=(reason or "").strip() or None,
            created_at=self._clock(),
            created_by=by.account_id if by else None,
        )
        rejected = 0
        with self._uow() as uow:
            if not uow.blocklist.add(entry):
                entry = uow.blocklist.get(entry.domain) or entry  # listed already: keep the first entry
            # URLs may spell an internationalised host either way.
            spellings = {entry.domain, compliance.unicode_domain(entry.domain)}
            for campaign in uow.campaigns.live_mentioning(sorted(spellings)):
                host = host_of(campaign.destination_url or "")
                if host is None or entry.domain not in domain_suffixes(host):
                    continue  # the coarse filter matched elsewhere in the URL
                account = self._account(uow, campaign.account_id)
                reasons = compliance.review(campaign, self._review_context(uow, campaign, account))
                if reasons:
                    # A paused campaign's rejection keeps its pause, restored when it is lifted.
                    uow.campaigns.update(compliance.review_outcome(campaign, reasons, entry.created_at))
                    rejected += 1
            uow.commit()
        return entry, rejected

    def unblock_domain(self, domain: str, *, by: Principal | None = None) -> bool:
        """Idempotent. The campaigns the automated review rejected only for the blocklist, whose
        destination is under the domain, are reviewed again in the same transaction: those that
        now pass go back to what they were before the rejection, active or paused (see
        docs/api-v2-campaigns.md); the rest stay rejected.

        Entries are the operator's objects: to anyone else they do not exist (404, not 403)."""
        if by is not None and not by.is_network:
            raise NotFound("domain is not on the blocklist", field="domain")
        try:
            name, invalid = _domain(domain), None
        except ValidationFailed as exc:
            # An entry stored under IDNA 2003 may not be a name today (xn--g6h.com, a symbol): it
            # is removed by the spelling the list shows.
            name, invalid = domain.strip().rstrip(".").lower(), exc
        with self._uow() as uow:
            removed = uow.blocklist.remove(name)
            if invalid is not None and not removed:
                raise invalid
            if removed:
                now = self._clock()
                for campaign in self._rejected_by_blocklist(uow, name):
                    account = self._account(uow, campaign.account_id)
                    if not compliance.review(campaign, self._review_context(uow, campaign, account)):
                        uow.campaigns.update(compliance.review_outcome(campaign, (), now))
            uow.commit()
        return removed

    @staticmethod
    def _rejected_by_blocklist(uow: UnitOfWork, domain: str) -> list[Campaign]:
        """Rejected campaigns sending traffic under `domain` whose automated review's every
        reason was the blocklist (a rejection by hand, or for anything else, is left alone; the
        pause a rejection carries is no reason for it)."""
        found: list[Campaign] = []
        before: int | None = None
        while True:
            page = uow.campaigns.page(
                account_id=None,
                status=CampaignStatus.REJECTED,
                include_archived=False,
                type=None,
                before_id=before,
                limit=500,
            )
            for c in page:
                host = host_of(c.destination_url or "")
                reasons = compliance.policy_reasons(c)
                if (
                    host is not None
                    and domain in domain_suffixes(host)
                    and c.review.reviewer_id is None
                    and reasons
                    and all(compliance.BLOCKLIST_REASON in r for r in reasons)
                ):
                    found.append(c)
            if len(page) < 500:
                return found
            before = page[-1].id

    # --- helpers ---------------------------------------------------------------------------

    def _visible(
        self, uow: UnitOfWork, principal: Principal, campaign_id: int, *, for_update: bool = False
    ) -> Campaign:
        scope = None if principal.is_network else principal.account_id
        campaign = uow.campaigns.get(campaign_id, account_id=scope, for_update=for_update)
        if campaign is None:
            raise NotFound(f"campaign {render('cmp', campaign_id)} not found", field="campaign_id")
        return campaign

    @staticmethod
    def _account(uow: UnitOfWork, account_id: int) -> Account:
        account = uow.accounts.get(account_id)
        if account is None:
            raise NotFound("advertiser not found", field="advertiser_id")
        return account

    def _owner_for_create(self, uow: UnitOfWork, principal: Principal, advertiser_id: int | None) -> Account:
        if principal.kind is AccountKind.PUBLISHER:
            raise Forbidden("publisher accounts cannot own campaigns")
        if not principal.is_network:
            if advertiser_id not in (None, principal.account_id):
                raise NotFound("advertiser not found", field="advertiser_id")
            return self._account(uow, principal.account_id)
        if advertiser_id is None:
            raise ValidationFailed(
                "network keys create campaigns on behalf of an advertiser: advertiser_id is required",
                field="advertiser_id",
            )
        owner = self._account(uow, advertiser_id)
        if owner.kind is not AccountKind.ADVERTISER:
            name = render_account_id(owner.kind, owner.id)
            raise ValidationFailed(f"account {name} is not an advertiser", field="advertiser_id")
        return owner

    @staticmethod
    def _validate(campaign: Campaign, owner: Account, now: datetime, *, end_date_set: bool) -> None:
        compliance.validate(campaign, CheckContext(COUNTRIES, owner.currency))
        if end_date_set:  # a past end date is refused when set, not held against later edits
            for problem in flight_problems(None, campaign.end_date, today=local_today(now, owner.timezone)):
                raise ValidationFailed(str(problem), field=problem.field)

    @staticmethod
    def _review_context(uow: UnitOfWork, campaign: Campaign, owner: Account) -> CheckContext:
        host = host_of(campaign.destination_url) if campaign.destination_url else None
        blocked = uow.blocklist.matching(domain_suffixes(host)) if host else frozenset[str]()
        return CheckContext(COUNTRIES, owner.currency, blocked, uow.creatives.standing(campaign.id))

    @staticmethod
    def _require_network(by: Principal | None) -> None:
        if by is not None and not by.is_network:
            raise Forbidden("only the network operator manages the blocklist")


def _with_audiences(uow: UnitOfWork, c: Campaign) -> Campaign:
    """The campaign with the audiences it targets (kept beside it, in the audience targets)."""
    found = uow.audiences.targets([c.id]).get(c.id)
    if found is None:
        return c
    t = replace(c.targeting, include_audiences=found.include, exclude_audiences=found.exclude)
    return replace(c, targeting=t)


def _save_audiences(uow: UnitOfWork, c: Campaign, before: Campaign | None) -> None:
    """Write the campaign's audience targeting when it changed: audiences of its own account."""
    t = c.targeting
    wanted = (t.include_audiences, t.exclude_audiences)
    was = before.targeting if before is not None else None
    if was is not None and wanted == (was.include_audiences, was.exclude_audiences):
        return
    known = {a.id for a in uow.audiences.of_account(c.account_id, [*wanted[0], *wanted[1]])}
    for name, ids in zip(("include", "exclude"), wanted, strict=True):
        missing = [i for i in ids if i not in known]
        if missing:
            shown = render("aud", missing[0])
            raise NotFound(f"audience {shown} not found", field=f"targeting.audiences.{name}")
    uow.audiences.set_targets(c.id, c.account_id, Targets(*wanted))


def _domain(text: str) -> str:
    try:
        return compliance.normalize_domain(text)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="domain") from None
