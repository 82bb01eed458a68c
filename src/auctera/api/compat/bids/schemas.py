"""Bodies of the hierarchy endpoints (networks, campaigns, ad sets), in this surface's camelCase.

Every field is optional here: a create names what it needs (checked in translate.py), an update
only what changes. Unknown fields are rejected.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from auctera.api.json_body import JsonNumber


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Retry(_Body):
    maxAttempts: StrictInt | None = None
    backoffMs: StrictInt | None = None


class Bidding(_Body):
    enabled: StrictBool | None = None
    campaignBidding: StrictBool | None = None
    adSetBidding: StrictBool | None = None
    sourceIdBidding: StrictBool | None = None
    minBidUsd: JsonNumber | None = None  # strict as the rest: never "1_000" or true
    decimalPrecision: StrictInt | None = None
    maxChangePercent: StrictInt | None = None  # null: no limit
    batchSize: StrictInt | None = None
    concurrency: StrictInt | None = None
    retry: Retry | None = None


class RequiredAttributes(_Body):
    network: list[StrictStr] | None = None
    client: list[StrictStr] | None = None
    campaign: list[StrictStr] | None = None


class NetworkBody(_Body):
    name: StrictStr | None = None
    kind: StrictStr | None = None
    baseUrl: StrictStr | None = None
    credentials: dict[str, StrictStr] | None = None  # write-only
    bidding: Bidding | None = None
    vendorAttributes: dict[str, StrictStr] | None = None
    clientVendorAttributes: dict[str, StrictStr] | None = None
    requiredAttributes: RequiredAttributes | None = None


class CampaignBody(_Body):
    name: StrictStr | None = None
    countries: list[StrictStr] | None = None
    optimizationType: StrictStr | None = None
    attributes: dict[str, StrictStr] | None = None
    externalId: StrictStr | None = None
    ownCampaignId: StrictInt | StrictStr | None = None  # an integer or cmp_… (translate.py reads it)


class AdSetBody(_Body):
    name: StrictStr | None = None
    externalId: StrictStr | None = None
    ownLineItemId: StrictInt | StrictStr | None = None  # an integer or its numeric string
