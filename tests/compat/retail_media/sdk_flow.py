"""The whole retail-media flow through one official SDK release, unchanged (run in a subprocess
with PYTHONPATH on that release's directory; see test_sdk.py).

argv[1] is a JSON object: host, client_id, client_secret, module (criteo_api_retailmedia_vYYYY_MM),
version, retailer_id, product_ids, start_date, end_date. Prints one JSON object of what the SDK
handed back (its deserialised models: a response the SDK cannot read fails here).

Operations are found by their HTTP method and path, not by name: their names and their models'
names change between releases (`post_api_v2_external_campaign_auction_line_items_by_campaign_id`
in 2023-10, `modify_auction_line_items_by_campaign_id` from 2024-07). Bodies are built as the
SDK's own models, from the JSON a user would write.
"""

from __future__ import annotations

import importlib
import json
import sys
from datetime import date
from typing import Any


def main() -> None:
    args = json.loads(sys.argv[1])
    sdk = importlib.import_module(args["module"])
    builder = importlib.import_module(f"{args['module']}.api_client_builder").ApiClientBuilder
    model_utils = importlib.import_module(f"{args['module']}.model_utils")
    client = builder.WithClientCredentials(args["client_id"], args["client_secret"], host=args["host"])
    apis = [
        importlib.import_module(f"{args['module']}.api.{name}_api").__dict__[f"{name.title()}Api"](client)
        for name in ("accounts", "campaign")
    ]
    prefix = f"/{args['version']}/retail-media"

    def call(method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        for api in apis:
            for endpoint in vars(api).values():
                settings = getattr(endpoint, "settings", None)
                if not settings or settings["http_method"] != method:
                    continue
                if settings["endpoint_path"].replace("{", "").replace("}", "") != prefix + path:
                    continue
                if body is not None:
                    name = next(p for p, where in endpoint.location_map.items() if where == "body")
                    model = endpoint.openapi_types[name][0]
                    params[name] = model_utils.validate_and_convert_types(
                        body, (model,), [name], True, True, client.configuration
                    )
                return getattr(api, settings["operation_id"])(**params)
        raise LookupError(f"the SDK has no {method} {path}")

    out: dict[str, Any] = {"sdk": sdk.__version__}
    accounts = call("GET", "/accounts")
    account_id = accounts.data[0].id
    out["account"] = {"id": account_id, "timeZone": accounts.data[0].attributes.time_zone}

    campaign = call(
        "POST",
        "/accounts/account-id/campaigns",
        {
            "data": {
                "type": "RetailMediaCampaign",
                "attributes": {
                    "name": "SDK campaign",
                    "isAutoDailyPacing": False,
                    "budget": 500.0,
                    "startDate": f"{args['start_date']}T00:00:00",
                    "endDate": None,
                },
            }
        },
        account_id=account_id,
    ).data
    out["campaign"] = {"id": campaign.id, "status": campaign.attributes.status}
    out["campaign_read"] = call("GET", "/campaigns/campaignId", campaign_id=campaign.id).data.attributes.name
    listed = call("GET", "/accounts/account-id/campaigns", account_id=account_id)
    out["campaigns_listed"] = [c.id for c in listed.data]

    created = call(
        "POST",
        "/campaigns/campaign-id/auction-line-items",
        {
            "data": {
                "type": "RetailMediaAuctionLineItem",
                "attributes": {
                    "name": "SDK line item",
                    "startDate": args["start_date"],
                    "endDate": args["end_date"],
                    "targetRetailerId": str(args["retailer_id"]),
                    "budget": 100.0,
                    "targetBid": 0.5,
                    "maxBid": 1.25,
                    "isAutoDailyPacing": False,
                    "bidStrategy": "conversion",
                    "status": "active",
                },
            }
        },
        campaign_id=campaign.id,
    ).data
    line_item_id = created.id
    out["created"] = {"id": line_item_id, "status": created.attributes.status}

    legacy = args["version"] < "2024-07"
    products = {
        "data": [
            {
                "id": str(p),
                "type": "RetailMediaPromotedProduct",
                "attributes": {} if legacy else {"id": str(p)},
            }
            for p in args["product_ids"]
        ]
    }
    call("POST", "/line-items/line-item-id/products/append", products, line_item_id=line_item_id)
    if legacy:
        fetched = call("GET", "/line-items/line-item-id/products", line_item_id=line_item_id)
    else:
        fetched = call(
            "GET", "/line-items/line-item-id/products", line_item_id=line_item_id, offset=0, limit=100
        )
    out["products"] = sorted(p.id for p in fetched.data)

    got = call("GET", "/auction-line-items/line-item-id", line_item_id=line_item_id).data.attributes
    out["got"] = {"status": got.status, "targetBid": got.target_bid, "budgetRemaining": got.budget_remaining}
    page = call(
        "GET",
        "/campaigns/campaign-id/auction-line-items",
        campaign_id=campaign.id,
        page_index=0,
        page_size=10,
    )
    out["listed"] = {"ids": [r.id for r in page.data], "total": page.metadata.total_items_across_all_pages}

    updated = call(
        "PUT",
        "/auction-line-items/line-item-id",
        {
            "data": {
                "id": line_item_id,
                "type": "RetailMediaLineItem",
                "attributes": {
                    "name": "SDK line item, renamed",
                    "startDate": args["start_date"],
                    "endDate": args["end_date"],
                    "budget": 100.0,
                    "monthlyPacing": 300.0,
                    "isAutoDailyPacing": True,
                    "targetBid": 0.6,
                    "status": "paused",
                },
            }
        },
        line_item_id=line_item_id,
    ).data.attributes
    out["updated"] = {
        "name": updated.name,
        "status": updated.status,
        "isAutoDailyPacing": updated.is_auto_daily_pacing,
        "dailyPacing": updated.daily_pacing,
        "maxBid": updated.max_bid,
        "endDate": updated.end_date.isoformat() if isinstance(updated.end_date, date) else updated.end_date,
    }
    call("POST", "/line-items/line-item-id/products/delete", products, line_item_id=line_item_id)
    after = call("GET", "/auction-line-items/line-item-id", line_item_id=line_item_id).data.attributes
    out["after_delete"] = after.status
    print(json.dumps(out))


if __name__ == "__main__":
    main()
