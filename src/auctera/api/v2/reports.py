"""/v2/reports: multi-touch attribution of a conversion (seed 000, `GET /v2/reports/mta`; see
docs/api-v2-reports-mta.md), and the daily, publisher and creative reports and async exports
(seed 000, "Reporting & Analytics"; see docs/api-v2-reports.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import BackgroundTasks, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import Day, DecimalJSONRoute, Number, QueryInt, _Write, number
from auctera.domain import ids as idfmt
from auctera.domain import reports as calc
from auctera.domain.accounts import AccountKind, Principal, parse_account_id, render_account_id
from auctera.domain.attribution import AttributionModel, round_credits
from auctera.domain.campaigns import CampaignType
from auctera.domain.click_delays import BUCKET_BOUNDS
from auctera.domain.creatives import creative_prefix
from auctera.domain.dates import utc_text
from auctera.domain.events import Totals
from auctera.domain.ids import CLICK_PREFIX
from auctera.domain.money import from_micros
from auctera.domain.reports import ExportFormat, ExportJob, ExportStatus, ExportType
from auctera.errors import NotFound, ValidationFailed
from auctera.services.attribution import AttributionService, Journey
from auctera.services.conversions import TRANSACTION_PREFIX
from auctera.services.reports import (
    MAX_OFFSET,
    MAX_PAGE,
    CreativeReport,
    DailyRow,
    PublisherSort,
    ReportCurrency,
    check_dates,
    net_conversions,
)

router = IndexedRouter(prefix="/v2", tags=["reports"], route_class=DecimalJSONRoute)
Caller = Annotated[Principal, Depends(bearer_principal)]

CREDIT_PLACES = 4
MAX_LOOKBACK_DAYS = 90
# Below this a half-life is no longer a duration (1e-300 h rounds to 0 s): refused, not replaced.
MIN_HALF_LIFE_HOURS = 0.01


def _service(request: Request) -> AttributionService:
    return container_of(request).attribution


# A plain `def`: the journey reads the event log, and data_driven may fit a model on every path of
# the account (cached for minutes): that belongs in the threadpool, never on the event loop.
@router.get("/reports/mta", summary="Multi-touch attribution: each touchpoint's credit for a conversion")
def mta(
    request: Request,
    caller: Caller,
    conversion_id: Annotated[str, Query(min_length=1, max_length=64, description="txn_… from a postback")],
    model: Annotated[
        AttributionModel | None, Query(description="Default: the account's (last_click for now)")
    ] = None,
    half_life_hours: Annotated[
        float | None,
        Query(
            ge=MIN_HALF_LIFE_HOURS,
            le=MAX_LOOKBACK_DAYS * 24,
            description="time_decay only; 0.01 to 2160; default 168 (7 days)",
        ),
    ] = None,
    lookback_days: Annotated[QueryInt, Query(ge=1, le=MAX_LOOKBACK_DAYS)] = 30,
) -> dict[str, Any]:
    journey = _service(request).journey(
        caller,
        conversion_id,
        model,
        half_life=timedelta(hours=half_life_hours) if half_life_hours is not None else None,
        lookback=timedelta(days=lookback_days),
    )
    return journey_json(journey, lookback_days)


def journey_json(journey: Journey, lookback_days: int) -> dict[str, Any]:
    """The seed's shape (`conversion_id`, `touchpoints: [{channel, interaction, credit}]`) plus
    what helps reading it. Credits are rounded keeping their sum at exactly 1.0000."""
    rounded = round_credits([t.credit for t in journey.touchpoints], CREDIT_PLACES)
    body: dict[str, Any] = {
        "conversion_id": idfmt.render(TRANSACTION_PREFIX, journey.conversion.id),
        "model": journey.model.value,
        "lookback_days": lookback_days,
        "converted_at": utc_text(journey.conversion.occurred_at),
    }
    if journey.half_life is not None:
        body["half_life_hours"] = journey.half_life / timedelta(hours=1)
    body["touchpoints"] = [
        {
            "channel": t.touchpoint.channel,
            "interaction": t.touchpoint.interaction,
            "credit": float(credit),
            "at": utc_text(t.touchpoint.at),
            "campaign_id": _id("cmp", t.touchpoint.campaign_id),
            "click_id": _id(CLICK_PREFIX, t.touchpoint.event_id) if t.touchpoint.is_click else None,
        }
        for t, credit in zip(journey.touchpoints, rounded, strict=True)
    ]
    return body


def _id(prefix: str, value: int | None) -> str | None:
    return None if value is None else idfmt.render(prefix, value)


# --- daily, publisher and creative reports (docs/api-v2-reports.md) ----------------------------

PROBABILITY_PLACES = Decimal("0.0001")


def _number(value: Decimal | None) -> Number | None:
    return None if value is None else number(value)


def _money(micros: int) -> Number | None:
    return _number(from_micros(micros))


def _campaign(text: str | None) -> int | None:
    if text is None:
        return None
    value = idfmt.parse("cmp", text)
    if value is None:
        raise NotFound(f"campaign {text} not found", field="campaign_id")
    return value


def _publisher(text: str | None) -> int | None:
    if text is None:
        return None
    value = parse_account_id(text)
    if value is None:
        raise ValidationFailed(f"not a publisher id: {text}", field="publisher_id")
    return value


def _currency(in_currency: ReportCurrency) -> dict[str, Any]:
    """The one currency every money figure is in, and the operator's rates (as set, exact) that
    converted the money of other advertisers' currencies into it (docs/api-v2-reports.md)."""
    return {
        "currency": in_currency.code,
        "exchange_rates": [
            {
                "base": r.base,
                "quote": r.quote,
                "rate": format(r.rate, "f"),
                "from": r.effective_from.isoformat(),
            }
            for r in in_currency.rates
        ],
    }


