"""A CSV line the reader cannot read, in an offline upload: through the real app (SQLite).

Each line is an event of its own, and the upload is matched in batches as it arrives, so a
line that cannot be read (a cell past the csv module's limit, a NUL, invalid UTF-8, a stray
carriage return) is that event's error, listed with its index and line like any invalid event,
and the rest of the upload is recorded: never a 500 after the batches before it were written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.signatures import sign
from auctera.services.conversions import OFFLINE_BATCH
from support.clock import FrozenClock

from .conftest import Api, app_at, error
from .test_tracking import click, click_url, offer


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> Iterator[RootApp]:
    with app_at(tmp_path, clock, "https://trk.example.com", tracking_cache_seconds=0) as application:
        yield application


def upload(acme: Api, body: bytes | Iterator[bytes], raw: bytes | None = None) -> Any:
    """A signed CSV upload (the signature, docs/signing.md, is over the whole body)."""
    clock = acme.client.app.container.clock  # type: ignore[attr-defined]
    signed = raw if raw is not None else body
    assert isinstance(signed, bytes)
    headers = {
        **acme.headers,
        "Content-Type": "text/csv",
        "X-Auctera-Signature": sign(acme.account.signing_secret, signed, int(clock().timestamp())),
    }
    return acme.client.post("/v2/conversions/offline", content=body, headers=headers)


def digest(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def converted(app: RootApp) -> list[Any]:
    return app.container.events.query(
        "SELECT attrs->>'order_id' FROM events WHERE type = 'conversion' ORDER BY 1"
    )


def test_a_line_the_csv_reader_cannot_read_is_its_event_s_error_and_the_rest_is_recorded(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    offer_id = offer(acme)
    for name in ("a", "b", "c", "d", "e"):
        client.cookies.clear()
        click(client, click_url(offer_id, publisher) + f"&em={digest(name + '@example.com')}")
    clock.now += timedelta(hours=1)
    lines = [
        b"event_id,hashed_email,value",
        f"a,{digest('a@example.com')},1".encode(),
        b"huge," + b"x" * 200_000 + b",1",  # one cell past the csv module's 131,072 characters
        f"b,{digest('b@example.com')},2".encode(),
        b"nul,\x00" + digest("z@example.com").encode() + b",1",  # no store can hold a NUL
        f"c,{digest('c@example.com')},3".encode(),
        b"latin1,caf\xe9,1",  # not UTF-8
        f"d,{digest('d@example.com')},4".encode(),
        b"cr,a\rb,1",  # a carriage return inside an unquoted cell
        f"e,{digest('e@example.com')},5\r".encode(),  # CRLF line ends are fine
    ]
    body = b"\n".join(lines) + b"\n"
    response = upload(acme, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["matched_events"], answer["unmatched_events"], answer["invalid_events"]) == (5, 0, 4)
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [
        (1, "events"),
        (3, "events"),
        (5, "events"),
        (7, "events"),
    ]
    messages = [e["message"] for e in answer["errors"]]
    assert messages[0].startswith("line 3 of the CSV: longer than 131,072 bytes")
    assert messages[1].startswith("line 5 of the CSV: holds a NUL")
    assert messages[2].startswith("line 7 of the CSV: not UTF-8")
    assert messages[3].startswith("line 9 of the CSV: cannot be read as CSV")
    assert "x" * 100 not in json.dumps(answer)  # the cell is not echoed
    assert converted(app) == [("a",), ("b",), ("c",), ("d",), ("e",)]


def test_a_huge_cell_after_a_recorded_batch_fails_alone(
    app: RootApp, acme: Api, publisher: Api, client: TestClient, clock: FrozenClock
) -> None:
    """The auditor's case past a batch: the first 10,000 events are recorded when the long line
    arrives (in pieces, with no line break for far longer than the limit); it is refused on its
    own and the events after it are recorded too."""
    click(client, click_url(offer(acme), publisher) + f"&em={digest('a@example.com')}")
    clock.now += timedelta(hours=1)
    head = ["event_id,hashed_email,value"]
    head += [f"s{i},{digest(f'{i}@x.example')},1" for i in range(OFFLINE_BATCH)]
    tail = ["", f"after,{digest('a@example.com')},7", ""]
    body = ("\n".join(head) + "\nhuge,").encode() + b"y" * 1_000_000 + b",1" + "\n".join(tail).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    response = upload(acme, chunks(), raw=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["matched_events"], answer["unmatched_events"], answer["invalid_events"]) == (
        1,
        OFFLINE_BATCH,
        1,
    )
    assert answer["errors"] == [
        {
            "index": OFFLINE_BATCH,
            "field": "events",
            "message": f"line {OFFLINE_BATCH + 2} of the CSV: longer than 131,072 bytes",
        }
    ]
    assert converted(app) == [("after",)]


def test_a_header_the_reader_cannot_read_fails_the_upload_before_anything_is_recorded(
    acme: Api,
) -> None:
    for header in (b"event_id," + b"x" * 200_000, b"event_id,hashed_em\xe9il", b"event_id\x00,value"):
        body = header + b"\n" + f"a,{digest('a@example.com')},1\n".encode()
        assert error(upload(acme, body), 422, "events")["message"].startswith("line 1 of the CSV: ")
