"""Creatives, the campaigns running them, and DCO templates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from auctera.domain.creatives import (
    Asset,
    AssetKind,
    Audit,
    AuditStatus,
    CreativeStanding,
    Finding,
    Format,
    MalwareVerdict,
    MediaFacts,
    Severity,
)
from auctera.domain.dco import Template, Variable
from auctera.store.tables import creative_campaigns, creatives, dco_templates


class SqlCreativeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- assets ------------------------------------------------------------------------------

    def add(self, asset: Asset) -> None:
        facts, audit = asset.facts, asset.audit
        duration = None if facts.duration_seconds is None else round(facts.duration_seconds * 1000)
        self._conn.execute(
            insert(creatives).values(
                id=asset.id,
                account_id=asset.account_id,
                kind=asset.kind.value,
                format=asset.format.value if asset.format else None,
                filename=asset.filename,
                size_bytes=asset.size_bytes,
                sha256=asset.sha256,
                storage_key=asset.storage_key,
                width=facts.width,
                height=facts.height,
                duration_ms=duration,
                video_codec=facts.video_codec,
                audio_codec=facts.audio_codec,
                status=audit.status.value,
                malware_scan=audit.malware_scan.value,
                iab_category=audit.iab_category,
                findings=[f.as_dict() for f in audit.findings],
                audited_at=audit.audited_at,
                click_trackers=list(asset.click_trackers),
                impression_trackers=list(asset.impression_trackers),
                created_at=asset.created_at,
                updated_at=asset.created_at,
            )
        )
        if asset.campaign_ids:
            self._conn.execute(
                insert(creative_campaigns),
                [{"creative_id": asset.id, "campaign_id": c} for c in asset.campaign_ids],
            )

    def get(self, asset_id: int, account_id: int | None = None) -> Asset | None:
        """A live (not deleted) asset; `account_id` scopes it to its owner."""
        query = select(creatives).where(creatives.c.id == asset_id, creatives.c.deleted_at.is_(None))
        if account_id is not None:
            query = query.where(creatives.c.account_id == account_id)
        row = self._conn.execute(query).mappings().first()
        if row is None:
            return None
        linked = self._conn.execute(
            select(creative_campaigns.c.campaign_id).where(creative_campaigns.c.creative_id == asset_id)
        ).scalars()
        return _asset(row, tuple(sorted(linked)))

    def set_trackers(
        self, asset_id: int, clicks: Sequence[str], impressions: Sequence[str], now: datetime
    ) -> None:
        self._conn.execute(
            update(creatives)
            .where(creatives.c.id == asset_id)
            .values(click_trackers=list(clicks), impression_trackers=list(impressions), updated_at=now)
        )

    def mark_deleted(self, asset_id: int, now: datetime) -> None:
        """The row stays (events name it); the file reference and the campaign links go."""
        self._conn.execute(
            update(creatives)
            .where(creatives.c.id == asset_id)
            .values(storage_key=None, deleted_at=now, updated_at=now)
        )
        self._conn.execute(delete(creative_campaigns).where(creative_campaigns.c.creative_id == asset_id))

    def standing(self, campaign_id: int) -> CreativeStanding | None:
        """The campaign's live creatives by audit status; None when it has none."""
        rows = self._conn.execute(
            select(creatives.c.id, creatives.c.status)
            .join(creative_campaigns, creative_campaigns.c.creative_id == creatives.c.id)
            .where(creative_campaigns.c.campaign_id == campaign_id, creatives.c.deleted_at.is_(None))
        ).all()
        if not rows:
            return None
        approved = tuple(r.id for r in rows if r.status == AuditStatus.APPROVED.value)
        rejected = tuple(r.id for r in rows if r.status != AuditStatus.APPROVED.value)
        return CreativeStanding(approved, rejected)

    # --- DCO templates -----------------------------------------------------------------------

    def add_template(self, template: Template) -> None:
        self._conn.execute(
            insert(dco_templates).values(
                id=template.id,
                account_id=template.account_id,
                name=template.name,
                variables=[v.as_dict() for v in template.variables],
                campaign_id=template.campaign_id,
                created_at=template.created_at,
            )
        )

    def get_template(self, template_id: int, account_id: int | None = None) -> Template | None:
        query = select(dco_templates).where(dco_templates.c.id == template_id)
        if account_id is not None:
            query = query.where(dco_templates.c.account_id == account_id)
        row = self._conn.execute(query).mappings().first()
        if row is None:
            return None
        variables = tuple(
            Variable(v["name"], tuple(v.get("values", ())), v.get("feed_field")) for v in row["variables"]
        )
        return Template(
            id=row["id"],
            account_id=row["account_id"],
            name=row["name"],
            variables=variables,
            created_at=row["created_at"],
            campaign_id=row["campaign_id"],
        )


def _asset(row: Any, campaign_ids: tuple[int, ...]) -> Asset:
    duration = None if row["duration_ms"] is None else row["duration_ms"] / 1000
    return Asset(
        id=row["id"],
        account_id=row["account_id"],
        kind=AssetKind(row["kind"]),
        format=Format(row["format"]) if row["format"] else None,
        filename=row["filename"],
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        storage_key=row["storage_key"],
        facts=MediaFacts(row["width"], row["height"], duration, row["video_codec"], row["audio_codec"]),
        audit=Audit(
            status=AuditStatus(row["status"]),
            malware_scan=MalwareVerdict(row["malware_scan"]),
            iab_category=row["iab_category"],
            findings=tuple(
                Finding(f["check"], Severity(f["severity"]), f["message"]) for f in row["findings"]
            ),
            audited_at=row["audited_at"],
        ),
        created_at=row["created_at"],
        campaign_ids=campaign_ids,
        click_trackers=tuple(row["click_trackers"]),
        impression_trackers=tuple(row["impression_trackers"]),
    )
