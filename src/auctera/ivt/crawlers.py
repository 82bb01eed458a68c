"""Known bots and crawlers by User-Agent, from the maintained `crawler-user-agents` list.

The list (the `crawleruseragents` package, about 1,500 case-sensitive regexes) covers declared
crawlers, link previewers, monitoring probes, HTTP libraries (curl, python-requests, Go-http-client)
and headless browsers. Matching one UA against all of them costs hundreds of microseconds, too much
for a click redirect, so:

  - the patterns are compiled once per process: the ~90 % that are plain strings are tested with
    `in` (measured about 8x faster than one 1,500-way alternation in `re`, which has no trie), the
    rest go into ONE combined regex;
  - results are memoised per UA in a bounded LRU (`functools.lru_cache`, thread-safe): real traffic
    has few distinct UAs (UA reduction made Chrome's nearly constant), so a warm lookup is a dict hit
    of about 0.1 us. UAs longer than `MAX_CACHED_UA` are not cached, so junk cannot bloat the memo.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MAX_CACHED_UA = 512
_ESCAPED_PUNCT = re.compile(r"\\([/.\-_ :;,=@!'\"#%&~<>])")
_METACHARS = re.compile(r"[\\^$.*+?()\[\]{}|]")


def _literal(pattern: str) -> str | None:
    """The plain string a pattern matches, if it is one (escaped punctuation is fine)."""
    unescaped = _ESCAPED_PUNCT.sub(r"\1", pattern)
    return None if _METACHARS.search(unescaped) else unescaped


def list_patterns() -> list[str]:
    """The installed crawler-user-agents patterns."""
    import crawleruseragents

    return [entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA]


class CrawlerList:
    """`CrawlerMatcher`: is this User-Agent a known bot? Build once per process and share it."""

    def __init__(
        self,
        patterns: Iterable[str] | None = None,
        *,
        extra_patterns: Iterable[str] = (),
        cache_size: int = 65_536,
    ) -> None:
        self.patterns = [*(list_patterns() if patterns is None else patterns), *extra_patterns]
        literals: list[str] = []
        regexes: list[str] = []
        for p in self.patterns:
            lit = _literal(p)
            if lit is not None:
                literals.append(lit)
            else:
                regexes.append(p)
        self._literals = tuple(dict.fromkeys(literals))
        self._regex = re.compile("|".join(f"(?:{p})" for p in regexes)) if regexes else None
        self._cached = lru_cache(maxsize=cache_size)(self._match)

    def is_crawler(self, user_agent: str) -> bool:
        if len(user_agent) > MAX_CACHED_UA:
            return self._match(user_agent)
        return self._cached(user_agent)

    def matching_pattern(self, user_agent: str) -> str | None:
        """Which pattern matched (slow: for the fraud log's details and for debugging)."""
        for p in self.patterns:
            if re.search(p, user_agent):
                return p
        return None

    def cache_info(self) -> str:
        return str(self._cached.cache_info())

    def _match(self, user_agent: str) -> bool:
        for lit in self._literals:
            if lit in user_agent:
                return True
        return self._regex is not None and self._regex.search(user_agent) is not None


_default: CrawlerList | None = None


def default_crawlers() -> CrawlerList:
    """The process-wide list (compiling costs ~20 ms, the memo is worth sharing)."""
    global _default
    if _default is None:
        _default = CrawlerList()
    return _default
