"""Every method a path answers, for the `Allow` header of a 405.

Starlette's 405 names only the methods of the first route whose path matched, so
`PUT /v2/campaigns/{id}` was told `Allow: GET` though PATCH and DELETE are served there too
(RFC 9110 15.5.6: Allow lists the methods the resource supports).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.routing import BaseRoute, Route

_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class AllowedMethods:
    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._table: list[tuple[re.Pattern[str], frozenset[str]]] = [
            (route.path_regex, frozenset(route.methods or ())) for route in routes if isinstance(route, Route)
        ]

    def header(self, path: str) -> str:
        """`Allow` for `path`: the methods of every route matching it."""
        methods: set[str] = set()
        for pattern, allowed in self._table:
            if pattern.match(path):
                methods |= allowed
        return ", ".join(sorted(methods, key=lambda m: _ORDER.index(m) if m in _ORDER else len(_ORDER)))
