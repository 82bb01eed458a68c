"""Retailers and their product catalogs: create and read retailers, import feeds, read products.

Who sees what (as campaigns): an advertiser its own retailers; the network operator every
retailer; a publisher none. A retailer the caller cannot see is "not found", never "forbidden".
`by=None` is the operator at the command line.

A feed import commits a batch of rows at a time (one transaction each), so memory stays flat and
the `feed_imports` row shows progress while it runs. Valid rows land even when others are
invalid; a re-import updates products in place (their ids stay) and takes the retailer's
products it no longer lists out of stock, unless the feed could not be read to its end or had
no valid product at all (a truncated or broken feed must not empty a catalog).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO

import pycountry

from auctera.domain.accounts import Account, AccountKind, Principal, render_account_id
from auctera.domain.catalog import (
    IMPORT_LEASE,
    IMPORT_RENEW_EVERY,
    MAX_ERRORS_KEPT,
    FeedBatch,
    FeedError,
    FeedFormat,
    FeedImport,
    ImportStatus,
    Product,
    ProductColumns,
    ProductFields,
    Retailer,
    RowError,
    RowRules,
    canonical_url,
    gtin14,
    validate_row,
)
from auctera.domain.compliance import normalize_domain
from auctera.domain.ids import render
from auctera.errors import Conflict, NotFound, ValidationFailed
from auctera.services.campaigns import decode_cursor, encode_cursor
from auctera.services.clock import Clock, Ids
from auctera.services.heartbeat import Heartbeat
from auctera.services.ports import FeedReader, UnitOfWork, UnitOfWorkFactory

CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)
MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_NAME = 255

Progress = Callable[[FeedImport], None]


@dataclass(frozen=True, slots=True)
class RetailerPage:
    retailers: list[Retailer]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ProductQuery:
    in_stock: bool | None = None
    gtin: str | None = None  # any GTIN form; compared as GTIN-14
    limit: int = DEFAULT_PAGE
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ProductPage:
    products: list[Product]
    next_cursor: str | None


class CatalogService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: Ids,
        clock: Clock,
        read_feed: FeedReader,
        *,
        currencies: frozenset[str] = CURRENCIES,
        after_import: Callable[[int], object] | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._read_feed = read_feed
        self._currencies = currencies
        # Called with the retailer id once an import succeeded (the /v3 feed files' renders).
        self._after_import = after_import

    # --- retailers -------------------------------------------------------------------------

    def create_retailer(
        self, by: Principal | None, name: str, domain: str, *, account_id: int | None = None
    ) -> Retailer:
        """A retailer of `by`'s account; the operator (network key, or the CLI) names the account."""
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise ValidationFailed(f"name must be 1-{MAX_NAME} characters", field="name")
        try:
            host = normalize_domain(domain)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="domain") from None
        if "." not in host:
            raise ValidationFailed("domain must be a host name such as shop.example.com", field="domain")
        now = self._clock()
        with self._uow() as uow:
            owner = self._owner(uow, by, account_id)
            retailer = Retailer(self._ids.next_id(), owner.id, owner.kind, name, host, now, now)
            if not uow.retailers.add(retailer):
                raise Conflict(f"this account has a retailer on {host} already", field="domain")
            uow.commit()
        return retailer

    def get_retailer(self, by: Principal | None, retailer_id: int) -> Retailer:
        with self._uow(read_only=True) as uow:
            return self._visible(uow, by, retailer_id)

    def list_retailers(
        self, by: Principal, *, limit: int = DEFAULT_PAGE, cursor: str | None = None
    ) -> RetailerPage:
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        before = decode_cursor(cursor) if cursor else None
        with self._uow(read_only=True) as uow:
            rows = uow.retailers.page(
                account_id=None if by.is_network else by.account_id, before_id=before, limit=limit + 1
            )
        page = rows[:limit]
        return RetailerPage(page, encode_cursor(page[-1].id) if len(rows) > limit else None)

    # --- products --------------------------------------------------------------------------

    def list_products(self, by: Principal | None, retailer_id: int, query: ProductQuery) -> ProductPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be 1-{MAX_PAGE}", field="limit")
        gtin = None
        if query.gtin is not None:
            try:
                gtin = gtin14(query.gtin)
            except ValueError as exc:
                raise ValidationFailed(f"gtin {exc}", field="gtin") from None
        before = decode_cursor(query.cursor) if query.cursor else None
        with self._uow(read_only=True) as uow:
            self._visible(uow, by, retailer_id)
            rows = uow.products.page(
                retailer_id=retailer_id,
                in_stock=query.in_stock,
                gtin=gtin,
                before_id=before,
                limit=query.limit + 1,
            )
        page = rows[: query.limit]
        return ProductPage(page, encode_cursor(page[-1].id) if len(rows) > query.limit else None)

    def get_product(self, by: Principal | None, retailer_id: int, product_id: int) -> Product:
        with self._uow(read_only=True) as uow:
            self._visible(uow, by, retailer_id)
            product = uow.products.get(product_id, retailer_id=retailer_id)
        if product is None:
            raise NotFound(f"product {render('prd', product_id)} not found", field="product_id")
        return product

    # --- feed imports ----------------------------------------------------------------------

    def get_import(self, by: Principal | None, retailer_id: int, import_id: int) -> FeedImport:
        with self._uow(read_only=True) as uow:
            self._visible(uow, by, retailer_id)
            record = uow.feed_imports.get(import_id, retailer_id=retailer_id)
        if record is None:
            raise NotFound(f"feed import {render('imp', import_id)} not found", field="import_id")
        return record.as_of(self._clock())

    def import_feed(
        self,
        by: Principal | None,
        retailer_id: int,
        stream: BinaryIO,
        format: FeedFormat,
        *,
        source: str = "api",
        progress: Progress | None = None,
    ) -> FeedImport:
        """Read a feed into the retailer's catalog, a batch per transaction; returns the report.
        One import per retailer at a time (409 while another runs)."""
        record, rules = self._begin(by, retailer_id, format, source)
        try:
            with Heartbeat(f"feed-import-{record.id}", IMPORT_RENEW_EVERY, lambda: self._renew(record.id)):
                finished = self._run(_Run(record, rules), stream, format, progress)
        except _TakenOver:
            # Ended by the next import, which took this one for dead (its lease ran out).
            with self._uow(read_only=True) as uow:
                stored = uow.feed_imports.get(record.id, retailer_id=record.retailer_id)
            assert stored is not None  # imports are deleted only with their retailer
            return stored
        if finished.status is ImportStatus.SUCCEEDED and self._after_import is not None:
            self._after_import(finished.retailer_id)
        return finished

    def _renew(self, import_id: int) -> bool:
        """Extend a running import's claim on its retailer (the importing thread may wait minutes
        on a slow upload between two batches); False once it has ended (finished, or taken for
        dead: the importing thread finds out at its next write)."""
        with self._uow() as uow:
            held = uow.feed_imports.renew(import_id, self._clock() + IMPORT_LEASE)
            uow.commit()
        return held

    def _begin(
        self, by: Principal | None, retailer_id: int, format: FeedFormat, source: str
    ) -> tuple[FeedImport, RowRules]:
        """The import's row, once no other import of the retailer runs: one whose process died
        (its lease ran out) is failed for good here, saying so."""
        with self._uow() as uow:
            retailer = self._visible(uow, by, retailer_id)
            account = uow.accounts.get(retailer.account_id)
            assert account is not None  # a retailer's account is deleted with it (foreign key)
            now = self._clock()
            for other in uow.feed_imports.running(retailer.id):
                ended = other.as_of(now)
                if ended.status is ImportStatus.RUNNING:
                    raise Conflict(
                        f"feed import {render('imp', other.id)} of this retailer is running (started "
                        f"{other.started_at.isoformat()}): import again once it has ended (GET its "
                        "report); two at once would each take out of stock what the other listed",
                        field="retailer_id",
                        code="import_running",
                    )
                uow.feed_imports.update(ended)
            record = FeedImport(
                id=self._ids.next_id(),
                account_id=retailer.account_id,
                retailer_id=retailer.id,
                source=source[:500],
                format=format,
                status=ImportStatus.RUNNING,
                rows_read=0,
                rows_valid=0,
                rows_invalid=0,
                marked_out_of_stock=0,
                errors=(),
                started_at=now,
                finished_at=None,
                lease_until=now + IMPORT_LEASE,
            )
            uow.feed_imports.add(record)
            uow.commit()
        return record, RowRules(self._currencies, account.currency)

    def _run(self, run: _Run, stream: BinaryIO, format: FeedFormat, progress: Progress | None) -> FeedImport:
        try:
            for batch in self._read_feed(stream, format, run.rules):
                self._store(run, run.validate(batch))
                if progress is not None:
                    progress(run.record)
        except _TakenOver:
            raise
        except FeedError as exc:
            run.fail(RowError(exc.line, exc.field, exc.reason))
        except BaseException as exc:
            run.fail(RowError(0, None, f"the import stopped: {type(exc).__name__}: {exc}"))
            with contextlib.suppress(_TakenOver):
                self._finish(run)
            raise
        return self._finish(run)

    def _store(self, run: _Run, products: ProductColumns) -> None:
        """One batch in one transaction: new products inserted (only they take new ids), those
        stored before updated by id, an id this import stored in an earlier batch reported."""
        record, now = run.record, self._clock()
        with self._uow() as uow:
            stored = uow.products.stored(record.retailer_id, products.external_id)
            ids = products.external_id
            twice = {
                i for i, external_id in enumerate(ids) if stored.get(external_id, (0, 0))[1] == record.id
            }
            if twice:
                for i in sorted(twice, key=products.lines.__getitem__):
                    run.invalid(
                        [RowError(products.lines[i], "id", f"{ids[i]!r} is listed twice in the feed")]
                    )
                products = products.without(twice)
            fresh, listed = _split(products, {i for i, e in enumerate(products.external_id) if e in stored})
            uow.products.insert_columns(
                retailer_id=record.retailer_id,
                account_id=record.account_id,
                import_id=record.id,
                batch=fresh,
                ids=[self._ids.next_id() for _ in range(len(fresh))],
                now=now,
            )
            uow.products.update_columns(
                import_id=record.id,
                batch=listed,
                ids=[stored[external_id][0] for external_id in listed.external_id],
                now=now,
            )
            run.valid(len(products))
            if not uow.feed_imports.update(run.record):
                raise _TakenOver  # rolls this batch back
            uow.retailers.touch(record.retailer_id, now)  # its catalog changed (the auctions watch)
            uow.commit()

    def _finish(self, run: _Run) -> FeedImport:
        record = run.record
        now = self._clock()
        with self._uow() as uow:
            marked = 0
            if not run.failed and record.rows_valid == 0:
                run.fail(RowError(0, None, "no valid product in the feed: nothing was taken out of stock"))
            if not run.failed:
                marked = uow.products.mark_unlisted_out_of_stock(record.retailer_id, record.id, now)
                uow.retailers.touch(record.retailer_id, now)
            run.record = replace(
                run.record,
                status=ImportStatus.FAILED if run.failed else ImportStatus.SUCCEEDED,
                marked_out_of_stock=marked,
                errors=tuple(run.errors if run.failed else sorted(run.errors, key=lambda e: e.line)),
                finished_at=now,
            )
            if not uow.feed_imports.update(run.record):
                raise _TakenOver  # nothing taken out of stock
            uow.commit()
        return run.record

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _visible(uow: UnitOfWork, by: Principal | None, retailer_id: int) -> Retailer:
        scope = None if by is None or by.is_network else by.account_id
        retailer = uow.retailers.get(retailer_id, account_id=scope)
        if retailer is None:
            raise NotFound(f"retailer {render('ret', retailer_id)} not found", field="retailer_id")
        return retailer

    @staticmethod
    def _owner(uow: UnitOfWork, by: Principal | None, account_id: int | None) -> Account:
        """A publisher owns the retail sites sponsored products serve on; an advertiser owns the
        merchants whose products win SmartLinks. The operator names the account."""
        if by is not None and not by.is_network:
            if account_id not in (None, by.account_id):
                raise NotFound("account not found", field="account_id")
            account_id = by.account_id
        elif account_id is None:
            raise ValidationFailed(
                "the operator creates retailers on behalf of an account: account_id is required",
                field="account_id",
            )
        owner = uow.accounts.get(account_id)
        if owner is None:
            raise NotFound("account not found", field="account_id")
        if owner.kind is AccountKind.NETWORK:
            name = render_account_id(owner.kind, owner.id)
            raise ValidationFailed(
                f"account {name} is the network: a retailer belongs to a publisher or an advertiser",
                field="account_id",
            )
        return owner


