"""Column-wise validation of a CSV or TSV record batch (pyarrow compute and numpy).

`validate_row` costs microseconds a row in Python; here each check runs over a whole column.
Only values of the plain kinds most feeds hold are judged here: text not starting or ending in
a non-ASCII character, prices such as `12.99` or `12.99 USD`, http(s) URLs of printable ASCII,
GTINs of 8, 12, 13 or 14 digits, the usual availability words. A row is accepted only when every
value of it is such a value and valid, so it becomes exactly the product `validate_row` makes of
it. Every other row (a bad value, or one only `validate_row` reads, such as `1,299.00`) goes to
`validate_row`, which accepts it or says precisely what is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auctera.domain.catalog import (
    IN_STOCK_WORDS,
    MAX_MATCH_KEY,
    MAX_NAME,
    MAX_SHORT,
    MAX_URL,
    OUT_OF_STOCK_WORDS,
    REQUIRED,
    STOP_WORDS,
    ProductColumns,
    RowRules,
    canonical_column,
    match_key,
)

# What str.strip() strips that is ASCII; a value with a non-ASCII first or last character is
# left to validate_row (it may be Unicode white space).
_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_AMOUNT = r"^(?P<units>[0-9]{1,12})(?:\.(?P<decimals>[0-9]{1,6}))?(?: ?(?P<code>[A-Za-z]{3}))?$"
# domain.catalog's _PLAIN_URL, printable ASCII only: what url_problem accepts at once.
_URL = r"^(?i:https?://(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]*[a-z](?:[/?#][\x21-\x7e]*)?)$"
_GTIN = r"^(?:[0-9]{8}|[0-9]{12,14})$"
_SHORT = {"id": MAX_SHORT, "name": MAX_NAME, "category": MAX_SHORT, "brand": MAX_SHORT, "sku": MAX_SHORT}

# Bytes of ASCII text: lower-cased letters and digits, and what class each is (0: a separator).
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[ord("A") : ord("Z") + 1] += 32
_CLASS = np.zeros(256, dtype=np.int8)
_CLASS[ord("a") : ord("z") + 1] = 1
_CLASS[ord("A") : ord("Z") + 1] = 1
_CLASS[ord("0") : ord("9") + 1] = 2


def validate_columns(
    names: list[str], columns: list[pa.Array], lines: np.ndarray, rules: RowRules, candidates: np.ndarray
) -> tuple[ProductColumns, np.ndarray]:
    """The products of the rows in `candidates` (a mask) that pass, and the mask of those rows.
    `columns` are the batch's string columns, named by the feed's `names`."""
    n = len(lines)
    ok = candidates.copy()
    values: dict[str, pa.Array] = {}
    present: dict[str, np.ndarray] = {}
    for name, column in zip(names, columns, strict=True):
        field = canonical_column(name)
        if field is None or field in values:  # a tabular header names each field once
            continue
        trimmed = pc.utf8_trim(column, _ASCII_SPACE)
        ok &= ~_non_ascii_edges(trimmed)
        values[field] = trimmed
        present[field] = _lengths(trimmed) > 0
    absent = np.zeros(n, dtype=bool)

    def has(field: str) -> np.ndarray:
        return present.get(field, absent)

    if any(field not in values for field in REQUIRED):  # a guard: header_problems refuses that
        return ProductColumns.of([]), np.zeros(n, dtype=bool)
    for field in REQUIRED:
        ok &= has(field)
    for field, limit in _SHORT.items():
        if field in values:
            ok &= _lengths(values[field], characters=True) <= limit

    currency_given = has("currency")
    currency = pc.ascii_upper(values["currency"]) if "currency" in values else pa.nulls(n, pa.string())
    ok &= ~currency_given | _member(currency, rules.currencies)

    price_micros, price_code = np.zeros(n, np.int64), None
    if "price" in values:
        price_micros, price_code = _amounts(values["price"])
    ok &= price_micros >= 0
    final_currency = pc.if_else(pa.array(currency_given), currency, rules.default_currency)
    if price_code is not None:
        coded = _lengths(price_code) > 0
        ok &= ~coded | _member(price_code, rules.currencies)
        ok &= ~(coded & currency_given) | _equal(price_code, currency)
        final_currency = pc.if_else(pa.array(coded), price_code, final_currency)

    min_bid: pa.Array = pa.nulls(n, pa.int64())
    if "min_bid" in values:
        bid_micros, bid_code = _amounts(values["min_bid"])
        given = has("min_bid")
        ok &= ~given | (bid_micros >= 0)
        ok &= ~given | (_lengths(bid_code) == 0) | _equal(bid_code, final_currency)
        min_bid = pc.if_else(pa.array(given), pa.array(bid_micros), None)

    for field in ("url", "image_url"):
        if field in values:
            plain = pc.match_substring_regex(values[field], _URL).to_numpy(zero_copy_only=False)
            ok &= ~has(field) | (plain & (_lengths(values[field]) <= MAX_URL))

    in_stock = np.ones(n, dtype=bool)
    stock_field = [f for f in ("in_stock", "availability") if f in values]
    if stock_field:
        words = values[stock_field[0]]
        given = has(stock_field[0])
        if len(stock_field) == 2:  # in_stock when it has a value, else availability
            words = pc.if_else(pa.array(given), words, values["availability"])
            given = given | has("availability")
        words = pc.replace_substring(pc.ascii_lower(words), "_", " ")
        yes = _member(words, IN_STOCK_WORDS)
        ok &= ~given | yes | _member(words, OUT_OF_STOCK_WORDS)
        in_stock = ~given | yes

    gtin: pa.Array = pa.nulls(n, pa.string())
    if "gtin" in values:
        given = has("gtin")
        digits = pc.match_substring_regex(values["gtin"], _GTIN).to_numpy(zero_copy_only=False)
        ok &= ~given | digits
        padded = pc.utf8_lpad(pc.if_else(pa.array(digits), values["gtin"], ""), 14, "0")
        ok &= ~given | _gtin_checked(padded)
        gtin = pc.if_else(pa.array(given), padded, None)

    chosen = np.flatnonzero(ok)
    take = pa.array(chosen, pa.int64())

    def optional(field: str) -> list[Any]:
        if field not in values:
            return [None] * len(chosen)
        return pc.if_else(pa.array(has(field)), values[field], None).take(take).to_pylist()

    brand = optional("brand")
    name = values["name"].take(take).to_pylist()
    brand_text = (
        values["brand"].take(take) if "brand" in values else pa.array([""] * len(chosen), pa.string())
    )
    texts = pc.binary_join_element_wise(brand_text, values["name"].take(take), " ")
    products = ProductColumns(
        lines=lines[chosen].tolist(),
        external_id=values["id"].take(take).to_pylist(),
        name=name,
        price_micros=price_micros[chosen].tolist(),
        currency=final_currency.take(take).to_pylist(),
        url=values["url"].take(take).to_pylist(),
        in_stock=in_stock[chosen].tolist(),
        description=optional("description"),
        image_url=optional("image_url"),
        category=optional("category"),
        brand=brand,
        gtin=gtin.take(take).to_pylist(),
        sku=optional("sku"),
        min_bid_micros=min_bid.take(take).to_pylist(),
        match_key=_match_keys(texts, brand, name),
    )
    return products, ok


def _lengths(values: pa.Array, *, characters: bool = False) -> np.ndarray:
    counted = pc.utf8_length(values) if characters else pc.binary_length(values)
    return np.asarray(counted.fill_null(0).to_numpy(zero_copy_only=False))


def _member(values: pa.Array, allowed: frozenset[str]) -> np.ndarray:
    found = pc.is_in(values, value_set=pa.array(sorted(allowed), pa.string())).fill_null(False)
    return np.asarray(found.to_numpy(zero_copy_only=False))


def _equal(a: pa.Array, b: pa.Array) -> np.ndarray:
    return np.asarray(pc.equal(a, b).fill_null(False).to_numpy(zero_copy_only=False))


def array_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string or binary array's offsets (one more than its values, the first 0) and bytes,
    as numpy arrays."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[
        values.offset : values.offset + len(values) + 1
    ]
    data = values.buffers()[2]
    if data is None:
        return np.zeros(len(values) + 1, dtype=np.int32), np.zeros(0, dtype=np.uint8)
    first = int(offsets[0])
    return offsets - first, np.frombuffer(data, dtype=np.uint8)[first : int(offsets[-1])]


def _non_ascii_edges(values: pa.Array) -> np.ndarray:
    offsets, data = array_bytes(values)
    starts, ends = offsets[:-1], offsets[1:]
    filled = ends > starts
    edges = np.zeros(len(values), dtype=bool)
    edges[filled] = (data[starts[filled]] >= 0x80) | (data[ends[filled] - 1] >= 0x80)
    return edges


def _amounts(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Each amount in micros (-1 where not one we read here) and its currency code ('' if none),
    upper-case: integers throughout, never a float."""
    parts = pc.extract_regex(values, _AMOUNT)
    matched = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False))
    units = pc.if_else(parts.is_valid(), pc.struct_field(parts, "units"), "0")
    decimals = pc.utf8_rpad(pc.if_else(parts.is_valid(), pc.struct_field(parts, "decimals"), ""), 6, "0")
    micros = pc.cast(units, pa.int64()).to_numpy() * 1_000_000 + pc.cast(decimals, pa.int64()).to_numpy()
    code = pc.ascii_upper(pc.if_else(parts.is_valid(), pc.struct_field(parts, "code"), ""))
    return np.where(matched, micros, -1), code