def _cost(costs: bool, value: Number | None) -> Number | None:
    """An advertiser-cost figure, null for a caller that may not see it (D49): the key stays."""
    return value if costs else None


def _figures(t: Totals, costs: bool) -> dict[str, Any]:
    """The daily figures of one day (or of the whole range)."""
    conversions = net_conversions(t)
    return {
        "spend": _cost(costs, _money(t.cost_micros)),
        "impressions": t.impressions,
        "clicks": t.clicks,
        "conversions": conversions,
        "reversals": t.reversals,
        "revenue": _money(t.revenue_micros),
        "payout": _money(t.payout_micros),
        "roas": _cost(costs, _number(calc.roas(t.revenue_micros, t.cost_micros))),
        "ivt_blocked": t.ivt_blocked,
        "ctr": _number(calc.rate(t.clicks, t.impressions)),
        "cvr": _number(calc.rate(conversions, t.clicks)),
        "cpa": _cost(costs, _number(calc.cpa(t.cost_micros, conversions))),
    }


def _day(row: DailyRow, costs: bool) -> dict[str, Any]:
    body = {"date": row.day.isoformat(), **_figures(row.totals, costs), "finalized": row.finalized}
    body["final_at"] = utc_text(row.final_at)
    if row.restatement is not None:
        body["restatement"] = {
            "reason": "events logged after the day was finalized (late conversions, reversals, clawbacks)",
            "last_logged_at": utc_text(row.restatement.last_logged_at),
            "changes": _figures(row.restatement.delta, costs),
        }
    return body


@router.get("/reports/daily", summary="Daily performance in the account's time zone")
def daily(
    request: Request,
    caller: Caller,
    start_date: Day,
    end_date: Day,
    campaign_id: Annotated[str | None, Query(description="cmp_…: one campaign")] = None,
    type: Annotated[CampaignType | None, Query(description="Only campaigns of this type")] = None,
    publisher_id: Annotated[str | None, Query(description="pub_…: one publisher's traffic")] = None,
) -> dict[str, Any]:
    report = container_of(request).reports.daily(
        caller,
        start_date,
        end_date,
        campaign_id=_campaign(campaign_id),
        campaign_type=type,
        publisher_id=_publisher(publisher_id),
    )
    return {
        "start_date": report.start.isoformat(),
        "end_date": report.end.isoformat(),
        "timezone": report.timezone,
        **_currency(report.currency),
        "data": [_day(row, report.costs) for row in report.rows],
        "totals": _figures(report.totals, report.costs),
    }


def _placement(keys: tuple[object, ...]) -> dict[str, Any]:
    """Who the row is: an app bundle, else a domain, else the affiliate partner (publisher)."""
    publisher_id, ssp, domain, app_bundle = keys
    body: dict[str, Any] = {}
    if app_bundle is not None:
        body["app_bundle"] = app_bundle
    elif domain is not None:
        body["domain"] = domain
    elif publisher_id is not None:
        body["affiliate_id"] = render_account_id(AccountKind.PUBLISHER, int(str(publisher_id)))
    else:
        body["domain"] = None  # no placement recorded (direct traffic)
    if ssp is not None:
        body["ssp"] = ssp
    if publisher_id is not None:
        body["publisher_id"] = render_account_id(AccountKind.PUBLISHER, int(str(publisher_id)))
    return body


