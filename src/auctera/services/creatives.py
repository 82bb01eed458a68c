"""Creatives: upload with its automated audit, serving, third-party trackers, DCO, deletion.

The audit runs inside the upload (it takes milliseconds for an image; ffprobe for a video), so
the asset id handed back already has its verdict. Malware is never stored; a rejected asset is
kept (the advertiser can read why) but never served. An advertiser sees its own creatives; the
network operator every one; anyone else gets "not found".
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.campaigns import AFFILIATE_TYPES, Campaign, CampaignStatus, links_in_flight
from auctera.domain.catalog import Product
from auctera.domain.creatives import (
    ASSET_PREFIX,
    MAX_BYTES,
    MAX_TRACKERS,
    Asset,
    AssetKind,
    Finding,
    Format,
    MalwareVerdict,
    MediaFacts,
    MediaRefused,
    ScanResult,
    Upload,
    category_of,
    expand_trackers,
    html5_findings,
    merge_scans,
    pause_without_creative,
    read_bundle,
    size_findings,
    sniff,
    tracker_problem,
    type_findings,
    valid_category,
    verdict,
    video_findings,
)
from auctera.domain.dco import (
    DCO_PREFIX,
    Template,
    TemplateError,
    Variable,
    VariantStats,
    check_variables,
    choose,
    fill,
)
from auctera.domain.money import display
from auctera.domain.tracking import CLICK_PATH, IMPRESSION_PATH, link_query
from auctera.errors import AucteraError, Conflict, Forbidden, NotFound, ValidationFailed
from auctera.services.clock import Clock, Ids
from auctera.services.ports import (
    MalwareScanner,
    MediaInspector,
    ObjectStore,
    StorageUnavailable,
    StoredObject,
    UnitOfWork,
    UnitOfWorkFactory,
    VariantStatsSource,
)

CDN_PATH = "/cdn"


class TooLarge(AucteraError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMedia(AucteraError):
    status_code = 415
    code = "unsupported_media_type"


@dataclass(frozen=True, slots=True)
class Served:
    """One serve of a DCO template."""

    template: Template
    variant: str
    values: dict[str, str | None]
    click_url: str | None  # None: the template names no campaign to track
    impression_url: str | None


@dataclass(frozen=True, slots=True)
class AdTag:
    """What an ad slot needs to show an asset: its file, our links, the third-party trackers
    with their cache-busting macros filled for this serve."""

    asset: Asset
    cdn_url: str
    click_url: str | None
    impression_url: str | None
    click_trackers: list[str]
    impression_trackers: list[str]


@dataclass(frozen=True, slots=True)
class Deleted:
    asset_id: int
    paused_campaigns: tuple[int, ...]


class CreativeService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: Ids,
        clock: Clock,
        *,
        store: ObjectStore,
        scanner: MalwareScanner,
        inspector: MediaInspector,
        stats: VariantStatsSource,
        review_campaign: Callable[[int], object],
        cdn_base: str,
        tracking_base: str,
        script_hosts: Sequence[str],
        stats_seconds: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        """`stats_seconds`: a template's variant figures are read from the event log at most this
        often (a serve must not pay an analytical query)."""
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._store = store
        self._scanner = scanner
        self._inspector = inspector
        self._stats = stats
        self._review_campaign = review_campaign
        self._cdn_base = cdn_base.rstrip("/")
        self._tracking_base = tracking_base.rstrip("/")
        self._script_hosts = tuple(script_hosts)
        self._stats_seconds = stats_seconds
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._stats_cache: dict[int, tuple[float, dict[str, VariantStats]]] = {}

    # --- upload and audit ------------------------------------------------------------------

    def upload(self, principal: Principal, upload: Upload) -> Asset:
        """Sniff, scan, decode, audit, store. Refused (4xx, nothing written) when the content is
        none of the formats, disagrees with the declared type, is too large or cannot be decoded
        safely; stored with a rejected audit when a rule fails; malware is recorded, never kept."""
        self._require_advertiser(principal)
        if upload.iab_category is not None and not valid_category(upload.iab_category):
            raise ValidationFailed(
                f"{upload.iab_category!r} is not an IAB content category (IAB1 .. IAB26, IABn-m)",
                field="iab_category",
            )
        if upload.campaign_id is not None:
            with self._uow(read_only=True) as uow:
                self._campaign_for(uow, principal, upload.campaign_id)
        found = sniff(upload.data[:16])
        scan = self._scanner.scan(upload.data)
        if found is None:
            if scan.verdict is MalwareVerdict.INFECTED:
                return self._record(principal, upload, None, scan, [], MediaFacts(), None, upload.data)
            raise UnsupportedMedia(
                "the content is none of JPG, PNG, GIF, MP4 or a zipped HTML5 bundle", field="file"
            )
        if found.kind is not upload.declared:
            raise ValidationFailed(
                f"type is {upload.declared.value} but the content is {found.value} ({found.kind.value})",
                field="type",
            )
        limit = MAX_BYTES[found.kind]
        if len(upload.data) > limit:
            raise TooLarge(f"{found.kind.value} files are at most {limit // 2**20} MB", field="file")
        stored, facts, findings, words = self._inspect(upload, found, scan)
        if isinstance(stored, ScanResult):  # malware inside a bundle
            return self._record(principal, upload, found, stored, findings, facts, None, upload.data)
        return self._record(principal, upload, found, scan, findings, facts, words, stored)

    def _inspect(
        self, upload: Upload, found: Format, scan: ScanResult
    ) -> tuple[bytes | ScanResult, MediaFacts, list[Finding], str]:
        """(bytes to store, or the scan that found malware inside; facts; findings; text for the
        category)."""
        findings = type_findings(upload.filename, found)
        words = upload.filename
        try:
            if found.kind is AssetKind.IMAGE:
                data, facts = self._inspector.clean_image(upload.data, found)
                return data, facts, findings + size_findings(facts), words
            if found.kind is AssetKind.VIDEO:
                facts = self._inspector.probe_video(upload.data)
                return upload.data, facts, findings + video_findings(facts), words
            bundle = read_bundle(upload.data)
        except MediaRefused as exc:
            raise ValidationFailed(str(exc), field="file") from None
        inner = merge_scans([scan, *(self._scanner.scan(content) for content in bundle.members.values())])
        report = html5_findings(bundle, self._script_hosts)
        findings += report.findings + size_findings(report.facts)
        if inner.verdict is not MalwareVerdict.CLEAN:
            return inner, report.facts, findings, words
        return upload.data, report.facts, findings, f"{words} {report.text}"

    def _record(
        self,
        principal: Principal,
        upload: Upload,
        found: Format | None,
        scan: ScanResult,
        findings: list[Finding],
        facts: MediaFacts,
        words: str | None,
        data: bytes,
    ) -> Asset:
        now = self._clock()
        asset_id = self._ids.next_id()
        category = category_of(upload.iab_category, words or "")
        audit = verdict(scan, findings, category, now)
        keep = scan.verdict is MalwareVerdict.CLEAN and found is not None
        key = f"{idfmt.render(ASSET_PREFIX, asset_id)}.{found.extension}" if keep and found else None
        asset = Asset(
            id=asset_id,
            account_id=principal.account_id,
            kind=found.kind if found else upload.declared,
            format=found,
            filename=upload.filename[:255],
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            storage_key=key,
            facts=facts,
            audit=audit,
            created_at=now,
            campaign_ids=(upload.campaign_id,) if upload.campaign_id is not None else (),
        )
        if key is not None:
            self._store.put(key, data)
        try:
            with self._uow() as uow:
                if upload.campaign_id is not None:  # still there, still the caller's
                    self._campaign_for(uow, principal, upload.campaign_id)
                uow.creatives.add(asset)
                uow.commit()
        except BaseException:
            if key is not None:  # an orphan file would never be served, only take room
                with contextlib.suppress(StorageUnavailable):
                    self._store.delete(key)
            raise
        if upload.campaign_id is not None:
            self._review_campaign(upload.campaign_id)  # its creatives changed: the review again
        return asset

    def get(self, principal: Principal, asset_id: int) -> Asset:
        with self._uow(read_only=True) as uow:
            return self._visible(uow, principal, asset_id)

    def cdn_url(self, asset: Asset) -> str | None:
        if asset.storage_key is None:
            return None
        if asset.format is Format.ZIP:
            return f"{self._cdn_base}/{asset.storage_key.removesuffix('.zip')}/index.html"
        return f"{self._cdn_base}/{asset.storage_key}"

    # --- serving ---------------------------------------------------------------------------

    def servable(self, name: str) -> Asset | None:
        """An approved asset by its CDN name (`ast_x.jpg`, or `ast_x.zip` for a bundle); None for
        anything else: unknown, deleted, rejected. Its file is read apart (`read`, `content`), so
        a revalidation (304) never touches the store."""
        stem, _, _ = name.partition(".")
        asset_id = idfmt.parse(ASSET_PREFIX, stem)
        if asset_id is None:
            return None
        with self._uow(read_only=True) as uow:
            asset = uow.creatives.get(asset_id)
        if asset is None or not asset.servable or asset.storage_key != name:
            return None
        return asset

    def read(self, asset: Asset) -> StoredObject | None:
        """A servable asset's file in chunks (a video may be 100 MB); None when it is gone."""
        assert asset.storage_key is not None
        return self._store.read(asset.storage_key)

    def content(self, asset: Asset) -> bytes | None:
        """A servable asset's file whole (an HTML5 bundle, to serve its members); None when gone."""
        assert asset.storage_key is not None
        return self._store.get(asset.storage_key)

    def tag(self, principal: Principal, asset_id: int, campaign_id: int | None) -> AdTag:
        """An approved asset as an ad slot serves it, third-party macros expanded for this serve."""
        with self._uow(read_only=True) as uow:
            asset = self._visible(uow, principal, asset_id)
            campaign = self._campaign_for(uow, principal, campaign_id) if campaign_id is not None else None
        if campaign is not None:
            self._require_clickable(campaign, "tag")
        url = self.cdn_url(asset)
        if not asset.servable or url is None:
            raise ValidationFailed(
                f"asset {idfmt.render(ASSET_PREFIX, asset_id)} did not pass its audit and is not served",
                field="asset_id",
            )
        click, pixel = self._links(campaign_id, asset.id, None)
        with self._rng_lock:
            buster = str(self._rng.randrange(10**9, 10**10))
        return AdTag(
            asset,
            url,
            click,
            pixel,
            expand_trackers(asset.click_trackers, buster),
            expand_trackers(asset.impression_trackers, buster),
        )

    def set_trackers(
        self, principal: Principal, asset_id: int, clicks: Sequence[str], impressions: Sequence[str]
    ) -> Asset:
        """Replace the asset's third-party click and impression trackers (validated)."""
        for where, urls in (("click_tracker", clicks), ("impression_tracker", impressions)):
            if len(urls) > MAX_TRACKERS:
                raise ValidationFailed(f"at most {MAX_TRACKERS} trackers", field=where)
            for url in urls:
                problem = tracker_problem(url)
                if problem:
                    raise ValidationFailed(f"{where}: {problem}", field=where)
        if not clicks and not impressions:
            raise ValidationFailed("give a click_tracker or an impression_tracker", field="click_tracker")
        now = self._clock()
        with self._uow() as uow:
            asset = self._visible(uow, principal, asset_id)
            uow.creatives.set_trackers(asset.id, clicks, impressions, now)
            uow.commit()
        return replace(asset, click_trackers=tuple(clicks), impression_trackers=tuple(impressions))

    # --- deletion --------------------------------------------------------------------------

    def delete(self, principal: Principal, asset_id: int) -> Deleted:
        """The file is purged from the store, then the row marked deleted; every active campaign
        left without an approved creative is paused in the same transaction, its reason on the
        campaign. A store that cannot be reached fails the call (503) with nothing changed."""
        now = self._clock()
        paused: list[int] = []
        with self._uow() as uow:
            asset = self._visible(uow, principal, asset_id)
            uow.creatives.mark_deleted(asset.id, now)
            rendered = idfmt.render(ASSET_PREFIX, asset.id)
            for campaign_id in asset.campaign_ids:
                campaign = uow.campaigns.get(campaign_id, for_update=True)
                if campaign is None or campaign.status is not CampaignStatus.ACTIVE:
                    continue
                standing = uow.creatives.standing(campaign_id)
                if standing is None or not standing.approved:
                    uow.campaigns.update(pause_without_creative(campaign, rendered, now))
                    paused.append(campaign_id)
            # Purged before the commit: were it after, a store outage would leave the file
            # behind with no row left to find it by. Deleting is idempotent, so a retry is safe.
            if asset.storage_key is not None:
                self._store.delete(asset.storage_key)
            uow.commit()
        return Deleted(asset.id, tuple(paused))

    # --- DCO -------------------------------------------------------------------------------

    def create_template(
        self, principal: Principal, name: str, variables: Sequence[Variable], campaign_id: int | None
    ) -> Template:
        self._require_advertiser(principal)
        name = name.strip()
        if not name or len(name) > 255:
            raise ValidationFailed("name must be 1-255 characters", field="name")
        try:
            check_variables(variables)
        except TemplateError as exc:
            raise ValidationFailed(exc.message, field=exc.field) from None
        template = Template(
            id=self._ids.next_id(),
            account_id=principal.account_id,
            name=name,
            variables=tuple(variables),
            created_at=self._clock(),
            campaign_id=campaign_id,
        )
        with self._uow() as uow:
            if campaign_id is not None:
                _require_ad_campaign(self._campaign_for(uow, principal, campaign_id))
            uow.creatives.add_template(template)
            uow.commit()
        return template

    def serve_template(self, principal: Principal, template_id: int, product_id: int | None) -> Served:
        """One variant chosen by Thompson sampling, its values filled (feed variables from the
        product), with tracking links that record the creative and the variant."""
        with self._uow(read_only=True) as uow:
            template = uow.creatives.get_template(template_id, self._scope(principal))
            if template is None:
                raise NotFound(f"DCO template {idfmt.render(DCO_PREFIX, template_id)} not found", field="id")
            product = None
            if product_id is not None:
                found = uow.products.get(product_id)
                if found is None or found.account_id != template.account_id:
                    raise NotFound("product not found", field="product_id")
                product = _feed_fields(found)
            campaign = uow.campaigns.get(template.campaign_id) if template.campaign_id is not None else None
        if template.campaign_id is not None:
            if campaign is None:  # never deleted, but a dangling id must not give a dead link either
                raise Conflict("the template's campaign no longer exists", field="campaign_id")
            self._require_clickable(campaign, "ad")
        variants = template.variants()
        stats = self._variant_stats(template)
        with self._rng_lock:
            key = choose([v.key for v in variants], stats, self._rng)
        variant = next(v for v in variants if v.key == key)
        click, pixel = self._links(template.campaign_id, template.id, key)
        return Served(template, key, fill(template, variant, product), click, pixel)

    def variant_stats(self, principal: Principal, template_id: int) -> dict[str, VariantStats]:
        with self._uow(read_only=True) as uow:
            template = uow.creatives.get_template(template_id, self._scope(principal))
        if template is None:
            raise NotFound(f"DCO template {idfmt.render(DCO_PREFIX, template_id)} not found", field="id")
        return self._stats.variant_stats(template.account_id, template.id)

    def _variant_stats(self, template: Template) -> dict[str, VariantStats]:
        now = time.monotonic()
        cached = self._stats_cache.get(template.id)
        if cached is not None and now - cached[0] < self._stats_seconds:
            return cached[1]
        stats = self._stats.variant_stats(template.account_id, template.id)
        self._stats_cache[template.id] = (now, stats)
        return stats

    # --- helpers ---------------------------------------------------------------------------

    def _links(
        self, campaign_id: int | None, creative_id: int, variant: str | None
    ) -> tuple[str | None, str | None]:
        if campaign_id is None:
            return None, None
        query = link_query(campaign_id, None, {}, offer=False, creative_id=creative_id, variant=variant)
        base = self._tracking_base
        return f"{base}{CLICK_PATH}?{query}", f"{base}{IMPRESSION_PATH}?{query}"

    def _require_clickable(self, campaign: Campaign, what: str) -> None:
        """409 unless GET /click would redirect this campaign's ad link right now: a tag or a DCO
        serve never hands out a link that answers an error page."""
        problem = click_refusal(campaign, self._clock().date())
        if problem is not None:
            raise Conflict(
                f"campaign {idfmt.render('cmp', campaign.id)} {problem}, so a click on this {what} "
                "would not reach a landing page",
                field="campaign_id",
            )

    @staticmethod
    def _scope(principal: Principal) -> int | None:
        return None if principal.is_network else principal.account_id

    def _visible(self, uow: UnitOfWork, principal: Principal, asset_id: int) -> Asset:
        asset = uow.creatives.get(asset_id, self._scope(principal))
        if asset is None:
            raise NotFound(f"asset {idfmt.render(ASSET_PREFIX, asset_id)} not found", field="asset_id")
        return asset

    def _campaign_for(self, uow: UnitOfWork, principal: Principal, campaign_id: int) -> Campaign:
        campaign = uow.campaigns.get(campaign_id, account_id=principal.account_id)
        if campaign is None:
            raise NotFound(f"campaign {idfmt.render('cmp', campaign_id)} not found", field="campaign_id")
        if campaign.status is CampaignStatus.ARCHIVED:
            raise ValidationFailed("the campaign is archived", field="campaign_id")
        return campaign

    @staticmethod
    def _require_advertiser(principal: Principal) -> None:
        if principal.kind is not AccountKind.ADVERTISER:
            raise Forbidden("creatives belong to advertisers: use the advertiser's API key")