def _gtin_checked(padded: pa.Array) -> np.ndarray:
    """GS1 check digits of 14-digit strings (all of them 14 bytes): right and not all zeros."""
    _, data = array_bytes(padded)
    digits = (data.reshape(-1, 14) - ord("0")).astype(np.int64)
    total = 3 * digits[:, 0:13:2].sum(axis=1) + digits[:, 1:13:2].sum(axis=1)
    return np.asarray((digits[:, 13] == (10 - total % 10) % 10) & digits.any(axis=1))


def _match_keys(texts: pa.Array, brands: list[str | None], names: list[str]) -> list[str | None]:
    """domain.catalog.match_key of each product (`texts`: its brand, a space, its name), the
    ASCII ones a column at a time: lower-cased, cut into runs of letters and runs of digits,
    stop words dropped, each token once, sorted."""
    ascii_text = np.asarray(pc.string_is_ascii(texts).to_numpy(zero_copy_only=False))
    keys = _ascii_match_keys(pc.if_else(pa.array(ascii_text), texts, "")).to_pylist()
    for i in np.flatnonzero(~ascii_text).tolist():
        keys[i] = match_key(brands[i], names[i])
    return keys


def _ascii_match_keys(texts: pa.Array) -> pa.Array:
    n = len(texts)
    offsets, data = array_bytes(texts)
    if not len(data):
        return pa.nulls(n, pa.string())
    kind = _CLASS[data]
    bounds = np.zeros(len(data) + 1, dtype=bool)
    bounds[offsets] = True  # where a value starts (or the last one ends)
    changes = np.ones(len(data) + 1, dtype=bool)
    np.not_equal(kind[1:], kind[:-1], out=changes[1:-1])
    changes |= bounds
    letters_or_digits = kind != 0
    starts = np.flatnonzero(letters_or_digits & changes[:-1])
    ends = np.flatnonzero(letters_or_digits & changes[1:]) + 1
    # The tokens' bytes back to back, lower-cased, as one string array.
    token_offsets = np.zeros(len(starts) + 1, dtype=np.int32)
    np.cumsum(ends - starts, out=token_offsets[1:])
    token_bytes = _LOWER[data[letters_or_digits]]
    tokens = pa.StringArray.from_buffers(len(starts), pa.py_buffer(token_offsets), pa.py_buffer(token_bytes))
    owner = np.searchsorted(offsets, starts, side="right") - 1
    # Each product's tokens once, sorted, stop words out: one numeric sort of (product, the
    # token's rank among the distinct tokens).
    encoded = pc.dictionary_encode(tokens)
    words = encoded.dictionary
    indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.asarray(pc.sort_indices(words).to_numpy())
    rank = np.empty(len(words), dtype=np.int64)
    rank[order] = np.arange(len(words))
    wanted = ~_member(words, STOP_WORDS)[indices]
    size = max(len(words), 1)
    keys = owner[wanted].astype(np.int64) * size + rank[indices[wanted]]
    keys.sort(kind="stable")  # already in product order: runs merge fast
    distinct = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
    product, position = np.divmod(keys[distinct], size)
    sorted_words = words.take(pa.array(order)).take(pa.array(position))
    list_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(product, minlength=n), out=list_offsets[1:])
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(list_offsets), sorted_words), " ")
    keys_text = pc.utf8_rtrim(pc.utf8_slice_codeunits(joined, 0, MAX_MATCH_KEY), " ")
    return pc.if_else(pc.greater(pc.binary_length(keys_text), 0), keys_text, None)