@router.get("/reports/publishers", summary="Per domain, app bundle, SSP and affiliate partner")
def publishers(
    request: Request,
    caller: Caller,
    campaign_id: Annotated[str | None, Query(description="cmp_…; default: every campaign")] = None,
    start_date: Day | None = None,
    end_date: Day | None = None,
    sort: Annotated[
        PublisherSort | None, Query(description="Default: spend (for a publisher: payout)")
    ] = None,
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[QueryInt, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[QueryInt, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    page = container_of(request).reports.publishers(
        caller,
        campaign_id=_campaign(campaign_id),
        start=start_date,
        end=end_date,
        sort=sort,
        descending=order == "desc",
        offset=offset,
        limit=limit,
    )
    data = []
    for row in page.rows:
        t = row.totals
        data.append(
            {
                **_placement(row.keys),
                "impressions": t.impressions,
                "clicks": t.clicks,
                "spend": _cost(page.costs, _money(t.cost_micros)),
                "conversions": net_conversions(t),
                "payout": _money(t.payout_micros),
                "revenue": _money(t.revenue_micros),
                "ivt_blocked": t.ivt_blocked,
                "clearing_price_paid": _cost(page.costs, _money(row.media_payout_micros)),
                "paid_events": row.paid_events,
                "avg_clearing_price": _cost(
                    page.costs, _number(calc.average_micros(row.media_payout_micros, row.paid_events))
                ),
            }
        )
    after = page.offset + len(page.rows)
    return {
        **_currency(page.currency),
        "data": data,
        "pagination": {
            "total": page.total,
            "offset": page.offset,
            "limit": limit,
            "next_offset": after if after < page.total else None,
        },
    }


@router.get(
    "/reports/click-to-conversion",
    summary="Each publisher's conversions by delay after their click, tested for click flooding",
)
def click_to_conversion(
    request: Request,
    caller: Caller,
    start_date: Day,
    end_date: Day,
    campaign_id: Annotated[str | None, Query(description="cmp_…: one campaign")] = None,
) -> dict[str, Any]:
    report = container_of(request).reports.click_delays(
        caller, start_date, end_date, campaign_id=_campaign(campaign_id)
    )
    bounds: list[int | None] = [*BUCKET_BOUNDS, None]
    data = []
    for row in report.rows:
        d, test = row.delays, row.flooding
        data.append(
            {
                "advertiser_id": render_account_id(AccountKind.ADVERTISER, row.advertiser_id),
                "publisher_id": render_account_id(AccountKind.PUBLISHER, row.publisher_id),
                "conversions": d.conversions,
                "buckets": [
                    {"up_to_seconds": bound, "conversions": n}
                    for bound, n in zip(bounds, d.buckets, strict=True)
                ],
                "median_seconds": _seconds(d.median_seconds),
                "p90_seconds": _seconds(d.p90_seconds),
                "late_conversions": d.late,
                "late_share": _share(test.late_share),
                "flooding": {
                    "suspected": test.suspected,
                    "reference_late_share": _share(test.reference_late_share),
                    "p_value": test.p_value,
                },
            }
        )
    return {
        "start_date": report.start.isoformat(),
        "end_date": report.end.isoformat(),
        "timezone": report.timezone,
        "late_after_seconds": int(report.late_after.total_seconds()),
        "data": data,
    }


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _percent(interval: calc.Interval | None) -> list[Number | None] | None:
    if interval is None:
        return None
    return [
        _number((Decimal(repr(interval.low)) * 100).quantize(calc.RATE_PLACES)),
        _number((Decimal(repr(interval.high)) * 100).quantize(calc.RATE_PLACES)),
    ]


def _probability(p: float | None) -> Number | None:
    return None if p is None else _number(Decimal(repr(p)).quantize(PROBABILITY_PLACES))


def _creative_key(keys: tuple[object, ...]) -> dict[str, Any]:
    creative_id, variant = keys
    return {
        "creative_id": _id(
            creative_prefix(None if variant is None else str(variant)),
            None if creative_id is None else int(str(creative_id)),
        ),
        "variant": variant,
    }


def _test(report: CreativeReport, winner: int | None, metric: str) -> dict[str, Any]:
    return {
        "metric": metric,
        "significant": winner is not None,
        "threshold": calc.WIN_THRESHOLD,
        "winner": None if winner is None else _creative_key(report.arms[winner].row.keys),
    }


@router.get("/reports/creatives", summary="Per creative and variant, with A/B test statistics")
def creatives(
    request: Request,
    caller: Caller,
    campaign_id: Annotated[str | None, Query(description="cmp_…; default: every campaign")] = None,
    start_date: Day | None = None,
    end_date: Day | None = None,
) -> dict[str, Any]:
    report = container_of(request).reports.creatives(
        caller, campaign_id=_campaign(campaign_id), start=start_date, end=end_date
    )
    data = []
    for i, arm in enumerate(report.arms):
        t = arm.row.totals
        conversions = net_conversions(t)
        data.append(
            {
                **_creative_key(arm.row.keys),
                "impressions": t.impressions,
                "clicks": t.clicks,
                "conversions": conversions,
                "spend": _cost(report.costs, _money(t.cost_micros)),
                "ctr": _number(calc.rate(t.clicks, t.impressions)),
                "cvr": _number(calc.rate(conversions, t.clicks)),
                "ctr_interval": _percent(arm.ctr_interval),
                "cvr_interval": _percent(arm.cvr_interval),
                "p_best_ctr": _probability(arm.p_best_ctr),
                "p_best_cvr": _probability(arm.p_best_cvr),
                "ctr_winner": report.ctr_winner == i,
                "cvr_winner": report.cvr_winner == i,
            }
        )
    return {
        **_currency(report.currency),
        "data": data,
        "tests": {
            "ctr": _test(report, report.ctr_winner, "ctr"),
            "cvr": _test(report, report.cvr_winner, "cvr"),
        },
    }


# --- exports ----------------------------------------------------------------------------------

EXPORT_PREFIX = "exp"


class ExportRequest(_Write):
    model_config = ConfigDict(populate_by_name=True)

    type: ExportType
    format: ExportFormat = ExportFormat.CSV
    day: Day | None = Field(default=None, alias="date")  # the seed's name for a one-day export
    start_date: Day | None = None
    end_date: Day | None = None
    campaign_id: str | None = None


def _export_id(text: str) -> int:
    value = idfmt.parse(EXPORT_PREFIX, text)
    if value is None:
        raise NotFound(f"export {text} not found", field="job_id")
    return value


@router.post("/reports/export", status_code=202, summary="Start an async report export")
def start_export(
    request: Request, caller: Caller, body: ExportRequest, tasks: BackgroundTasks
) -> dict[str, Any]:
    if body.day is not None and (body.start_date is not None or body.end_date is not None):
        raise ValidationFailed("give either date or start_date and end_date", field="date")
    check_dates(date=body.day, start_date=body.start_date, end_date=body.end_date)  # named as sent
    if body.day is None and (body.start_date is None) != (body.end_date is None):
        missing = "end_date" if body.end_date is None else "start_date"
        raise ValidationFailed(f"start_date and end_date go together: {missing} is missing", field=missing)
    start, end = body.day or body.start_date, body.day or body.end_date
    if start is None or end is None:
        raise ValidationFailed("date (or start_date and end_date) is required", field="date")
    container = container_of(request)
    job = container.exports.request(
        caller, body.type, body.format, start, end, campaign_id=_campaign(body.campaign_id)
    )
    if container.settings.export_worker:  # started right after the answer, off the event loop
        tasks.add_task(container.export_runner.run_pending)
    return {
        "job_id": idfmt.render(EXPORT_PREFIX, job.id),
        "status": "processing",
        "estimated_time_seconds": calc.estimated_seconds(job.estimated_rows),
    }


def _status(job: ExportJob) -> str:
    return "processing" if job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) else job.status.value


@router.get("/reports/export/{job_id}", summary="Poll an export: its status and download link")
def export_status(request: Request, caller: Caller, job_id: str) -> dict[str, Any]:
    service = container_of(request).exports
    job = service.get(caller, _export_id(job_id))
    body: dict[str, Any] = {
        "job_id": idfmt.render(EXPORT_PREFIX, job.id),
        "status": _status(job),
        "progress": job.progress,
        "type": job.type.value,
        "format": job.file_format.value,
        "start_date": job.start.isoformat(),
        "end_date": job.end.isoformat(),
        "created_at": utc_text(job.created_at),
    }
    if job.status is ExportStatus.COMPLETED:
        expires, signature = service.link(job)
        url = request.url_for("download_export", job_id=body["job_id"])
        body["download_url"] = str(url.include_query_params(expires=expires, signature=signature))
        body["expires_at"] = utc_text(datetime.fromtimestamp(expires, UTC))
        body["rows"] = job.rows
        body["size_bytes"] = job.size_bytes
    elif job.status is ExportStatus.FAILED:
        body["error"] = job.error
    return body


@router.get(
    "/reports/export/{job_id}/download",
    name="download_export",
    summary="Download an export's zip (the signed link from the poll; no credentials needed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def download_export(
    request: Request,
    job_id: str,
    expires: Annotated[QueryInt | None, Query()] = None,
    signature: Annotated[str | None, Query(max_length=128)] = None,
) -> StreamingResponse:
    """Streamed from the object store in chunks (the store stays private: we check the link)."""
    caller = await bearer_principal(request) if request.headers.get("authorization") else None
    container = container_of(request)
    job = await run_in_threadpool(container.exports.download, _export_id(job_id), expires, signature, caller)
    found = await run_in_threadpool(container.export_runner.file_of, job)
    if found is None:
        raise NotFound(f"export {job_id} is no longer available", field="job_id")
    headers = {
        "Content-Length": str(found.size),
        "Content-Disposition": f'attachment; filename="{idfmt.render(EXPORT_PREFIX, job.id)}.zip"',
    }
    return StreamingResponse(found.chunks, media_type="application/zip", headers=headers)