def _split(products: ProductColumns, positions: set[int]) -> tuple[ProductColumns, ProductColumns]:
    """(the products but those at `positions`, the products at `positions`)."""
    if not positions:
        return products, ProductColumns.of([])
    if len(positions) == len(products):
        return ProductColumns.of([]), products
    return products.without(positions), products.without(set(range(len(products))) - positions)


class _TakenOver(Exception):
    """The import was ended by another one meanwhile (taken for dead): it must write nothing more."""


class _Run:
    """One import's figures and first errors as it goes."""

    def __init__(self, record: FeedImport, rules: RowRules) -> None:
        self.record = record
        self.rules = rules
        self.errors: list[RowError] = []
        self.failed = False

    def invalid(self, problems: Sequence[RowError]) -> None:
        r = self.record
        self.record = replace(r, rows_read=r.rows_read + 1, rows_invalid=r.rows_invalid + 1)
        self.errors.extend(problems[: MAX_ERRORS_KEPT - len(self.errors)])

    def valid(self, count: int) -> None:
        r = self.record
        self.record = replace(
            r, rows_read=r.rows_read + count, rows_valid=r.rows_valid + count, errors=tuple(self.errors)
        )

    def fail(self, error: RowError) -> None:
        """The error that ended the import, after the rows' ones (kept in line order)."""
        self.failed = True
        self.errors = [*sorted(self.errors[: MAX_ERRORS_KEPT - 1], key=lambda e: e.line), error]

    def validate(self, batch: FeedBatch) -> ProductColumns:
        """The valid products of a batch, each external id once (the first row listing it wins);
        the invalid rows counted, their errors kept in line order."""
        invalid: list[list[RowError]] = [[error] for error in batch.errors]
        items: list[tuple[int, ProductFields]] = []
        for line, raw in batch.rows:
            result = validate_row(raw, line, self.rules)
            if isinstance(result, list):
                invalid.append(result)
            else:
                items.append((line, result))
        products = batch.products if batch.products is not None else ProductColumns.of([])
        products.extend(items)
        # Pages are stored by their canonical URL (host lower-case, IDNA, no trailing dot), so a
        # SmartLink naming a page finds it however either side spelled the host.
        products.url = [canonical_url(url) for url in products.url]
        ids, lines = products.external_id, products.lines
        if len(set(ids)) < len(ids):
            first: dict[str, int] = {}
            twice = set()
            for i in sorted(range(len(ids)), key=lines.__getitem__):
                if ids[i] in first:
                    message = f"{ids[i]!r} is listed twice (first on line {first[ids[i]]})"
                    invalid.append([RowError(lines[i], "id", message)])
                    twice.add(i)
                else:
                    first[ids[i]] = lines[i]
            products = products.without(twice)
        for problems in sorted(invalid, key=lambda found: found[0].line):
            self.invalid(problems)
        return products
