"""SmartLinks: a publisher's product link whose destination is auctioned (seed 002).

The product is named once, at creation, by our product id, a product page URL of a merchant we
know, or a GTIN/EAN; it is resolved there into the GTIN and the match key (normalised brand and
name) that every later auction matches merchants' products by. A product nobody lists is
refused (422 naming the field), so a link never points at nothing.

What can be named: a merchant's product (a retailer of an advertiser account: its pages win
SmartLinks, D19, and the Auction API shows them to anyone), or one of the caller's own catalogs.
A publisher's retail site (where sponsored products serve) keeps its catalog to its owner: to
anyone else its products answer exactly as products nobody lists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from auctera.domain import ids as idfmt
from auctera.domain.accounts import AccountKind, Principal
from auctera.domain.catalog import Product, canonical_url, gtin14
from auctera.domain.compliance import redirect_problem
from auctera.errors import Forbidden, NotFound, ValidationFailed
from auctera.services.campaigns import decode_cursor, encode_cursor
from auctera.services.clock import Clock, Ids
from auctera.services.ports import ListedProduct, SmartLink, UnitOfWork, UnitOfWorkFactory

MAX_PAGE = 100
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class SmartLinkCreate:
    """Exactly one of product_id, product_url, gtin names the product. `gtin_field` is the name
    the caller used for it (`gtin` or `ean`), for error messages."""

    product_id: int | None = None
    product_url: str | None = None
    gtin: str | None = None
    gtin_field: str = "gtin"
    name: str | None = None
    fallback_url: str | None = None


@dataclass(frozen=True, slots=True)
class SmartLinkPage:
    links: list[SmartLink]
    next_cursor: str | None


def _require_publisher(principal: Principal) -> None:
    """Creating and listing SmartLinks is for publishers (and the network): an advertiser is
    refused for its kind, not shown an empty list. One SmartLink by id stays a 404 for anyone
    but its publisher, as every other tenant's object."""
    if principal.kind not in (AccountKind.PUBLISHER, AccountKind.NETWORK):
        raise Forbidden("SmartLinks are for publisher accounts")


