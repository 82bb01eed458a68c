"""Which products a retailer's page may show as sponsored: a search, a category, or a product page.

- search: every keyword is a word of the product's name, brand or category;
- category: the product's category is the page's or below it ("Shoes" holds "Shoes > Running");
- product page: the same product, or one of the same category or brand.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from auctera.domain.ids import from_decimal, parse
from auctera.services.ports import ListedProduct


class PageType(StrEnum):
    SEARCH = "search"
    CATEGORY = "category"
    PRODUCT = "product"


@dataclass(frozen=True, slots=True)
class Page:
    """The retailer page asking for sponsored products."""

    type: PageType
    keywords: str | None = None
    category: str | None = None
    product_id: str | None = None  # the retailer's own product id (as in its feed), or ours

    def as_json(self) -> dict[str, Any]:
        fields = (("keywords", self.keywords), ("category", self.category), ("product_id", self.product_id))
        return {"type": self.type.value, **{k: v for k, v in fields if v}}


def page_filter(page: Page, shelf: Iterable[ListedProduct]) -> Callable[[ListedProduct], bool]:
    """The test a product passes to be shown on `page`; `shelf` is the retailer's products a
    product page may name (looked up once here, not per product)."""
    if page.type is PageType.SEARCH:
        wanted = _words(page.keywords)
        return lambda p: bool(wanted) and wanted <= _words(f"{p.name} {p.brand or ''} {p.category or ''}")
    if page.type is PageType.CATEGORY:
        path = _category_path(page.category)
        return lambda p: bool(path) and _category_path(p.category)[: len(path)] == path
    shown = _page_product(page.product_id, shelf)
    if shown is None:
        return lambda p: False
    category = _category_path(shown.category) if shown.category is not None else None
    brand = shown.brand.casefold() if shown.brand is not None else None
    return lambda p: (
        p.id == shown.id
        or (category is not None and _category_path(p.category) == category)
        or (brand is not None and (p.brand or "").casefold() == brand)
    )


_WORD = re.compile(r"[^\W_]+")


def _words(text: str | None) -> set[str]:
    """Case-folded words without accents, a plural "s" dropped: "Running Shoes" ~ "running shoe"."""
    if not text:
        return set()
    plain = "".join(
        ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch)
    )
    return {t[:-1] if len(t) > 3 and t.endswith("s") else t for t in _WORD.findall(plain)}


def _category_path(text: str | None) -> list[str]:
    return [part.strip().casefold() for part in (text or "").split(">") if part.strip()]


def _page_product(product_id: str | None, shelf: Iterable[ListedProduct]) -> ListedProduct | None:
    """The product a product page shows, by the retailer's id for it, else ours."""
    if not product_id:
        return None
    products = list(shelf)
    found = next((p for p in products if p.external_id == product_id), None)
    if found is None:  # ours: `prd_…` as /v2 shows it, or its number
        number = from_decimal(product_id) if product_id.isdigit() else parse("prd", product_id)
        found = next((p for p in products if p.id == number), None)
    return found
