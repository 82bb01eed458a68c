"""/v2/creatives: the seed's Creative & Asset Management endpoints, and /cdn where assets are served."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from auctera.api.auth import bearer_principal
from auctera.api.deps import container_of
from auctera.api.routing import IndexedRouter
from auctera.api.v2.schemas import DecimalJSONRoute, _Write
from auctera.domain import ids as idfmt
from auctera.domain.accounts import Principal
from auctera.domain.creatives import (
    ASSET_PREFIX,
    MAX_UPLOAD,
    Asset,
    AssetKind,
    Bundle,
    BundleError,
    Format,
    Upload,
    read_bundle,
)
from auctera.domain.dates import utc_text
from auctera.domain.dco import DCO_PREFIX, TemplateError, Variable, variable
from auctera.errors import NotFound, ValidationFailed
from auctera.services.creatives import CDN_PATH, CreativeService, TooLarge

router = IndexedRouter(prefix="/v2/creatives", tags=["creatives"], route_class=DecimalJSONRoute)
cdn = IndexedRouter(prefix=CDN_PATH, tags=["creatives"], include_in_schema=False)
Caller = Annotated[Principal, Depends(bearer_principal)]
READ_CHUNK = 1 << 20
# Assets never change under a name (a new upload is a new asset): cached for a year anywhere.
IMMUTABLE = "public, max-age=31536000, immutable"
# Advertisers' files run sandboxed: an opaque origin, never ours (no access to the API's origin).
# Every file, not only HTML: an SVG (or anything a browser may render as a document) opened
# directly would otherwise run its script in our origin.
HTML5_POLICY = "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox"


def _service(request: Request) -> CreativeService:
    return container_of(request).creatives


def _asset_id(text: str) -> int:
    value = idfmt.parse(ASSET_PREFIX, text)
    if value is None:
        raise NotFound(f"asset {text} not found", field="asset_id")
    return value


def _campaign_id(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    value = idfmt.parse("cmp", text.strip())
    if value is None:
        raise NotFound(f"campaign {text} not found", field="campaign_id")
    return value


def audit_json(asset: Asset, cdn_url: str | None) -> dict[str, Any]:
    audit, facts = asset.audit, asset.facts
    return {
        "asset_id": idfmt.render(ASSET_PREFIX, asset.id),
        "status": audit.status.value,
        "malware_scan": audit.malware_scan.value,
        "iab_category": audit.iab_category,
        "findings": [f.as_dict() for f in audit.findings],
        "type": asset.kind.value,
        "format": asset.format.value if asset.format else None,
        "width": facts.width,
        "height": facts.height,
        "duration_seconds": facts.duration_seconds,
        "video_codec": facts.video_codec,
        "size_bytes": asset.size_bytes,
        "cdn_url": cdn_url if asset.servable else None,
        "campaign_ids": [idfmt.render("cmp", c) for c in asset.campaign_ids],
        "audited_at": utc_text(audit.audited_at),
    }


async def _read_limited(file: UploadFile) -> bytes:
    chunks, size = [], 0
    while chunk := await file.read(READ_CHUNK):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise TooLarge(f"uploads are at most {MAX_UPLOAD // 2**20} MB", field="file")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/upload", status_code=201, summary="Upload an image, video or zipped HTML5 bundle; audited at once"
)
async def upload(
    request: Request,
    caller: Caller,
    file: Annotated[UploadFile, File(description="JPG, PNG, GIF, MP4 or a zipped HTML5 bundle")],
    type: Annotated[AssetKind, Form(description="image, video or html5: must match the content")],
    campaign_id: Annotated[str | None, Form(description="Attach to this campaign (cmp_...)")] = None,
    iab_category: Annotated[str | None, Form(description="IAB content category, e.g. IAB3-1")] = None,
) -> dict[str, Any]:
    data = await _read_limited(file)
    if not data:
        raise ValidationFailed("the file is empty", field="file")
    request_upload = Upload(
        filename=file.filename or "",
        declared=type,
        data=data,
        campaign_id=_campaign_id(campaign_id),
        iab_category=iab_category.strip() if iab_category else None,
    )
    service = _service(request)
    asset = await run_in_threadpool(service.upload, caller, request_upload)
    return {
        "success": True,
        "asset_id": idfmt.render(ASSET_PREFIX, asset.id),
        "cdn_url": service.cdn_url(asset) if asset.servable else None,
        "status": asset.audit.status.value,
    }


@router.get("/audit", summary="The automated audit of an asset: approved or rejected, and every finding")
def audit(request: Request, caller: Caller, asset_id: Annotated[str, Query()]) -> dict[str, Any]:
    service = _service(request)
    asset = service.get(caller, _asset_id(asset_id))
    return audit_json(asset, service.cdn_url(asset))


class DcoIn(_Write):
    name: str = Field(max_length=255)
    # ["headline", ...] (product-feed fields), [{"name", "values" | "feed_field"}], or
    # {"headline": ["A", "B"], "price": {"feed_field": "price"}}.
    variables: list[str | dict[str, Any]] | dict[str, Any]
    campaign_id: str | None = None


def _variables(spec: list[str | dict[str, Any]] | dict[str, Any]) -> list[Variable]:
    try:
        if isinstance(spec, dict):
            return [variable(name, value) for name, value in spec.items()]
        out = []
        for item in spec:
            if isinstance(item, str):
                out.append(variable(item, None))
            else:
                name = item.get("name")
                if not isinstance(name, str):
                    raise TemplateError("variables", "each variable object needs a name")
                out.append(variable(name, {k: v for k, v in item.items() if k != "name"} or None))
        return out
    except TemplateError as exc:
        raise ValidationFailed(exc.message, field=exc.field) from None


@router.post("/dco", status_code=201, summary="Create a DCO template: its permutations are served and tested")
def create_dco(request: Request, caller: Caller, body: DcoIn) -> dict[str, Any]:
    template = _service(request).create_template(
        caller, body.name, _variables(body.variables), _campaign_id(body.campaign_id)
    )
    variants = template.variants()
    return {
        "success": True,
        "dco_template_id": idfmt.render(DCO_PREFIX, template.id),
        "variables": [v.as_dict() for v in template.variables],
        "variants": [{"variant": v.key, "values": dict(v.values)} for v in variants],
    }


def _template_id(text: str) -> int:
    value = idfmt.parse(DCO_PREFIX, text)
    if value is None:
        raise NotFound(f"DCO template {text} not found", field="id")
    return value


@router.get("/dco/{dco_template_id}/serve", summary="One variant for an ad slot, chosen by Thompson sampling")
def serve_dco(
    request: Request,
    caller: Caller,
    dco_template_id: str,
    product_id: Annotated[str | None, Query(description="prd_...: fills the product-feed variables")] = None,
) -> dict[str, Any]:
    product = None
    if product_id:
        product = idfmt.parse("prd", product_id)
        if product is None:
            raise NotFound("product not found", field="product_id")
    served = _service(request).serve_template(caller, _template_id(dco_template_id), product)
    return {
        "dco_template_id": dco_template_id,
        "creative_id": dco_template_id,
        "variant": served.variant,
        "values": served.values,
        "click_url": served.click_url,
        "impression_url": served.impression_url,
    }


@router.get("/dco/{dco_template_id}/variants", summary="Each variant's impressions, clicks, conversions")
def dco_variants(request: Request, caller: Caller, dco_template_id: str) -> dict[str, Any]:
    stats = _service(request).variant_stats(caller, _template_id(dco_template_id))
    return {
        "data": [
            {"variant": key, "impressions": s.impressions, "clicks": s.clicks, "conversions": s.conversions}
            for key, s in sorted(stats.items())
        ]
    }


class MacrosIn(_Write):
    asset_id: str
    click_tracker: str | list[str] | None = None
    impression_tracker: str | list[str] | None = None


def _urls(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


@router.post("/macros", summary="Attach third-party click and impression trackers (DCM, IAS, Sizmek)")
def macros(request: Request, caller: Caller, body: MacrosIn) -> dict[str, Any]:
    _service(request).set_trackers(
        caller, _asset_id(body.asset_id), _urls(body.click_tracker), _urls(body.impression_tracker)
    )
    return {"success": True, "status": "macros_applied"}


@router.get("/{asset_id}/tag", summary="What an ad slot serves: the file, our links, third-party trackers")
def tag(
    request: Request, caller: Caller, asset_id: str, campaign_id: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    served = _service(request).tag(caller, _asset_id(asset_id), _campaign_id(campaign_id))
    return {
        "asset_id": asset_id,
        "cdn_url": served.cdn_url,
        "click_url": served.click_url,
        "impression_url": served.impression_url,
        "click_trackers": served.click_trackers,
        "impression_trackers": served.impression_trackers,
    }


@router.delete("/{asset_id}", summary="Delete an asset: purged at once; campaigns left without one pause")
def delete(request: Request, caller: Caller, asset_id: str) -> dict[str, Any]:
    deleted = _service(request).delete(caller, _asset_id(asset_id))
    return {
        "success": True,
        "status": "purged",
        "paused_campaigns": [idfmt.render("cmp", c) for c in deleted.paused_campaigns],
    }


# --- the CDN ----------------------------------------------------------------------------------


def _headers(etag: str) -> dict[str, str]:
    return {
        "ETag": etag,
        "Cache-Control": IMMUTABLE,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": HTML5_POLICY,
    }


def _revalidated(request: Request, etag: str) -> bool:
    """The client holds this very file: a 304, without reading it from the store."""
    return etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}


_MEMBER_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".woff2": "font/woff2",
}


@cdn.get("/{name}")
def asset_file(request: Request, name: str) -> Response:
    service = _service(request)
    asset = service.servable(name)
    if asset is None or asset.format is None or asset.format is Format.ZIP:
        raise NotFound("no such asset", field="name")
    headers = _headers(f'"{asset.sha256}"')
    if _revalidated(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    found = service.read(asset)
    if found is None:
        raise NotFound("no such asset", field="name")
    if found.size <= READ_CHUNK:  # a banner: one body, no thread hop per chunk
        return Response(b"".join(found.chunks), media_type=asset.format.media_type, headers=headers)
    headers["Content-Length"] = str(found.size)  # a video: streamed, flat memory however large
    return StreamingResponse(found.chunks, media_type=asset.format.media_type, headers=headers)


@cdn.get("/{stem}/{path:path}")
def bundle_file(request: Request, stem: str, path: str) -> Response:
    service = _service(request)
    asset = service.servable(f"{stem}.zip")
    if asset is None:
        raise NotFound("no such asset", field="name")
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    media_type = _MEMBER_TYPES.get(suffix, "application/octet-stream")
    # A hash, not the path itself: a header is Latin-1, a bundle's file names need not be.
    member = hashlib.sha256(f"{asset.sha256}/{path}".encode("utf-8", "surrogatepass")).hexdigest()
    headers = _headers(f'"{member[:40]}"')
    if _revalidated(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    data = service.content(asset)
    if data is None:
        raise NotFound("no such asset", field="name")
    try:
        bundle: Bundle = read_bundle(data)
    except BundleError:
        raise NotFound("no such asset", field="name") from None
    body = bundle.members.get(path)
    if body is None:
        raise NotFound("no such file in the bundle", field="path")
    return Response(body, media_type=media_type, headers=headers)