class SmartLinkService:
    def __init__(self, uow: UnitOfWorkFactory, ids: Ids, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    def create(self, principal: Principal, body: SmartLinkCreate) -> SmartLink:
        _require_publisher(principal)
        named = [
            f
            for f, v in (
                ("product_id", body.product_id),
                ("product_url", body.product_url),
                (body.gtin_field, body.gtin),
            )
            if v is not None
        ]
        if len(named) != 1:
            raise ValidationFailed(
                "name the product with exactly one of product_id, product_url, ean or gtin",
                field=named[1] if len(named) > 1 else "product_id",
            )
        if body.name is not None and not 1 <= len(body.name) <= MAX_NAME:
            raise ValidationFailed(f"name must have 1-{MAX_NAME} characters", field="name")
        for field, url in (("product_url", body.product_url), ("fallback_url", body.fallback_url)):
            if url is not None:
                _check_url(url, field)
        with self._uow() as uow:
            product, gtin, match_key = self._resolve(uow, principal, body)
            fallback = body.fallback_url or body.product_url or product.url
            link = SmartLink(
                id=self._ids.next_id(),
                account_id=principal.account_id,
                name=body.name,
                product_id=product.id if body.product_id is not None else None,
                product_url=body.product_url,
                gtin=gtin,
                match_key=match_key,
                fallback_url=fallback,
                created_at=self._clock(),
                archived_at=None,
            )
            uow.smartlinks.add(link)
            uow.commit()
        return link

    def get(self, principal: Principal, link_id: int) -> SmartLink:
        with self._uow(read_only=True) as uow:
            return self._visible(uow.smartlinks.get(link_id), principal, link_id)

    def list(
        self, principal: Principal, *, limit: int, cursor: str | None, include_archived: bool
    ) -> SmartLinkPage:
        _require_publisher(principal)
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        before = decode_cursor(cursor) if cursor else None
        with self._uow(read_only=True) as uow:
            links = uow.smartlinks.page(
                account_id=None if principal.is_network else principal.account_id,
                include_archived=include_archived,
                before_id=before,
                limit=limit + 1,
            )
        more = len(links) > limit
        links = links[:limit]
        return SmartLinkPage(links, encode_cursor(links[-1].id) if more else None)

    def archive(self, principal: Principal, link_id: int) -> SmartLink:
        """Archived links stop being auctioned (their URL goes to the fallback). Idempotent."""
        with self._uow() as uow:
            link = self._visible(uow.smartlinks.get(link_id), principal, link_id)
            if link.archived_at is None:
                now = self._clock()
                uow.smartlinks.archive(link_id, now)
                link = replace(link, archived_at=now)
                uow.commit()
        return link

    @staticmethod
    def _visible(link: SmartLink | None, principal: Principal, link_id: int) -> SmartLink:
        if link is None or not (principal.is_network or link.account_id == principal.account_id):
            raise NotFound(f"SmartLink {link_id} not found", field="smartlink_id")
        return link

    @staticmethod
    def _resolve(
        uow: UnitOfWork, principal: Principal, body: SmartLinkCreate
    ) -> tuple[ListedProduct | Product, str | None, str | None]:
        """(a product the caller may name listing it, its GTIN-14, its match key)."""
        if body.product_id is not None:
            product = uow.inventory.product(body.product_id)
            if product is None or not _nameable(uow, principal, {product.retailer_id}):
                raise ValidationFailed(
                    f"product {idfmt.render('prd', body.product_id)} not found", field="product_id"
                )
            return product, product.gtin, product.match_key
        if body.product_url is not None:
            # Catalogs store pages by their canonical URL (host case, trailing dot, IDNA); before
            # they did, as the feed wrote it.
            url = canonical_url(body.product_url)
            listed = uow.inventory.product_by_url(url) or uow.inventory.product_by_url(body.product_url)
            found: ListedProduct | Product | None = listed
            if listed is not None and not _nameable(uow, principal, {listed.retailer_id}):
                # Another account may list the same page (one company as a retail site and as a
                # merchant, two accounts): its listing of the same product serves.
                found = _same_page(uow, principal, listed, url)
            if found is None:
                raise ValidationFailed("no merchant's catalog lists this product page", field="product_url")
            return found, found.gtin, found.match_key
        assert body.gtin is not None
        try:
            gtin = gtin14(body.gtin)
        except ValueError as exc:
            raise ValidationFailed(f"{body.gtin_field} {exc}", field=body.gtin_field) from None
        same = uow.products.matching(gtin=gtin, match_key=None, in_stock_only=False)
        nameable = _nameable(uow, principal, {p.retailer_id for p in same})
        named = [p for p in same if p.retailer_id in nameable]
        if not named:
            raise ValidationFailed(
                f"no merchant's catalog lists {body.gtin_field} {body.gtin}", field=body.gtin_field
            )
        # An in-stock page is the better default fallback.
        chosen = next((p for p in named if p.in_stock), named[0])
        return chosen, gtin, chosen.match_key


def _nameable(uow: UnitOfWork, principal: Principal, retailer_ids: set[int]) -> set[int]:
    """Those of `retailer_ids` whose products the caller may name: merchants' (advertisers'
    catalogs) and its own (the network: all)."""
    return {
        r.id
        for r in uow.retailers.many(sorted(retailer_ids)).values()
        if r.account_kind is AccountKind.ADVERTISER
        or principal.is_network
        or r.account_id == principal.account_id
    }


def _same_page(uow: UnitOfWork, principal: Principal, product: ListedProduct, url: str) -> Product | None:
    """A product the caller may name that is `product` on the same page `url`."""
    same = uow.products.matching(
        gtin=product.gtin, match_key=None if product.gtin else product.match_key, in_stock_only=False
    )
    nameable = _nameable(uow, principal, {p.retailer_id for p in same})
    return next((p for p in same if p.retailer_id in nameable and canonical_url(p.url) == url), None)


def _check_url(url: str, field: str) -> None:
    """Both URLs may become the link's fallback, the Location of its redirect: held to the rule
    of every URL we redirect to (urlsplit alone drops a CR/LF that then breaks the response)."""
    problem = redirect_problem(url)
    if problem is not None:
        raise ValidationFailed(f"{field} {problem}", field=field)
