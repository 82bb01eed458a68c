"""`auctera demo`: a small but realistic marketplace to explore the API with.

A network operator, three advertisers with campaigns of every type, two publishers, a retail
site with a product catalog where one advertiser's line item promotes its boots, two merchants
whose catalogs share products with it, a SmartLink, bids on the simulated ad network (which
the `demo` command starts: `start_simulated_partner`), and 30 days of impressions, clicks and
conversions in the event log, so the performance figures are not all zero. Idempotent: a
second run changes nothing. The credentials are written to `data_dir/demo-credentials.json`
(mode 0600), since keys are shown only once; a second run whose data dir no longer holds that
file says so (the keys cannot be shown again).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from auctera.api.compat.bids import translate
from auctera.api.compat.bids.schemas import AdSetBody, CampaignBody, NetworkBody
from auctera.api.v2.schemas import CampaignCreate
from auctera.bootstrap import Container
from auctera.cli.common import DEMO_PARTNER_PORT
from auctera.domain.accounts import Principal, render_account_id
from auctera.domain.campaigns import Campaign, CampaignStatus, CampaignType
from auctera.domain.catalog import FeedFormat
from auctera.domain.events import Event, EventType
from auctera.domain.ids import CLICK_PREFIX, MAX_NODE, SEQ_BITS, IdGenerator, render
from auctera.domain.line_items import LineItemSettings, LineItemStatus
from auctera.domain.money import MICROS
from auctera.domain.pricing import BidStrategy
from auctera.services.bids import BidService
from auctera.services.channels import ChannelFields, ChannelService
from auctera.services.line_items import LineItemWrite
from auctera.services.programs import CommissionSpec, ProgramService, ProgramSettings, RateSpec
from auctera.services.smartlinks import SmartLinkCreate

NETWORK = "Auctera Network (demo)"
# The token of the simulated ad network `auctera demo` starts (docs/api-bids.md).
PARTNER_TOKEN = "demo-partner-token"

ADVERTISERS: list[dict[str, Any]] = [
    {
        "name": "Northwind Outfitters",
        "timezone": "America/New_York",
        "currency": "USD",
        "campaigns": [
            {
                "name": "Q4 Retargeting - US",
                "type": "dsp_retargeting",
                "budget": {"daily": 5000, "total": 150000},
                "targeting": {"geo": ["US", "CA"], "device_types": ["mobile", "tablet"], "dmas": ["501"]},
                "bid_multipliers": {"device_type": {"mobile": 1.2, "tablet": 0.9}},
                "bidding": {"strategy": "target_cpa", "target_amount": 35.00},
                "pacing": "even",
                "destination_url": "https://northwind.example.com/winter?cid={click_id}",
            },
            {
                "name": "Prospecting - Outdoor Lovers",
                "type": "dsp_prospecting",
                "budget": {"daily": 1200},
                "targeting": {"geo": ["US"], "zip_codes": ["10001", "94103"], "device_types": ["desktop"]},
                "bidding": {"strategy": "maximize_conversions"},
                "pacing": "asap",
                "destination_url": "https://northwind.example.com/new",
            },
            {
                "name": "Sponsored Boots - Retail Media",
                "type": "retail_media",
                "budget": 20000,
                "targeting": {"geo": ["US"]},
                "bidding": {"strategy": "manual_cpc", "target_amount": 0.85},
                "destination_url": "https://northwind.example.com/boots",
            },
        ],
    },
    {
        "name": "FintechCorp",
        "timezone": "Europe/London",
        "currency": "USD",
        "campaigns": [
            {
                "name": "Credit Card Signups - CPA",
                "type": "affiliate_cpa",
                "budget": {"daily": 3000, "total": 90000},
                "targeting": {"geo": ["US", "GB"]},
                "payout": 65.00,
                "promotional_rules": ["No Incentivized Traffic", "No Brand Bidding"],
                "bidding": {"strategy": "target_cpa", "target_amount": 70.00},
                "destination_url": "https://fintech.example.com/apply?click_id={click_id}",
            },
            {
                "name": "Savings App - CPC",
                "type": "affiliate_cpc",
                "budget": 15000,
                "targeting": {"geo": ["GB"]},
                "payout": 0.45,
                "promotional_rules": ["Email Only"],
                "bidding": {"strategy": "manual_cpc", "target_amount": 0.60},
                "destination_url": "https://fintech.example.com/save",
            },
        ],
    },
    {
        "name": "Nordic Home",
        "timezone": "Europe/Stockholm",
        "currency": "SEK",
        "campaigns": [
            {
                "name": "SmartLink - Kitchen",
                "type": "smartlink_cpc",
                "budget": {"daily": 2500, "total": 60000},
                "targeting": {"geo": ["SE", "NO", "DK", "FI"]},
                "bidding": {"strategy": "manual_cpc", "target_amount": 4.50},  # SEK per click
                "destination_url": "https://nordichome.example.se/kok",
            },
            {
                "name": "Kitchentime SE",
                "type": "affiliate_cpa",
                "budget": {"daily": 20000},
                "targeting": {"geo": ["SE"]},
                "payout": 100.00,
                "promotional_rules": ["No Brand Bidding"],
                "bidding": {"strategy": "target_cpa", "target_amount": 120.00},
                "destination_url": "https://nordichome.example.se/?click_id={click_id}",
            },
        ],
    },
]
PUBLISHERS = [("Deal Hunters Blog", "America/New_York"), ("Budget Travel Weekly", "Europe/Berlin")]
FLOODER = 1  # Budget Travel Weekly's sales come days after its clicks: click flooding, for the report
# A retail site: sponsored products serve on it (retail media), so its account is a publisher.
RETAIL_SITE = ("Harbor Market", "America/Chicago", "market.example.com")

_FEED_HEAD = "id,title,brand,price,currency,link,image_link,availability,gtin,product_type,min_bid\n"
# (id, title, brand, price, gtin, category, min bid): Harbor Market's shelves. The merchants
# below sell some of the same products (same GTIN), which is what SmartLinks auction.
HARBOR_PRODUCTS = [
    (
        "HM-1001",
        "Trailblazer Waterproof Boot",
        "Northwind",
        "129.00",
        "4006381333931",
        "Shoes > Boots",
        "0.40",
    ),
    ("HM-1002", "Summit Insulated Boot", "Northwind", "159.00", "4006381333948", "Shoes > Boots", "0.50"),
    ("HM-1003", "Ridge Hiking Boot", "Northwind", "119.00", "4006381333955", "Shoes > Boots", "0.35"),
    ("HM-1004", "Packable Down Jacket", "Northwind", "189.00", "4006381333962", "Apparel > Jackets", "0.60"),
    ("HM-2001", "Cast Iron Skillet 26 cm", "Nordic Home", "39.00", "7350001112220", "Kitchen > Pans", "0.20"),
    ("HM-2002", "Enamel Dutch Oven 5 L", "Nordic Home", "89.00", "7350001112237", "Kitchen > Pots", "0.30"),
    ("HM-2003", "Oak Cutting Board", "Nordic Home", "29.00", "7350001112244", "Kitchen > Boards", "0.15"),
]
# (retailer name, owner advertiser, domain, currency, the products it sells as (gtin, price)).
MERCHANTS = [
    ("Northwind Outfitters", "Northwind Outfitters", "northwind.example.com", "USD",
     [("4006381333931", "124.00"), ("4006381333948", "155.00"), ("4006381333962", "179.00")]),
    ("Nordic Home", "Nordic Home", "nordichome.example.se", "SEK",
     [("7350001112220", "399.00"), ("7350001112237", "899.00"), ("7350001112244", "299.00")]),
]  # fmt: skip
SEK_IN_USD = "0.094"  # the demo's exchange rate: merchant prices are shown in USD on SmartLinks


def _principal(account_id: int, new: Any) -> Principal:
    a = new.account
    return Principal(account_id, a.kind, a.timezone, a.currency, a.rate_limit_per_minute, "demo")


def _already_loaded(credentials: Path, network_id: str) -> dict[str, Any]:
    """The answer of a second run: the credentials file, if the data dir still holds the one of
    this database's demo (its network account's id), else a note saying it is gone."""
    try:
        written = orjson.loads(credentials.read_bytes())
        ours = any(a.get("account_id") == network_id for a in written.get("accounts", []))
    except (OSError, ValueError, AttributeError):
        ours = False
    if ours:
        return {"status": "already loaded", "credentials": str(credentials)}
    return {
        "status": "already loaded",
        "credentials": None,
        "note": f"the demo's credentials are not in {credentials} any more: they were written there "
        "when the demo was loaded, and keys are shown only once",
    }


def load_demo(
    c: Container, *, days: int = 30, seed: int = 7, partner_port: int = DEMO_PARTNER_PORT
) -> dict[str, Any]:
    credentials = c.settings.data_dir / "demo-credentials.json"
    network = next((a for a in c.accounts.list_accounts() if a.name == NETWORK), None)
    if network is not None:
        return _already_loaded(credentials, render_account_id(network.kind, network.id))

    out: dict[str, Any] = {"accounts": []}
    began = c.clock()

    def remember(new: Any) -> None:
        out["accounts"].append(
            {
                "account_id": render_account_id(new.account.kind, new.account.id),
                "name": new.account.name,
                "kind": new.account.kind.value,
                "api_key": new.api_key,
                "api_secret": new.account.signing_secret,
                "client_id": new.client_id,
                "client_secret": new.client_secret,
            }
        )

    remember(c.accounts.create_account(NETWORK, "network"))
    publishers = []
    who: dict[str, Principal] = {}
    for name, tz in PUBLISHERS:
        new = c.accounts.create_account(name, "publisher", timezone=tz)
        publishers.append(new.account.id)
        who[name] = _principal(new.account.id, new)
        remember(new)
    site = c.accounts.create_account(RETAIL_SITE[0], "publisher", timezone=RETAIL_SITE[1])
    who[RETAIL_SITE[0]] = _principal(site.account.id, site)
    remember(site)

    campaigns: list[Campaign] = []
    for spec in ADVERTISERS:
        new = c.accounts.create_account(
            spec["name"], "advertiser", timezone=spec["timezone"], currency=spec["currency"]
        )
        remember(new)
        who[spec["name"]] = advertiser = _principal(new.account.id, new)
        for body in spec["campaigns"]:
            request = CampaignCreate.model_validate(body)
            created = c.campaigns.create(advertiser, request.type, request.patch())
            reviewed = c.campaigns.review(created.id) or created
            campaigns.append(reviewed)
        out["accounts"][-1]["campaigns"] = [render("cmp", x.id) for x in campaigns[-len(spec["campaigns"]) :]]

    live = [x for x in campaigns if x.status is CampaignStatus.ACTIVE]
    history = list(_history(c, live, publishers, days, random.Random(seed)))
    events = _recorded_as_they_happened(c, history, began)
    for start in range(0, len(events), 5000):
        c.events.append_many(events[start : start + 5000])
    c.events.sync()

    out["events"] = len(events)
    out["campaigns"] = len(campaigns)
    with c.uow() as uow:  # in effect since the history began: a rate set today changes today on
        uow.fx_rates.set("SEK", "USD", Decimal(SEK_IN_USD), began, (began - timedelta(days=days)).date())
        uow.commit()
    out["auction_engine"] = _auction_engine(c, who, campaigns)
    out["affiliate_program"] = _affiliate_program(c, who, campaigns)
    out["bid_management"] = _bid_management(c, who["Northwind Outfitters"], partner_port)
    credentials.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    os.chmod(credentials, 0o600)
    return {"status": "loaded", "credentials": str(credentials), **out}


def _auction_engine(c: Container, who: dict[str, Principal], campaigns: list[Campaign]) -> dict[str, Any]:
    """Harbor Market's catalog, Northwind's line item promoting its boots there, the merchants'
    catalogs (shared GTINs), and a SmartLink on Deal Hunters Blog for a skillet Nordic Home bids on."""
    site = who[RETAIL_SITE[0]]
    harbor = c.catalog.create_retailer(site, RETAIL_SITE[0], RETAIL_SITE[2])
    rows = [
        f"{pid},{title},{brand},{price},USD,https://{RETAIL_SITE[2]}/p/{pid},"
        f"https://{RETAIL_SITE[2]}/img/{pid}.jpg,in stock,{gtin},{category},{min_bid}\n"
        for pid, title, brand, price, gtin, category, min_bid in HARBOR_PRODUCTS
    ]
    c.catalog.import_feed(site, harbor.id, io.BytesIO((_FEED_HEAD + "".join(rows)).encode()), FeedFormat.CSV)
    names = {gtin: (title, brand, category) for _, title, brand, _, gtin, category, _ in HARBOR_PRODUCTS}
    merchants = {}
    for name, owner, domain, currency, sold in MERCHANTS:
        merchant = c.catalog.create_retailer(who[owner], name, domain)
        merchants[name] = render("ret", merchant.id)
        rows = [
            f"{gtin},{names[gtin][0]},{names[gtin][1]},{price},{currency},https://{domain}/p/{gtin},"
            f"https://{domain}/img/{gtin}.jpg,in stock,{gtin},{names[gtin][2]},\n"
            for gtin, price in sold
        ]
        c.catalog.import_feed(
            who[owner], merchant.id, io.BytesIO((_FEED_HEAD + "".join(rows)).encode()), FeedFormat.CSV
        )
    northwind = who["Northwind Outfitters"]
    boots = next(x for x in campaigns if x.type is CampaignType.RETAIL_MEDIA)
    today = c.clock().date()
    settings = LineItemSettings(
        name="Winter boots - search",
        start_date=today - timedelta(days=7),
        budget_micros=500_000_000,
        is_auto_daily_pacing=False,
        daily_pacing_micros=40_000_000,
        bid_strategy=BidStrategy.CLICKS,
        target_bid_micros=850_000,
    )
    write = LineItemWrite(settings, status=LineItemStatus.ACTIVE, target_retailer_id=harbor.id)
    line_item = c.line_items.create(northwind, boots.id, write)
    c.line_items.add_products(northwind, line_item.item.id, ["HM-1001", "HM-1002", "HM-1003"])
    link = c.smartlinks.create(
        who["Deal Hunters Blog"], SmartLinkCreate(gtin="7350001112220", name="Skillet of the week")
    )
    return {
        # The retail-media surface (seed 004) names it by its number: `targetRetailerId`.
        "retail_site": {
            "retailer_id": render("ret", harbor.id),
            "targetRetailerId": str(harbor.id),
            "account": RETAIL_SITE[0],
        },
        "merchants": merchants,
        "line_item": {"id": str(line_item.item.id), "campaign_id": str(boots.id)},
        "smartlink": {"auction_id": str(link.id), "publisher": "Deal Hunters Blog"},
    }


def _history(c: Container, live: list[Campaign], publishers: list[int], days: int, rng: random.Random) -> Any:
    """Plausible funnels priced the way each campaign type buys: DSP by CPM (20-40), CPC types per
    click, CPA offers per conversion. CTR 2-5%, CVR 3-7%, order values 40-120."""
    now = c.clock().astimezone(UTC)
    for campaign in live:
        ctr, cvr = rng.uniform(0.02, 0.05), rng.uniform(0.03, 0.07)
        kind = campaign.type.value
        cpm = rng.randint(20_000_000, 40_000_000) if kind.startswith("dsp_") else 0  # premium retargeting
        cpc = campaign.payout_micros if kind == "affiliate_cpc" else rng.randint(300_000, 900_000)
        cpc = 0 if kind.startswith("dsp_") or kind == "affiliate_cpa" else cpc
        cpa = campaign.payout_micros if kind == "affiliate_cpa" else 0
        for day in range(days, -1, -1):
            base = now - timedelta(days=day)
            impressions = rng.randint(400, 1200)
            clicks = sum(rng.random() < ctr for _ in range(impressions))
            conversions = sum(rng.random() < cvr for _ in range(clicks))
            for _ in range(impressions):
                yield _event(c, campaign, EventType.IMPRESSION, base, rng, publishers, cost=cpm // 1000)
            day_clicks = []
            for _ in range(clicks):
                click = _event(
                    c, campaign, EventType.CLICK, base, rng, publishers, cost=cpc or 0, payout=cpc or 0
                )
                click = replace(click, click_id=render(CLICK_PREFIX, click.id))  # it names itself
                day_clicks.append(click)
                yield click
            for _ in range(conversions if day_clicks else 0):
                revenue = rng.randint(40, 120) * 1_000_000
                click = rng.choice(day_clicks)
                # Most sales come within the hour of their click. The flooder's clicks are sent
                # hoping to be the last before sales made anyway: their delays spread over days
                # (GET /v2/reports/click-to-conversion tells it apart).
                flooding = click.publisher_id == publishers[FLOODER]
                delay = rng.uniform(0, 14 * 86_400) if flooding else rng.lognormvariate(7, 1.2)
                conversion = _event(
                    c, campaign, EventType.CONVERSION, base, rng, publishers,
                    cost=cpa or 0, revenue=revenue, payout=cpa or 0,
                )  # fmt: skip
                at = min(click.at + timedelta(seconds=delay), now)
                yield replace(conversion, at=at, publisher_id=click.publisher_id, click_id=click.click_id)


def _recorded_as_they_happened(c: Container, events: list[Event], before: datetime) -> list[Event]:
    """The history with ids issued at each event's own time, as a live server would have issued
    them (reports tell late-recorded events, ids issued after their day became final, apart as
    restatements; this history is not late). On this process's node, and all before `before`,
    when the demo began issuing ids of its own, so none can be issued twice."""
    events.sort(key=lambda e: e.at)
    node = (c.ids.next_id() >> SEQ_BITS) & MAX_NODE
    latest = int(before.timestamp() * 1000) - 1
    issued_at = [0]
    ids = IdGenerator(node, lambda: issued_at[0])
    out = []
    renamed: dict[str | None, str] = {}  # a click's id as generated -> as issued (clicks come first)
    for e in events:
        issued_at[0] = min(int(e.at.timestamp() * 1000), latest)
        e = replace(e, id=ids.next_id())
        if e.type is EventType.CLICK:
            renamed[e.click_id] = render(CLICK_PREFIX, e.id)
        e = replace(e, click_id=renamed.get(e.click_id))
        out.append(e)
    return out


def _event(
    c: Container,
    campaign: Campaign,
    kind: EventType,
    day: datetime,
    rng: random.Random,
    publishers: list[int],
    *,
    cost: int = 0,
    revenue: int = 0,
    payout: int = 0,
) -> Event:
    at = min(day.replace(hour=0, minute=0, second=0) + timedelta(seconds=rng.randint(0, 86_399)), c.clock())
    return Event(
        id=c.ids.next_id(),
        type=kind,
        at=at,
        account_id=campaign.account_id,
        campaign_id=campaign.id,
        publisher_id=rng.choice(publishers),
        country=(campaign.targeting.geo or ("US",))[0],
        device_type=rng.choice(["mobile", "desktop", "tablet"]),
        cost_micros=cost,
        revenue_micros=revenue,
        payout_micros=payout,
        currency=campaign.budget.currency,
        ivt=kind is EventType.IMPRESSION and rng.random() < 0.02,
    )


def _affiliate_program(c: Container, who: dict[str, Principal], campaigns: list[Campaign]) -> dict[str, Any]:
    """Nordic Home's affiliate program in Sweden (seed 003's example, in SEK): 100 SEK a sale,
    4.5% on books, 7.5% from 1,500 SEK; a Gold segment paying more; Deal Hunters Blog's blog
    approved into Gold, and Budget Travel Weekly's newsletter pending."""
    nordic = who["Nordic Home"]
    offer = next(x for x in campaigns if x.name == "Kitchentime SE")
    feeds = [r.id for r in c.catalog.list_retailers(nordic, limit=10).retailers]
    programs = ProgramService(c.uow, c.ids, c.clock, c.events)
    settings = ProgramSettings(
        market="SE",
        cookie_duration_days=45,
        category_id=1,
        category_name="Home & kitchen",
        program_url="https://nordichome.example.se",
        logo_url="https://nordichome.example.se/logo.png",
        feed_ids=tuple(feeds),
    )
    view, _ = programs.put(nordic, offer.id, settings)
    gold = programs.add_segment(nordic, offer.id, "Gold")
    sek, percent = "SEK", "%"
    for segment, base in ((None, 100), (gold.id, 150)):
        sale = CommissionSpec(
            name="Sale new customer",
            event_type="purchase",
            rate=RateSpec(sek, base * MICROS),
            categories=(("Books", RateSpec(percent, 4_500_000)),),
            thresholds=((1500 * MICROS, RateSpec(percent, 7_500_000)),),
            segment_id=segment,
        )
        programs.add_commission(nordic, offer.id, sale)
    programs.add_commission(
        nordic, offer.id, CommissionSpec("Newsletter signup", "sign_up", RateSpec(sek, 10 * MICROS))
    )
    channels = ChannelService(c.uow, c.ids, c.clock)
    blog = channels.create_channel(
        who["Deal Hunters Blog"],
        ChannelFields(name="Deal Hunters", type="Blog", url="https://dealhunters.example.com"),
    )
    letter = channels.create_channel(
        who["Budget Travel Weekly"],
        ChannelFields(name="Weekly newsletter", type="Newsletter", url="https://budgettravel.example.com"),
    )
    approved = channels.apply(who["Deal Hunters Blog"], offer.id, traffic_type="SEO", channel_id=blog.id)
    channels.approve(nordic, approved.id, gold.id)
    pending = channels.apply(
        who["Budget Travel Weekly"], offer.id, traffic_type="Email", channel_id=letter.id
    )
    return {
        # Seed 003 (/v3) names them by number; /v2 by their prefixed ids.
        "programId": view.program.id,
        "offer_id": render("off", offer.id),
        "channels": {
            "Deal Hunters Blog": {"channelId": blog.id, "approvalStatus": 1, "segment": "Gold"},
            "Budget Travel Weekly": {"channelId": letter.id, "approvalStatus": 2},
        },
        "applications": [render("app", approved.id), render("app", pending.id)],
    }


