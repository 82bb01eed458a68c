"""Seed 003's examples, verbatim: request bodies and response bodies (and headers) as the
document shows them. The golden tests send the requests and compare shapes: the same keys and
JSON value types, item by item."""

from __future__ import annotations

from typing import Any

RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "30",
    "X-RateLimit-Remaining": "29",
    "X-RateLimit-Reset": "1565602012124",
}
CLIENT_RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "10",
    "X-RateLimit-Remaining": "9",
    "X-RateLimit-Reset": "1565602012124",
}

COMMISSION = {
    "id": "1066446216",
    "type": "SEK",
    "name": "Sale new customer",
    "value": 100,
    "transactionType": 3,
    "categories": [{"category": "Books", "type": "%", "value": 4.5}],
    "thresholds": [{"orderValue": 1500, "type": "SEK", "value": 7.5}],
}
COMMISSIONS_RESPONSE = [COMMISSION]

FEED_REQUEST = {"programId": 23959067, "channelId": 101496920, "feedId": 749, "setEpi": True, "gt": False}
FEED_HEADERS = {"count": "4547", "feed_lastupdated": "Tue Aug 27 14:56:30 CEST 2019"}
FEED_RESPONSE = [
    {
        "productName": "PlayStation 5",
        "productPrice": "129.5",
        "productUrl": "https://www.site.com/store/product_acb",
        "trackingUrl": "https://track.adtraction.com/t/t?a=24209996&as=24577691&t=2&tk=1",
        "currency": "EUR",
        "programId": 1062755777,
        "approvalStatus": 1,
        "ean": "0711719437215",
        "sku": "abc123",
        "extraInfo": [{"key": "color", "value": "red"}],
        "imageUrl": "http://www.site.com/store/product_acb.png",
        "inStock": True,
        "manufacturer": "Sony",
        "manufacturerArticleNumber": "12345678",
        "market": "SE",
        "oldPrice": 45,
        "productCategory": "Consoles",
        "productDescription": "PlayStation 4 redefines rich and immersive gameplay with powerful graphics and speed.",  # noqa: E501
        "shipping": 9,
    }
]
# Fields our catalog does not hold: always null (docs/api-v3.md).
FEED_NULLABLE = frozenset({"manufacturerArticleNumber", "oldPrice", "shipping", "extraInfo"})

FEEDINFO_RESPONSE = [
    {
        "feedId": 321,
        "name": "Electronics",
        "approvalStatus": 1,
        "feedUrl": "https://adtraction.com/productfeed.htm?type=feed&format=XML&encoding=UTF8&epi=0&zip=0&cdelim=tab&tdelim=singlequote&sd=0&flat=0&apid=23959067&asid=101496920",
        "lastUpdated": "2018-01-01T10:15:12+0100",
        "numberOfProducts": 12055,
    }
]

PROGRAMS_REQUEST = {
    "market": "SE",
    "programId": 629059552,
    "channelId": 1175982945,
    "approvalStatus": 1,
    "status": 0,
}
PROGRAMS_RESPONSE = [
    {
        "programId": 629059552,
        "market": "SE",
        "currency": "SEK",
        "approvalStatus": 1,
        "ppcMarketing": 1,
        "socialMarketing": 1,
        "emailMarketing": 1,
        "cashbackMarketing": 1,
        "couponMarketing": 1,
        "programName": "Kitchentime SE",
        "programURL": "https://www.kitchentime.se",
        "currentSegment": "Gold",
        "pendingActive": False,
        "cookieDuration": 45,
        "adId": 1062755777,
        "commissions": [COMMISSION],
        "feeds": [
            {
                "feedUrl": "https://adtraction.com/productfeed.htm?type=feed&format=XML&encoding=UTF8&epi=0&zip=0&cdelim=tab&tdelim=singlequote&sd=0&flat=0&apid=1035156879&asid=141&pfid=506",
                "lastUpdated": "2022-02-03T02:05:06+0100",
                "numberOfProducts": 4564,
                "feedId": 759,
                "name": "Standard",
            }
        ],
        "logoURL": "https://secure.adtraction.com/image.htm?imgId=56807831",
        "trackingURL": "https://track.adtraction.com/t/t?a=24209996&as=24577691&t=2&tk=1",
        "categoryName": "Fashion & accessories",
        "categoryId": 1,
        "trackingType": 2,
        "status": 0,
        "epc": 1.94,
    }
]

CHANNELS_REQUEST = {"channelId": 26148592, "affiliateId": 26148590, "approvalStatus": 0}
CHANNELS_RESPONSE = [
    {
        "affiliateId": 906248154,
        "affiliateName": "John Doe",
        "channelId": 1062755777,
        "channelName": "John's business blog",
        "channelDescription": "A blog about business.",
        "channelUrl": "https://www.johnsblog.com",
        "channelType": "Blog",
        "approvalStatus": 0,
        "applicationDate": "2021-11-31",
        "rejectReason": 3,
        "reasonText": "404 on site",
    }
]
CHANNELS_EXTENSIONS = frozenset({"programId"})  # ours, documented: a channel may apply to several programs

DECISION_REQUEST = {"channelId": 26148592, "approvalStatus": 0, "rejectReason": 3}
DECISION_RESPONSE = {"success": True}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def assert_same_shape(
    ours: Any,
    seed: Any,
    *,
    nullable: frozenset[str] = frozenset(),
    extra: frozenset[str] = frozenset(),
    where: str = "$",
) -> None:
    """Same keys (plus our documented `extra` ones), same JSON types; `nullable` keys may be null
    (or, for arrays, empty)."""
    if isinstance(seed, dict):
        assert isinstance(ours, dict), f"{where}: {ours!r}"
        assert set(ours) - extra == set(seed), f"{where}: keys {sorted(set(ours) ^ set(seed))} differ"
        for key, value in seed.items():
            if key in nullable and ours[key] in (None, []):
                continue
            assert_same_shape(ours[key], value, nullable=nullable, extra=extra, where=f"{where}.{key}")
        return
    if isinstance(seed, list):
        assert isinstance(ours, list) and ours, f"{where}: want a non-empty array, got {ours!r}"
        for i, item in enumerate(ours):
            assert_same_shape(item, seed[0], nullable=nullable, extra=extra, where=f"{where}[{i}]")
        return
    assert json_type(ours) == json_type(seed), f"{where}: {ours!r} is not a {json_type(seed)} like {seed!r}"
