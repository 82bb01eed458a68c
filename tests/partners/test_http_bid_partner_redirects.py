"""The HTTP bid partner follows no redirect: a network answering 3xx (to an internal address, say)
is no answer, and the place it points to is never called."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from auctera.domain.bids import BidChange, PartnerBidKey
from auctera.partners.http import HttpBidPartner
from auctera.services.ports import PartnerUnavailable


class Server:
    """A real HTTP server: `/bids/*` redirect to `/elsewhere`, which counts its calls."""

    def __init__(self) -> None:
        self.elsewhere = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path == "/elsewhere":
                    outer.elsewhere += 1
                    self.send_response(200)
                    self.end_headers()
                    return
                self.send_response(307)
                self.send_header("Location", "/elsewhere")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def test_a_redirect_is_not_followed(server: Server) -> None:
    key = PartnerBidKey("c1", None, "DE", None)
    with HttpBidPartner(server.url, token="t", timeout=2.0) as partner:
        with pytest.raises(PartnerUnavailable, match=r"307.*redirects are not followed"):
            partner.apply("b-1", [BidChange(key, 10_000)])
        with pytest.raises(PartnerUnavailable, match="redirects are not followed"):
            partner.read([key])
    assert server.elsewhere == 0
