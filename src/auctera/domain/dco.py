"""Dynamic creative optimisation: a template's variables, its permutations, and which one to serve.

A variable takes its values from a list (each value is tried) or from a product-feed field
(filled from the product being advertised at serve time). The variants are the permutations of
the list variables; Thompson sampling picks one per serve from its clicks and conversions.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

DCO_PREFIX = "dco"
MAX_VARIABLES = 10
MAX_VALUES = 50
MAX_VARIANTS = 1000
MAX_VALUE_LENGTH = 500
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_SLUG = re.compile(r"[^a-z0-9]+")

# Product-feed fields a variable may take its value from, and the names that mean one of them.
FEED_FIELDS = frozenset({"name", "description", "price", "image_url", "url", "brand", "category"})
FEED_ALIASES = {
    "headline": "name",
    "title": "name",
    "product_name": "name",
    "product_image": "image_url",
    "image": "image_url",
    "landing_url": "url",
    "product_url": "url",
}


class TemplateError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    values: tuple[str, ...] = ()  # a list variable's values (each one is tried)
    feed_field: str | None = None  # else: filled from this field of the advertised product

    def as_dict(self) -> dict[str, object]:
        if self.feed_field is not None:
            return {"name": self.name, "feed_field": self.feed_field}
        return {"name": self.name, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    account_id: int
    name: str
    variables: tuple[Variable, ...]
    created_at: datetime
    campaign_id: int | None = None  # its tracking links name this campaign

    def variants(self) -> list[Variant]:
        return permutations(self.variables)


@dataclass(frozen=True, slots=True)
class Variant:
    key: str  # readable and stable: the slugs of its values joined by "+" ("blue_cta+save_20")
    values: Mapping[str, str]  # list variable -> its value in this variant


def variable(name: str, spec: object) -> Variable:
    """A variable from the request: `spec` None (a feed field of that name or alias), a list of
    values, or {"values": [...]} / {"feed_field": "..."}."""
    where = f"variables.{name}"
    if not _NAME.fullmatch(name):
        raise TemplateError("variables", f"{name!r} is not a variable name (lower-case letters, digits, _)")
    if isinstance(spec, Mapping):
        if "feed_field" in spec and "values" not in spec:
            spec = str(spec["feed_field"])
            if spec not in FEED_FIELDS:
                raise TemplateError(
                    where, f"unknown feed field {spec!r}; one of {', '.join(sorted(FEED_FIELDS))}"
                )
            return Variable(name, feed_field=spec)
        spec = spec.get("values")
    if spec is None:
        field = FEED_ALIASES.get(name, name)
        if field not in FEED_FIELDS:
            raise TemplateError(where, "give its values (a list) or the product-feed field it comes from")
        return Variable(name, feed_field=field)
    # Strings only: a null or an object would be served as its Python text ("None", "{'a': 1}").
    if (
        not isinstance(spec, Sequence)
        or isinstance(spec, str | bytes)
        or not all(isinstance(v, str) for v in spec)
    ):
        raise TemplateError(where, "values must be a list of strings")
    values = tuple(dict.fromkeys(v.strip() for v in spec if v.strip()))
    if not values:
        raise TemplateError(where, "needs at least one value")
    if len(values) > MAX_VALUES:
        raise TemplateError(where, f"at most {MAX_VALUES} values")
    if any(len(v) > MAX_VALUE_LENGTH for v in values):
        raise TemplateError(where, f"values are at most {MAX_VALUE_LENGTH} characters")
    return Variable(name, values=values)


def check_variables(variables: Sequence[Variable]) -> None:
    if not variables:
        raise TemplateError("variables", "a template needs at least one variable")
    if len(variables) > MAX_VARIABLES:
        raise TemplateError("variables", f"at most {MAX_VARIABLES} variables")
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        raise TemplateError("variables", "variable names must be unique")
    count = 1
    for v in variables:
        count *= max(len(v.values), 1)
    if count > MAX_VARIANTS:
        raise TemplateError("variables", f"{count} permutations; at most {MAX_VARIANTS}")


def permutations(variables: Sequence[Variable]) -> list[Variant]:
    listed = [v for v in variables if v.feed_field is None]
    if not listed:
        return [Variant("default", {})]
    slugs = [_slugs(v.values) for v in listed]
    variants = []
    for combo in itertools.product(*(range(len(v.values)) for v in listed)):
        key = "+".join(slugs[i][j] for i, j in enumerate(combo))
        variants.append(Variant(key, {v.name: v.values[j] for v, j in zip(listed, combo, strict=True)}))
    return variants


def _slugs(values: Sequence[str]) -> list[str]:
    """Readable, unique within the variable: "Buy now!" -> "buy_now"; a repeat gets its position."""
    seen: set[str] = set()
    out = []
    for i, value in enumerate(values):
        slug = _SLUG.sub("_", value.lower()).strip("_")[:24] or f"v{i}"
        if slug in seen:
            slug = f"{slug}_{i}"
        seen.add(slug)
        out.append(slug)
    return out


# --- the bandit --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantStats:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0


def choose(keys: Sequence[str], stats: Mapping[str, VariantStats], rng: random.Random) -> str:
    """Thompson sampling: each variant's rate drawn from its Beta posterior (uniform prior), the
    highest draw served. The rate is clicks per impression until the template has converted at
    all, then conversions per impression, P(click) x P(conversion | click): without conversion
    tracking every variant's conversion factor would only shrink with its clicks."""
    converting = any(s.conversions for s in stats.values())
    best, best_score = keys[0], -1.0
    for key in keys:
        s = stats.get(key, VariantStats())
        clicks = min(s.clicks, s.impressions) if s.impressions else s.clicks
        score = rng.betavariate(1 + clicks, 1 + max(s.impressions - clicks, 0))
        if converting:
            score *= rng.betavariate(1 + s.conversions, 1 + max(clicks - s.conversions, 0))
        if score > best_score:
            best, best_score = key, score
    return best


def fill(template: Template, variant: Variant, product: Mapping[str, str] | None) -> dict[str, str | None]:
    """Every variable's value for one serve: the variant's for list variables, the product's
    field for feed variables (None without a product)."""
    out: dict[str, str | None] = {}
    for v in template.variables:
        if v.feed_field is None:
            out[v.name] = variant.values[v.name]
        else:
            out[v.name] = product.get(v.feed_field) if product else None
    return out