def click_refusal(campaign: Campaign, today: date) -> str | None:
    """Why the click handler would refuse an ad link (`c=`, no publisher) of this campaign today,
    None when it redirects. Mirrors `TrackingService._resolve`."""
    if campaign.type in AFFILIATE_TYPES:
        return f"is an offer ({campaign.type.value}): its links need a publisher (p=)"
    if campaign.status is not CampaignStatus.ACTIVE:
        return f"is {campaign.status.value}"
    if not links_in_flight(campaign, today):
        start, end = campaign.start_date, campaign.end_date
        return f"is outside its flight dates ({start or 'open'} to {end or 'open'})"
    if not campaign.destination_url:
        return "has no destination_url (set it first)"
    return None


def _require_ad_campaign(campaign: Campaign) -> None:
    """An offer's clicks must name the publisher sending them: a creative's links never do."""
    if campaign.type in AFFILIATE_TYPES:
        raise ValidationFailed(
            f"campaign {idfmt.render('cmp', campaign.id)} is an offer ({campaign.type.value}): its "
            "tracking links are a publisher's (GET /v2/offers/links), not a creative's",
            field="campaign_id",
        )


def _feed_fields(product: Product) -> Mapping[str, str]:
    fields = {
        "name": product.name,
        "description": product.description,
        "price": f"{display(product.price_micros)} {product.currency}",
        "image_url": product.image_url,
        "url": product.url,
        "brand": product.brand,
        "category": product.category,
    }
    return {k: v for k, v in fields.items() if v is not None}