def _bid_management(c: Container, northwind: Principal, port: int) -> dict[str, Any]:
    """Northwind bids on the simulated ad network (`auctera partners simulate`, which `auctera
    demo` starts on `port`): a campaign in DE and US, an ad set, three bids left pending
    for the bid sync of `auctera serve` (or `auctera bids sync`) to push."""
    network_body = {
        "name": "Simulated ad network",
        "kind": "simulated",
        "baseUrl": f"http://127.0.0.1:{port}",
        "credentials": {"token": PARTNER_TOKEN},
        "bidding": {
            "enabled": True,
            "campaignBidding": True,
            "adSetBidding": True,
            "minBidUsd": Decimal("0.01"),
        },
    }
    service = BidService(c.uow, c.ids, c.clock, c.partner_targets)
    draft = translate.network_changes(translate.parse(NetworkBody, network_body), translate.new_network())
    # The operator's own partner on loopback: trusted, as no tenant's network may be (D57).
    network = service.create_network(northwind, draft, trusted=True)
    campaign_body = {"name": "Winter boots - installs", "countries": ["DE", "US"], "optimizationType": "cpi"}
    campaign = service.create_campaign(
        northwind,
        network.id,
        translate.campaign_changes(translate.parse(CampaignBody, campaign_body), translate.new_campaign()),
    )
    ad_set = service.create_ad_set(
        northwind,
        campaign.id,
        translate.ad_set_changes(translate.parse(AdSetBody, {"name": "Hikers"}), translate.new_ad_set()),
    )
    rows = [
        {"campaign": {"id": campaign.id}, "country": "US", "optimalBidUsd": Decimal("0.85")},
        {"campaign": {"id": campaign.id}, "country": "DE", "optimalBidUsd": Decimal("0.6")},
        {
            "campaign": {"id": campaign.id},
            "adSetId": ad_set.id,
            "country": "DE",
            "optimalBidUsd": Decimal("0.72"),
        },
    ]
    result = service.upload(northwind, translate.upload_rows(rows))
    assert not result.rejections, result.rejections  # the demo's own bids are valid
    return {"network_id": network.id, "campaign_id": campaign.id, "ad_set_id": ad_set.id, "bids": len(rows)}


def start_simulated_partner(
    log: Path, port: int = DEMO_PARTNER_PORT, wait_seconds: float = 15.0
) -> dict[str, Any]:
    """The simulated ad network on `port`, as a process of its own that outlives this
    command (its own session: a Ctrl-C in the terminal that ran the demo does not stop it), its
    output in `log`; or the one already answering there. Its bids are held in memory: restarted,
    it holds none, and the next sync of the demo's bids sees that."""
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            reply = httpx.get(f"{url}/_bids", timeout=1.0)
        except httpx.HTTPError:
            return False
        return reply.status_code == 200

    if answers():
        return {"url": url, "status": "running already"}
    command = [sys.executable, "-c", "from auctera.cli.entry import main; main()", "partners", "simulate"]
    command += ["--port", str(port), "--token", PARTNER_TOKEN]
    with log.open("ab") as output:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and process.poll() is None:
        if answers():
            return {"url": url, "status": "started", "pid": process.pid, "log": str(log)}
        time.sleep(0.2)
    return {"url": url, "status": f"did not start (see {log})"}
