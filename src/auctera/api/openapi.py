"""The OpenAPI document (`/openapi.json`, `/docs`) as the server really answers.

FastAPI documents what it sees: a 2xx and its own 422 (`HTTPValidationError`) for every operation.
Our surfaces answer errors in their own envelopes (api/errors.py and each compat package's
envelope.py), four of them parse bodies by hand, and the hot paths are served without FastAPI.
`install_openapi` completes FastAPI's document once, the first time it is asked for:

- per surface (the path's prefix, as api/errors.py picks an envelope), the error statuses each
  operation can give, with that surface's own error body: bad input (400 on every surface, and
  422 on /v2, which is FastAPI's validation in our envelope), 401 and 429 for an authenticated
  operation, 404 for a path naming an object, and the 403/409/410/413/415 the services raise
  for that operation (`RAISES`, read off the code);
- the request bodies of the operations that parse their own (bids, affiliate v3, retail media),
  from the models and attribute tables they validate with, and the query parameters they read;
- the security schemes of the four credentials, per operation;
- the raw routes (tracking redirects and pixels, the SmartLink auction), tagged as browser-facing.

Only the document changes here: nothing is added to or changed in how a request is served.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from auctera.api.auth import api_key_principal, bearer_principal, oauth_principal, token_principal
from auctera.api.compat.affiliate_v3 import schemas as v3_schemas
from auctera.api.compat.affiliate_v3.envelope import JSON as V3_JSON
from auctera.api.compat.affiliate_v3.routes import FEED_PATH
from auctera.api.compat.bids import schemas as bids_schemas
from auctera.api.compat.bids.routes import MAX_STUCK
from auctera.api.compat.retail_media import schemas as rm_schemas
from auctera.api.compat.retail_media.envelope import VERSIONS
from auctera.api.compat.retail_media.routes import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PRODUCT_LIMIT
from auctera.api.v2.conversions import OfflineEventIn
from auctera.domain.audiences import SyncAction
from auctera.domain.identifiers import IdentifierType

Schema = dict[str, Any]
REF = "#/components/schemas/"
JSON = "application/json"
BROWSER_TAG = "browser-facing (not for client SDKs)"


@dataclass(frozen=True, slots=True)
class Surface:
    name: str
    error: str  # the component schema of its error body
    media_type: str  # what its errors are sent as
    security: list[dict[str, list[str]]]
    bad_input: str  # what its 400 means


V2 = Surface(
    "v2",
    "V2Error",
    JSON,
    [{"bearerApiKey": []}],
    "The body is not valid JSON, or holds text that cannot be stored (`code` invalid_json).",
)
BIDS = Surface(
    "bids",
    "BidsError",
    JSON,
    [{"xApiKey": []}],
    "Invalid input: the message names the bad field.",
)
V3 = Surface(
    "v3",
    "V3Error",
    V3_JSON,
    [{"v3TokenHeader": []}, {"v3TokenQuery": []}],
    "Invalid input: `field` names the bad field or parameter.",
)
RETAIL_MEDIA = Surface(
    "retail media",
    "RetailMediaErrors",
    JSON,
    [{"retailMediaOAuth": []}],
    "Validation error: one problem per bad attribute (`source.pointer`) or query parameter"
    " (`source.parameter`).",
)
OAUTH = Surface("oauth2", "OAuthError", JSON, [{"clientBasic": []}, {}], "RFC 6749 5.2 error.")
RETAIL_MEDIA_PREFIX = "/{version}/retail-media/"
_SURFACES = (
    ("/management/v0/", BIDS),
    ("/v3/", V3),
    (RETAIL_MEDIA_PREFIX, RETAIL_MEDIA),
    ("/oauth2/", OAUTH),
    ("/", V2),  # as api/errors.py: /v2 and everything without a surface of its own
)

_AUTH = frozenset({bearer_principal, api_key_principal, token_principal, oauth_principal})

# Statuses the services raise for an operation beyond the ones the rules below derive (Forbidden,
# Conflict and the like, traced from each `raise` to the endpoints reaching it; 404 where an id in
# the query or body names nothing, checked over HTTP: not every such id is looked up). Keep in
# step with the services: tests/api/test_openapi_errors.py checks a sample against the server.
RAISES: dict[str, tuple[int, ...]] = {
    # /v2: account kinds (403) and state (409)
    "POST /v2/account/signing-secret/rotate": (403,),
    "GET /v2/accounts": (403,),
    "POST /v2/accounts": (403,),
    "PATCH /v2/accounts/{account_id}/balance": (403,),
    "POST /v2/keys": (403,),
    "POST /v2/keys/{key_id}/rotate": (403,),
    "DELETE /v2/keys/{key_id}": (403,),
    "POST /v2/keys/clients": (403,),
    "POST /v2/keys/clients/{client_id}/rotate": (403,),
    "DELETE /v2/keys/clients/{client_id}": (403,),
    "POST /v2/campaigns": (403, 404),
    "PATCH /v2/campaigns/{campaign_id}": (409,),
    "DELETE /v2/campaigns/{campaign_id}": (409,),
    "POST /v2/campaigns/{campaign_id}/review": (403, 409),
    "GET /v2/network/blocklist": (403,),
    "POST /v2/network/blocklist": (403,),
    "POST /v2/conversions": (403,),
    "GET /v2/conversions/fraud-log": (404,),
    "POST /v2/conversions/offline": (403,),
    "POST /v2/conversions/reversal": (403, 404, 409),
    "GET /v2/offers": (403, 404),
    "GET /v2/offers/links": (403, 404),
    "GET /v2/channels": (403, 404),
    "POST /v2/channels": (403, 404),
    "PATCH /v2/channels/{channel_id}": (403,),
    "DELETE /v2/channels/{channel_id}": (403,),
    "POST /v2/network/applications": (403, 404, 409),
    "PATCH /v2/network/applications/{application_id}": (403,),
    "POST /v2/network/applications/{application_id}/approve": (403,),
    "POST /v2/network/applications/{application_id}/reject": (403,),
    "GET /v2/network/postbacks": (403,),
    "POST /v2/network/postbacks": (403,),
    "GET /v2/network/postbacks/deliveries": (403,),
    "GET /v2/network/postbacks/{postback_id}/deliveries": (403,),
    "POST /v2/programs/{program_id}/segments": (409,),
    "PATCH /v2/programs/{program_id}/segments/{segment_id}": (409,),
    "DELETE /v2/programs/{program_id}/segments/{segment_id}": (409,),
    "POST /v2/programs/{program_id}/commissions": (409,),
    "PATCH /v2/programs/{program_id}/commissions/{commission_id}": (409,),
    "GET /v2/reports/mta": (403, 404),
    "GET /v2/reports/daily": (404, 409),
    "GET /v2/reports/publishers": (404, 409),
    "GET /v2/reports/creatives": (404, 409),
    "POST /v2/reports/export": (403, 404),
    # a signed link (403: invalid or expired); a bearer key is optional, then checked and counted
    "GET /v2/reports/export/{job_id}/download": (401, 403, 429),
    "POST /v2/smartlinks": (403,),
    "GET /v2/audiences/overlap": (404,),
    "POST /v2/audiences/lookalike": (404,),
    "GET /v2/creatives/audit": (404,),
    "POST /v2/creatives/macros": (404,),
    "GET /v2/smartlinks": (403,),
    "POST /v2/retailers": (404, 409),
    "POST /v2/retailers/{retailer_id}/feeds": (409,),  # another import of the retailer runs (D55)
    "POST /v2/audiences/sync": (404, 409, 413),
    "POST /v2/creatives/upload": (403, 404, 413, 415),
    "POST /v2/creatives/dco": (403, 404),
    "GET /v2/creatives/dco/{dco_template_id}/serve": (409,),
    "GET /v2/creatives/{asset_id}/tag": (409,),
    # bid management: a network's name is unique per account
    "POST /management/v0/networks": (409,),
    "PATCH /management/v0/networks/{networkId}": (409,),
    # affiliate v3: partner endpoints take a publisher's token, client ones an advertiser's
    "POST /v3/partner/products/feed": (403, 404),
    "POST /v3/partner/programs": (403,),
    # ... and their path ids are numbers: anything else is malformed, a 400
    "GET /v3/partner/programs/commissions/{programId}": (400, 403),
    "GET /v3/partner/programs/commissions/{programId}/{channelId}": (400, 403),
    "GET /v3/partner/products/feedinfo/{programId}/{channelId}": (400, 403),
    "POST /v3/client/channels": (403,),
    "PUT /v3/client/channels": (403, 404, 409),
    "GET /v3/productfeed": (403, 404),  # a signature that does not match; a feed gone since
    # retail media: only an advertiser's token creates campaigns (docs/api-retail-media.md)
    "POST /{version}/retail-media/accounts/{accountId}/campaigns": (403,),
    # retail media: archived campaigns and line items take no changes
    "POST /{version}/retail-media/campaigns/{campaignId}/auction-line-items": (409,),
    "PUT /{version}/retail-media/auction-line-items/{lineItemId}": (409,),
    "POST /{version}/retail-media/line-items/{lineItemId}/products/append": (409,),
    "POST /{version}/retail-media/line-items/{lineItemId}/products/delete": (409,),
}

_WHY = {
    401: "Missing, unknown, revoked or expired credential.",
    403: "The credential's account may not do this (its kind, or the object's owner decides).",
    404: "Not found: no such object, another account's, or an id that does not parse.",
    409: "The object's state does not allow this (the message says why).",
    410: "Gone.",
    413: "The body is too large.",
    415: "Unsupported content type.",
    422: "Validation failed: `error.field` names the field (`code` validation_error or unknown_field).",
    429: "Rate limit exceeded: retry after `Retry-After` seconds.",
}
_V3_WHY = {415: "The body must be sent as application/json."}


def install_openapi(api: FastAPI, routes: Iterable[BaseRoute]) -> None:
    """`api.openapi()` completes FastAPI's document (built from `routes`' app) once."""
    by_operation = {
        (method.lower(), route.path): route
        for route in routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }
    build = api.openapi
    done: list[Schema] = []

    def openapi() -> Schema:
        schema = build()
        if not done or done[0] is not schema:  # FastAPI rebuilt it (routes added): complete again
            complete(schema, by_operation)
            done[:] = [schema]
        return schema

    api.openapi = openapi  # type: ignore[method-assign]


def complete(schema: Schema, routes: dict[tuple[str, str], APIRoute]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(_ERROR_SCHEMAS)
    components["headers"] = _HEADERS
    components["securitySchemes"] = _SECURITY
    _request_bodies(schema["paths"], components["schemas"])
    for path, operations in schema["paths"].items():
        surface = next(s for prefix, s in _SURFACES if path.startswith(prefix))
        for method, operation in operations.items():
            route = routes.get((method, path))
            authenticated = _authenticated(route, path)
            if authenticated:
                operation["security"] = surface.security
            elif surface is OAUTH:
                operation["security"] = OAUTH.security
            operation["responses"] = _responses(surface, method, path, operation, authenticated)
    schema["paths"].update(copy.deepcopy(RAW_PATHS))
    schema["tags"] = [*schema.get("tags", []), _BROWSER_TAG]
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, never sent
        components["schemas"].pop(unused, None)


def _authenticated(route: APIRoute | None, path: str) -> bool:
    if path.startswith("/v3/"):  # checks the token itself (its own quota): all but the feed files
        return path != FEED_PATH
    return route is not None and _depends_on_auth(route.dependant)


def _depends_on_auth(dependant: Dependant) -> bool:
    return any(d.call in _AUTH or _depends_on_auth(d) for d in dependant.dependencies)


def _responses(surface: Surface, method: str, path: str, operation: Schema, authenticated: bool) -> Schema:
    responses: Schema = operation.get("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError: ours is added below where it applies
    if surface is OAUTH:
        responses["400"] = _error(OAUTH, "RFC 6749 5.2: invalid_request or unsupported_grant_type.")
        responses["401"] = _error(OAUTH, "invalid_client: client authentication failed.")
        return responses
    body = "requestBody" in operation
    json_body = body and JSON in operation["requestBody"].get("content", {})
    # Inputs a request can get wrong: a path id that does not parse is a 404, not a bad input.
    inputs = [
        p for p in operation.get("parameters", []) if p["in"] != "path" or p["schema"].get("type") != "string"
    ]
    statuses = set(RAISES.get(f"{method.upper()} {path}", ()))
    if surface is V2:
        if json_body:
            statuses.add(400)
        if body or inputs:
            statuses.add(422)
    elif body or (inputs and (surface is not V3 or path == FEED_PATH)):  # v3 reads no other query
        statuses.add(400)
    if surface is V3 and body:
        statuses.add(415)
    if authenticated:
        statuses |= {401, 429}
    if "{" in path:  # an id that names nothing (or another account's); retail media: its {version}
        statuses.add(404)
    for code in sorted(statuses):
        why = surface.bad_input if code == 400 else _V3_WHY.get(code) if surface is V3 else None
        response = _error(surface, why or _WHY[code])
        if code == 401:
            response["headers"] = {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}}
        if code == 429:
            response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}, **_RATE}
        responses.setdefault(str(code), response)
    if path == "/management/v0/bids/upload":  # a rejected batch lists every bid that failed
        responses["400"]["content"][JSON]["schema"] = {"$ref": REF + "BidsUploadRejected"}
    if authenticated:
        for status, response in responses.items():
            if status.startswith("2"):
                response.setdefault("headers", {}).update(_RATE)
    return responses


def _error(surface: Surface, description: str) -> Schema:
    return {
        "description": description,
        "content": {surface.media_type: {"schema": {"$ref": REF + surface.error}}},
    }


_RATE = {
    name: {"$ref": f"#/components/headers/{name}"}
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


_ERROR_SCHEMAS: dict[str, Schema] = {
    "V2Error": {
        "type": "object",
        "description": "/v2's error envelope (api/errors.py).",
        "required": ["success", "error"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": {"type": "string", "examples": ["validation_error", "not_found"]},
                    "message": {"type": "string"},
                    "field": {**_nullable({"type": "string"}), "description": "The field at fault"},
                },
            },
        },
    },
    "BidsError": {
        "type": "object",
        "description": "Bid management's error body (seed 001).",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "BidsUploadRejected": {
        "type": "object",
        "description": "A rejected upload (seed 001): no bid was stored; each failed bid and why.",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "bidsValidation": {"type": "array", "items": {"type": "object"}},
        },
    },
    "V3Error": {
        "type": "object",
        "description": "Affiliate v3's error body: the HTTP status again, what went wrong, the field.",
        "required": ["status", "message", "field"],
        "properties": {
            "status": {"type": "integer"},
            "message": {"type": "string"},
            "field": _nullable({"type": "string"}),
        },
    },
    "RetailMediaProblem": {
        "type": "object",
        "description": "The SDKs' CommonProblem; keys without a value are left out.",
        "required": ["type", "code", "title", "detail"],
        "properties": {
            "type": {
                "type": "string",
                "enum": ["validation", "authentication", "authorization", "quota", "availability"],
            },
            "code": {"type": "string"},
            "title": {"type": "string"},
            "detail": {"type": "string"},
            "source": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "parameter": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "RetailMediaErrors": {
        "type": "object",
        "description": "The retail-media error envelope: `{warnings: [], errors: [CommonProblem]}`.",
        "required": ["warnings", "errors"],
        "properties": {
            "warnings": {"type": "array", "items": {"$ref": REF + "RetailMediaProblem"}},
            "errors": {"type": "array", "items": {"$ref": REF + "RetailMediaProblem"}},
        },
    },
    "OAuthError": {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    },
    "SmartLinkEnvelope": {
        "type": "object",
        "description": "Seed 002's envelope, errors included (`info.message` says what is wrong).",
        "required": ["info", "data"],
        "properties": {
            "info": {
                "type": "object",
                "required": ["error", "status"],
                "properties": {
                    "error": {"type": "boolean"},
                    "status": {"type": "integer"},
                    "message": {"type": "string"},
                },
            },
            "data": {
                "type": "array",
                "description": "One auction result, or none when no merchant bids.",
                "items": {
                    "type": "object",
                    "properties": {
                        "auction_result": {"type": "object"},
                        "impression_pixel_url": {"type": "string"},
                    },
                },
            },
        },
    },
}

_HEADERS: Schema = {
    "Retry-After": {
        "description": "Seconds until a request is admitted again",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Limit": {"description": "Requests per minute allowed", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {
        "description": "When the quota is back in full: unix epoch seconds (affiliate v3: milliseconds)",
        "schema": {"type": "integer"},
    },
    "WWW-Authenticate": {"description": "The scheme to authenticate with", "schema": {"type": "string"}},
}

_SECURITY: Schema = {
    "bearerApiKey": {"type": "http", "scheme": "bearer", "description": "/v2: an API key"},
    "xApiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY", "description": "Bid management"},
    "v3TokenHeader": {"type": "apiKey", "in": "header", "name": "X-Token", "description": "Affiliate v3"},
    "v3TokenQuery": {"type": "apiKey", "in": "query", "name": "token", "description": "Affiliate v3"},
    "retailMediaOAuth": {
        "type": "oauth2",
        "description": "Retail media: an access token from /oauth2/token",
        "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {}}},
    },
    "clientBasic": {"type": "http", "scheme": "basic", "description": "client_id:client_secret"},
}


# --- request bodies and parameters of the operations that read their own -----------------------


def _model(model: type[BaseModel], prefix: str, components: Schema, required: tuple[str, ...] = ()) -> Schema:
    """`model`'s JSON schema in the components, as `<prefix><Model>` (its nested models too); a
    reference to it, or a copy requiring `required` (what a create checks by hand)."""
    found = model.model_json_schema(ref_template=REF + prefix + "{model}")
    for name, nested in found.pop("$defs", {}).items():
        components[prefix + name] = nested
    components[prefix + model.__name__] = found
    if required:
        return {"allOf": [{"$ref": REF + prefix + model.__name__}, {"required": list(required)}]}
    return {"$ref": REF + prefix + model.__name__}


def _json_body(schema: Schema, description: str | None = None) -> Schema:
    body: Schema = {"required": True, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


_BID_FILTER: Schema = {
    "type": "object",
    "additionalProperties": False,
    "description": "One of the seed's combinations: networkId; campaignId (+ country (+ sourceId));"
    " adSetId (+ country (+ sourceId))",
    "properties": {
        "networkId": _nullable({"type": "integer", "minimum": 1}),
        "campaignId": _nullable({"type": "integer", "minimum": 1}),
        "adSetId": _nullable({"type": "integer", "minimum": 1}),
        "country": _nullable({"type": "string", "description": "ISO 3166-1 alpha-2"}),
        "sourceId": _nullable({"type": "string"}),
    },
}
_BIDS_QUERY: Schema = {
    "type": "object",
    "description": "The filter in `filter`, or its fields at the top level (as the seed's curl sends them)",
    "properties": {
        "page": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "offset": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer", "minimum": 1},
            },
        },
        "filter": _BID_FILTER,
        **_BID_FILTER["properties"],
    },
    "additionalProperties": False,
}
_BID_UPLOAD: Schema = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["campaign", "country", "optimalBidUsd"],
        "additionalProperties": False,
        "properties": {
            "campaign": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "integer", "minimum": 1}},
                "additionalProperties": False,
            },
            "adSetId": _nullable({"type": "integer", "minimum": 1}),
            "country": {"type": "string", "description": "ISO 3166-1 alpha-2"},
            "sourceId": _nullable({"type": "string"}),
            "optimalBidUsd": {"type": "number", "description": "The target bid, in USD (an exact decimal)"},
            "delete": {"type": "boolean", "default": False},
        },
    },
}

_AUDIENCE_SYNC: Schema = {
    "type": "object",
    "required": ["audience_id", "action", "identifiers"],
    "properties": {
        "audience_id": {"type": "string", "description": "aud_…"},
        "action": {"type": "string", "enum": [a.value for a in SyncAction]},
        "identifiers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "value"],
                "properties": {
                    "type": {"type": "string", "enum": [t.value for t in IdentifierType]},
                    "value": {"type": "string"},
                },
            },
        },
        "job_key": {"type": "string", "description": "Makes a retried call idempotent"},
    },
}

_KINDS: dict[rm_schemas.Kind, Schema] = {
    rm_schemas.Kind.ID: {"type": ["string", "integer"], "description": "int64 (as a JSON string)"},
    rm_schemas.Kind.TEXT: {"type": "string"},
    rm_schemas.Kind.DATE: {"type": "string", "format": "date"},
    rm_schemas.Kind.MONEY: {"type": ["number", "string"], "description": "A decimal amount"},
    rm_schemas.Kind.BOOL: {"type": "boolean"},
    rm_schemas.Kind.ENUM: {"type": "string"},
}


def _attribute(a: rm_schemas.Attribute) -> Schema:
    found: Schema = {**_KINDS[a.kind]}
    if a.values:
        found["enum"] = list(a.values)
    if a.read_only is not rm_schemas.ReadOnly.WRITABLE:
        found["description"] = f"Read-only ({a.read_only.value})"
    return _nullable(found) if a.nullable else found


def _resource(attributes: Schema, required: list[str], with_id: bool = False) -> Schema:
    data: Schema = {
        "type": "object",
        "required": ["attributes"],
        "properties": {
            "type": {"type": "string"},
            "attributes": {
                "type": "object",
                "required": required,
                "properties": attributes,
                "additionalProperties": False,
            },
        },
    }
    if with_id:
        data["properties"]["id"] = {"type": ["string", "integer"]}
    return {"type": "object", "required": ["data"], "properties": {"data": data}}


def _line_item(creating: bool) -> Schema:
    items = rm_schemas.LINE_ITEM.values()
    required = [a.name for a in items if (a.required_on_create if creating else a.required_on_put)]
    return _resource({a.name: _attribute(a) for a in items}, required, with_id=not creating)


_RM_CAMPAIGN = _resource(
    {
        "name": {"type": "string"},
        "startDate": _nullable({"type": "string", "format": "date"}),
        "endDate": _nullable({"type": "string", "format": "date"}),
        "budget": _nullable(_KINDS[rm_schemas.Kind.MONEY]),
        "dailyPacing": _nullable(_KINDS[rm_schemas.Kind.MONEY]),
        "monthlyPacing": {"type": "null", "description": "Set on line items"},
        "isAutoDailyPacing": {"type": "boolean", "enum": [False], "description": "Set on line items"},
        "type": {"type": "string", "enum": ["auction"]},
        # accepted and not stored (docs/api-retail-media.md)
        **{name: {} for name in sorted(rm_schemas.CAMPAIGN_ACCEPTED)},
    },
    ["name"],
)
_RM_PRODUCTS: Schema = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": ["string", "integer"], "description": "The product (or attributes.id)"},
                    "type": {"type": "string"},
                    "attributes": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "id": {"type": ["string", "integer"]},
                            "bidOverride": {"type": "null", "description": "Not offered"},
                            "status": {"type": "string", "enum": ["active"]},
                        },
                    },
                },
            },
        }
    },
}


def _query(name: str, schema: Schema, description: str, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


_RM_PAGE = [
    _query("pageIndex", {"type": "integer", "minimum": 0, "default": 0}, "Page number, from 0"),
    _query(
        "pageSize",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
        "Items per page",
    ),
]
_RM_IDS = _query(
    "limitToId",
    {"type": "array", "items": {"type": "string"}},
    "Only these ids (repeated, or comma-separated)",
)
_RM_OFFSET = [
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "From 2024-07 (before: pageIndex)"),
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PRODUCT_LIMIT, "default": MAX_PRODUCT_LIMIT},
        "From 2024-07 (before: pageSize)",
    ),
]
_FEED_FILE = [
    _query("format", {"type": "string", "enum": ["XML", "CSV"], "default": "XML"}, "The file's format"),
    *(
        _query(name, {"type": "integer", "minimum": 1}, what, required=True)
        for name, what in (("apid", "The program"), ("asid", "The channel"), ("pfid", "The product feed"))
    ),
    _query("epi", {"type": "string", "enum": ["0", "1"], "default": "0"}, "Whether links carry epi="),
    _query("sig", {"type": "string"}, "The URL's signature (as feedinfo gives it)", required=True),
]


def _request_bodies(paths: Schema, components: Schema) -> None:
    """Bodies and query parameters of the operations FastAPI cannot see (read by hand)."""
    rm = RETAIL_MEDIA_PREFIX
    v3 = "/v3/"
    bodies: dict[tuple[str, str], Schema] = {
        ("post", "/management/v0/bids"): _BIDS_QUERY,
        ("post", "/management/v0/bids/upload"): _BID_UPLOAD,
        ("post", "/management/v0/networks"): _model(
            bids_schemas.NetworkBody, "Bids", components, ("name", "kind")
        ),
        ("patch", "/management/v0/networks/{networkId}"): _model(
            bids_schemas.NetworkBody, "Bids", components
        ),
        ("post", "/management/v0/networks/{networkId}/campaigns"): _model(
            bids_schemas.CampaignBody, "Bids", components, ("name", "countries", "optimizationType")
        ),
        ("patch", "/management/v0/campaigns/{networkCampaignId}"): _model(
            bids_schemas.CampaignBody, "Bids", components
        ),
        ("post", "/management/v0/campaigns/{networkCampaignId}/ad-sets"): _model(
            bids_schemas.AdSetBody, "Bids", components, ("name",)
        ),
        ("patch", "/management/v0/ad-sets/{adSetId}"): _model(bids_schemas.AdSetBody, "Bids", components),
        ("post", v3 + "partner/products/feed"): _model(v3_schemas.FeedRequest, "V3", components),
        ("post", v3 + "partner/programs"): _model(v3_schemas.ProgramsRequest, "V3", components),
        ("post", v3 + "client/channels"): _model(v3_schemas.ChannelsRequest, "V3", components),
        ("put", v3 + "client/channels"): _model(v3_schemas.ChannelDecision, "V3", components),
        ("post", rm + "accounts/{accountId}/campaigns"): _RM_CAMPAIGN,
        ("post", rm + "campaigns/{campaignId}/auction-line-items"): _line_item(creating=True),
        ("put", rm + "auction-line-items/{lineItemId}"): _line_item(creating=False),
        ("post", rm + "line-items/{lineItemId}/products/append"): _RM_PRODUCTS,
        ("post", rm + "line-items/{lineItemId}/products/delete"): _RM_PRODUCTS,
    }
    for (method, path), body in bodies.items():
        paths[path][method]["requestBody"] = _json_body(body)
    offline = paths["/v2/conversions/offline"]["post"]
    event = _model(OfflineEventIn, "", components)
    offline["requestBody"] = {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "required": ["events"],
                    "properties": {"events": {"type": "array", "items": event}},
                }
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "A header line naming the event's fields, then one per line",
                }
            },
        },
    }
    # Read as a stream (api/v2/audience_sync_body.py): FastAPI shows only its example.
    paths["/v2/audiences/sync"]["post"]["requestBody"]["content"][JSON]["schema"] = _AUDIENCE_SYNC
    queries = {
        ("get", rm + "accounts"): [*_RM_PAGE, _RM_IDS],
        ("get", rm + "accounts/{accountId}/campaigns"): [*_RM_PAGE, _RM_IDS],
        ("get", rm + "campaigns/{campaignId}/auction-line-items"): [*_RM_PAGE, _RM_IDS],
        ("get", rm + "line-items/{lineItemId}/products"): [
            *(dict(p, description=p["description"] + " (before 2024-07)") for p in _RM_PAGE),
            *_RM_OFFSET,
        ],
        ("get", FEED_PATH): _FEED_FILE,
    }
    for (method, path), parameters in queries.items():
        paths[path][method].setdefault("parameters", []).extend(parameters)
    for operations in (paths[p] for p in paths if p.startswith(rm)):
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "version" and parameter["in"] == "path":
                    parameter["schema"] = {"type": "string", "enum": list(VERSIONS)}
    stuck = paths["/management/v0/bids/operations"]["get"]
    for parameter in stuck.get("parameters", []):  # read as text so a bad one is this surface's 400
        if parameter["name"] == "limit":
            parameter["description"] = f"1 to {MAX_STUCK}"


# --- the raw routes (tracking/, served before FastAPI) -------------------------------------------

_GIF = {
    "description": "The 43-byte transparent 1x1 GIF (also for a refused request: a broken image"
    " would disturb the page)",
    "headers": {"Set-Cookie": {"description": "The visitor id, when new", "schema": {"type": "string"}}},
    "content": {
        "image/gif": {"schema": {"type": "string", "format": "binary", "minLength": 43, "maxLength": 43}}
    },
}
_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}


def _redirect(to: str) -> Schema:
    return {
        "description": f"A redirect to {to}",
        "headers": {
            "Location": {"required": True, "schema": {"type": "string", "format": "uri"}},
            "Set-Cookie": {"description": "The visitor id, when new", "schema": {"type": "string"}},
        },
    }


def _page(description: str) -> Schema:
    return {"description": description + " (a small HTML page for the visitor)", **_PAGE}


_LINK_PARAMS = [
    _query("o", {"type": "string"}, "The offer (base36 id); or c="),
    _query("c", {"type": "string"}, "The campaign (base36 id); or o="),
    _query("p", {"type": "string"}, "The publisher (base36 id); required on affiliate offers"),
    *(
        _query(f"s{i}", {"type": "string", "maxLength": 255}, "A sub id, echoed in postbacks")
        for i in range(1, 6)
    ),
    _query("ch", {"type": "string"}, "The publisher's channel (base36 id)"),
    _query("epi", {"type": "string"}, "External publisher info"),
    _query("url", {"type": "string", "format": "uri"}, "A deep link on the advertiser's site"),
    _query("pr", {"type": "string"}, "A product of the advertiser's catalog (base36 id)"),
    _query("cr", {"type": "string"}, "The creative (base36 id)"),
    _query("cv", {"type": "string"}, "The creative's variant"),
    _query("em", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "SHA-256 of the normalised email"),
    _query("ph", {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}, "SHA-256 of the E.164 phone"),
]
_TOKEN = _query("t", {"type": "string"}, "The signed click token the auction issued", required=True)
_REFUSED = {
    "400": {"description": "A malformed link"},
    "404": {"description": "The link leads nowhere (unknown or stopped offer, publisher not approved)"},
    "410": {"description": "The offer has ended"},
}
_SP_REFUSED = {
    "400": {"description": "No or a malformed token"},
    "404": {"description": "The link leads nowhere"},
}
_SP_PIXEL = [_TOKEN, _query("r", {"type": "string"}, "A cache buster")]


def _raw(summary: str, parameters: list[Schema], responses: Schema, description: str = "") -> Schema:
    operation = {
        "tags": [BROWSER_TAG],
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
        "x-raw-route": True,  # served before FastAPI (app.RootApp)
    }
    if description:
        operation["description"] = description
    return operation


def _pixel(summary: str, parameters: list[Schema], refused: Schema) -> Schema:
    """GET and POST; a refused request still answers the GIF, with the status of the refusal."""
    responses = {"200": _GIF, **{status: {**_GIF, **why} for status, why in refused.items()}}
    return {
        method: _raw(summary, parameters, responses, "GET from an <img>, POST from navigator.sendBeacon.")
        for method in ("get", "post")
    }


RAW_PATHS: Schema = {
    "/api/v1/auction/": {
        "get": _raw(
            "SmartLink auction (seed 002), from publishers' page scripts",
            [
                _query(
                    "a",
                    {"type": "string", "pattern": "^[0-9]+$"},
                    "The SmartLink's auction id",
                    required=True,
                ),
                _query("t", {"type": "integer"}, "A random cache buster"),
                _query("uuid", {"type": "string", "format": "uuid"}, "The page session's UUID v4"),
            ],
            {
                **{
                    status: {
                        "description": why,
                        "headers": {"Access-Control-Allow-Origin": {"schema": {"type": "string"}}},
                        "content": {JSON: {"schema": {"$ref": REF + "SmartLinkEnvelope"}}},
                    }
                    for status, why in (
                        ("200", "The auction's result (`data` is empty when nobody bids)"),
                        ("400", "A bad parameter (`info.message` says which)"),
                        ("404", "No SmartLink has this auction id"),
                    )
                },
                "429": {
                    "description": "Too many auctions from this client address",
                    "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
                    "content": {JSON: {"schema": {"$ref": REF + "SmartLinkEnvelope"}}},
                },
            },
            "No authentication; rate limited per client address. Any origin may call it (CORS);"
            " /api/v1/auction (no trailing slash) answers the same.",
        )
    },
    "/s/{auction_id}": {
        "get": _raw(
            "A SmartLink: to the auction winner's click URL, or the link's fallback URL",
            [{"name": "auction_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            {
                "302": _redirect("the winner's click URL or the fallback URL"),
                "404": _page("No such SmartLink"),
            },
        )
    },
    "/click": {
        "get": _raw(
            "A tracking link: logs the click, then redirects",
            _LINK_PARAMS,
            {
                "302": _redirect("the offer's landing page (or the product / deep link)"),
                **{status: _page(why["description"]) for status, why in _REFUSED.items()},
            },
        )
    },
    "/imp": _pixel("Impression pixel", _LINK_PARAMS, _REFUSED),
    "/viewable": _pixel("Viewable-impression pixel", _LINK_PARAMS, _REFUSED),
    "/sp/click": {
        "get": _raw(
            "A sponsored product's click: charged, then redirected",
            [_TOKEN],
            {
                "302": _redirect("the product's page"),
                **{status: _page(why["description"]) for status, why in _SP_REFUSED.items()},
            },
        )
    },
    "/sp/imp": _pixel("Sponsored impression pixel", _SP_PIXEL, _SP_REFUSED),
    "/sp/viewable": _pixel("Sponsored viewable-impression pixel", _SP_PIXEL, _SP_REFUSED),
    "/healthz": {
        "get": _raw(
            "Ready once the app is built (migrations applied, event log open), while the state store answers",
            [],
            {
                "200": {
                    "description": "Ready: `status` is `ok`",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {"status": {"type": "string"}, "version": {"type": "string"}},
                            }
                        }
                    },
                },
                "503": {
                    "description": "The state store does not answer (`status`: `unavailable`)",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "string"},
                                    "error": {"type": "string"},
                                    "version": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        )
    },
}
_BROWSER_TAG = {
    "name": BROWSER_TAG,
    "description": "Served before the API (app.RootApp): what visitors' browsers and publishers' page"
    " scripts call (redirects, pixels, the SmartLink auction). Leave them out of a generated client.",
}
