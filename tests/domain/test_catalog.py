"""Feed row validation, GTINs, prices, availability and the cross-merchant match key."""

from __future__ import annotations

import pytest

from auctera.domain.catalog import (
    ProductFields,
    RowError,
    RowRules,
    canonical_column,
    gtin14,
    header_problems,
    match_key,
    parse_amount,
    validate_row,
)

RULES = RowRules(frozenset({"USD", "EUR", "GBP", "SEK"}), "USD")
ROW = {
    "id": "sku-1",
    "title": "Sony PlayStation 5",
    "price": "499.99",
    "link": "https://shop.example.com/ps5",
}


def valid(raw: dict[str, str]) -> ProductFields:
    result = validate_row(raw, 2, RULES)
    assert isinstance(result, ProductFields), result
    return result


def problems(raw: dict[str, str]) -> dict[str, str]:
    result = validate_row(raw, 7, RULES)
    assert isinstance(result, list), result
    assert all(p.line == 7 for p in result)
    return {str(p.field): p.reason for p in result}


def test_a_google_merchant_row_becomes_a_product_in_micros() -> None:
    product = valid(
        {
            **ROW,
            "price": "499.99 EUR",
            "g:availability": "out of stock",
            "image_link": "https://cdn.example.com/ps5.png",
            "brand": "Sony",
            "gtin": "0711719437215",
            "google_product_category": "Electronics > Consoles",
            "mpn": "CFI-1216A",
            "minBid": "0.35",
        }
    )
    assert product.price_micros == 499_990_000
    assert product.currency == "EUR"
    assert product.in_stock is False
    assert product.gtin == "00711719437215"
    assert product.min_bid_micros == 350_000
    assert product.sku == "CFI-1216A"
    assert product.category == "Electronics > Consoles"
    assert product.match_key == "5 playstation sony"


def test_the_account_currency_applies_when_the_row_names_none() -> None:
    assert valid(ROW).currency == "USD"
    assert valid({**ROW, "currency": "sek"}).currency == "SEK"


def test_affiliate_feed_column_names_are_accepted() -> None:
    product = valid(
        {
            "productId": "9",
            "productName": "PlayStation 5",
            "productPrice": "129.5",
            "productUrl": "https://www.site.com/store/product_acb",
            "inStock": "true",
            "manufacturer": "Sony",
            "ean": "0711719437215",
        }
    )
    assert (product.external_id, product.price_micros, product.brand) == ("9", 129_500_000, "Sony")


@pytest.mark.parametrize(
    ("column", "expected"),
    [("Product ID", "id"), ("image-link", "image_url"), ("MIN_BID", "min_bid"), ("colour", None)],
)
def test_column_names_ignore_case_spaces_and_separators(column: str, expected: str | None) -> None:
    assert canonical_column(column) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.99", (12_990_000, None)),
        ("12.99 USD", (12_990_000, "USD")),
        ("usd 12.99", (12_990_000, "USD")),
        ("1,299.00", (1_299_000_000, None)),
        ("0", (0, None)),
    ],
)
def test_prices(text: str, expected: tuple[int, str | None]) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize("text", ["abc", "-5", "12,99", "1.2345678", "12.99 USD EUR", "USD 1 EUR", ""])
def test_bad_prices(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


def test_a_bad_price_names_the_field_and_why() -> None:
    assert problems({**ROW, "price": "12,99"}) == {"price": "not a price: '12,99' (use '.' for decimals)"}
    assert "6 decimal" in problems({**ROW, "price": "1.0000001"})["price"]
    assert "ISO 4217" in problems({**ROW, "price": "12 XYZ"})["price"]
    assert "currency column says EUR" in problems({**ROW, "price": "12 USD", "currency": "EUR"})["price"]


@pytest.mark.parametrize(
    ("code", "gtin"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("036000291452", "00036000291452"),  # UPC-A
        ("4006381333931", "04006381333931"),  # EAN-13
        ("10614141000415", "10614141000415"),  # GTIN-14
        ("400-6381 333931", "04006381333931"),
    ],
)
def test_gtins_are_verified_and_widened_to_14_digits(code: str, gtin: str) -> None:
    assert gtin14(code) == gtin


def test_bad_gtins_say_what_is_wrong() -> None:
    assert problems({**ROW, "ean": "4006381333932"}) == {"gtin": "check digit is 2, should be 1"}
    assert problems({**ROW, "gtin": "12345"}) == {"gtin": "must have 8, 12, 13 or 14 digits, not 5"}
    assert problems({**ROW, "upc": "03600029145X"}) == {"gtin": "must be digits only"}
    assert problems({**ROW, "gtin": "00000000"}) == {"gtin": "is all zeros"}


@pytest.mark.parametrize(
    "url",
    ["shop.example.com/ps5", "ftp://shop.example.com/x", "https://shop example.com/x", "https://localhost/x"],
)
def test_bad_urls(url: str) -> None:
    assert "url" in problems({**ROW, "link": url})


def test_every_problem_of_a_row_is_reported() -> None:
    found = problems(
        {"id": "", "title": "x" * 501, "price": "free", "image_link": "nope", "in_stock": "maybe"}
    )
    assert set(found) == {"id", "name", "price", "url", "image_url", "in_stock"}
    assert found["id"] == "is required"
    assert found["name"] == "must be at most 500 characters"


@pytest.mark.parametrize(
    ("column", "text", "in_stock"),
    [
        ("in_stock", "yes", True),
        ("in_stock", "0", False),
        ("availability", "in_stock", True),
        ("availability", "preorder", True),
        ("availability", "backorder", True),
        ("availability", "Out of Stock", False),
        ("availability", "discontinued", False),
    ],
)
def test_availability(column: str, text: str, in_stock: bool) -> None:
    assert valid({**ROW, column: text}).in_stock is in_stock


def test_the_match_key_finds_the_same_product_under_other_spellings() -> None:
    same = {
        match_key("Sony", "PlayStation 5 Console"),
        match_key(None, "Sony Playstation-5 console"),
        match_key("SONY", "The new PlayStation 5 console"),
        match_key("Sony", "PlayStation5 Console"),
    }
    assert same == {"5 console playstation sony"}
    assert match_key("Café", "Crème brûlée torch 128GB") == match_key("cafe", "creme brulee torch 128 gb")
    assert match_key("Apple", "iPhone 15 128GB") != match_key("Apple", "iPhone 15 256GB")
    assert match_key(None, "the & of") is None


def test_a_header_must_name_the_required_columns_once() -> None:
    assert header_problems(["id", "title", "price", "link", "colour"]) == []
    missing = header_problems(["id", "title", "colour"])
    assert [p.field for p in missing] == ["price", "url"]
    assert missing[0] == RowError(1, "price", "required column missing (one of: price, productPrice)")
    twice = header_problems(["id", "title", "price", "link", "url"])
    assert twice == [RowError(1, "url", "columns 'link' and 'url' both give the url")]
