"""`BidPartner` over the JSON bid protocol (docs/api-bids.md), with httpx.

One call, one HTTP request: retries, backoff and batching are the bid sync's (it knows the
network's retry policy); this adapter only says what happened. A timeout, a 5xx or a 429 raise
`PartnerUnavailable` (with the 429's Retry-After); a 4xx with `{"error"}` rejects the batch whole;
a 200 gives a result per item, in the order sent.

Redirects are not followed (a 3xx is no answer): the target was checked before the call
(services/bids.PartnerTargets), and a redirect could lead anywhere, an internal address included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from auctera.domain.bids import BatchResult, BidChange, ItemResult, PartnerBidKey
from auctera.partners.http.wire import key_json, key_of, value_of
from auctera.services.ports import PartnerUnavailable


class HttpBidPartner:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpBidPartner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            response = self._client.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise PartnerUnavailable(f"{path}: no answer in time ({exc.__class__.__name__})") from None
        except httpx.TransportError as exc:
            raise PartnerUnavailable(f"{path}: {exc.__class__.__name__}: {exc}") from None
        if response.is_redirect:
            raise PartnerUnavailable(
                f"{path}: the network answered {response.status_code} (a redirect to "
                f"{response.headers.get('location', '')[:200]!r}); redirects are not followed"
            )
        if response.status_code == 429:
            raise PartnerUnavailable(f"{path}: rate limited (429)", retry_after=_retry_after(response))
        if response.status_code >= 500:
            raise PartnerUnavailable(f"{path}: the network answered {response.status_code}")
        return response

    def _batch(self, path: str, batch_id: str, bids: list[dict[str, Any]]) -> BatchResult:
        response = self._post(path, {"batchId": batch_id, "bids": bids})
        if response.status_code != 200:
            return BatchResult(batch_id, error=_error_of(response))
        results = response.json().get("results")
        if not isinstance(results, list) or len(results) != len(bids):
            return BatchResult(batch_id, error="the network answered without a result per bid")
        return BatchResult(
            batch_id,
            items=tuple(
                ItemResult(key_of(r), r.get("ok") is True, None if r.get("ok") is True else r.get("message"))
                for r in results
            ),
        )

    def apply(self, batch_id: str, changes: Sequence[BidChange]) -> BatchResult:
        bids = [{**key_json(c.key), "valueMicros": c.value_micros} for c in changes]
        return self._batch("/bids/apply", batch_id, bids)

    def delete(self, batch_id: str, keys: Sequence[PartnerBidKey]) -> BatchResult:
        return self._batch("/bids/delete", batch_id, [key_json(k) for k in keys])

    def read(self, keys: Sequence[PartnerBidKey]) -> dict[PartnerBidKey, int | None]:
        response = self._post("/bids/read", {"bids": [key_json(k) for k in keys]})
        if response.status_code != 200:
            raise PartnerUnavailable(f"/bids/read: {_error_of(response)}")
        found = response.json().get("bids")
        if not isinstance(found, list):
            raise PartnerUnavailable("/bids/read: the network answered without bids")
        return {key_of(item): value_of(item) for item in found}


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _error_of(response: httpx.Response) -> str:
    try:
        message = response.json().get("error")
    except ValueError:
        message = None
    return f"{response.status_code}: {message or response.text[:200]}"
