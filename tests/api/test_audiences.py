"""/v2/audiences on the real app: the seed's examples as golden contracts, syncs (add, remove,
replace, malformed, idempotent), the identity graph's match rate, pixel-event and lookalike
audiences from the event log, overlap, GDPR deletion, and audience targeting in the auction."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import String, Text, inspect, select
from starlette.testclient import TestClient

from auctera.app import RootApp
from auctera.domain.audiences import member_key
from auctera.domain.events import Event, EventType
from auctera.domain.identifiers import sha256_hex
from auctera.store.tables import metadata
from support.clock import FrozenClock

from .conftest import Api, app_at
from .test_sponsored_products import Market, decide, market, market_app, names, shop_world  # noqa: F401

TRACKING = "https://trk.example.com"


@pytest.fixture
def world(tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[RootApp, TestClient]]:
    # The worker is driven by hand (`drain`), so each test sees every step.
    with (
        app_at(tmp_path, clock, TRACKING, audience_worker=False) as application,
        TestClient(application) as client,
    ):
        yield application, client


@pytest.fixture
def adv(world: tuple[RootApp, TestClient]) -> Api:
    return Api(*world)


def drain(app: RootApp) -> None:
    service = app.container.audiences
    while service.work_once() is not None:
        pass
    service.build_lookalikes()


def create(api: Api, name: str = "Cart Abandoners (7d)", **body: Any) -> str:
    response = api.call("POST", "/v2/audiences", {"name": name, **body})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def sync(api: Api, audience_id: str, action: str, identifiers: list[dict[str, str]], **extra: Any) -> Any:
    body = {"audience_id": audience_id, "action": action, "identifiers": identifiers, **extra}
    response = api.call("POST", "/v2/audiences/sync", body)
    assert response.status_code == 202, response.text
    return response.json()


def emails(*names: str) -> list[dict[str, str]]:
    return [{"type": "email", "value": f"{n}@example.com"} for n in names]


def audience(api: Api, audience_id: str) -> Any:
    response = api.call("GET", f"/v2/audiences/{audience_id}")
    assert response.status_code == 200, response.text
    return response.json()


def visit(app: RootApp, uid: str, at: datetime, kind: EventType = EventType.CLICK, **attrs: Any) -> None:
    app.container.events.append(
        Event(
            id=app.container.ids.next_id(),
            type=kind,
            at=at,
            account_id=attrs.pop("account_id"),
            campaign_id=attrs.pop("campaign_id", None),
            publisher_id=attrs.pop("publisher_id", None),
            country=attrs.pop("country", "US"),
            device_type=attrs.pop("device_type", "mobile"),
            attrs={"uid": uid, **attrs},
        )
    )


# --- golden: the seed's examples ---------------------------------------------------------------


def test_golden_list_audiences(adv: Api) -> None:
    audience_id = create(adv)
    response = adv.call("GET", "/v2/audiences")
    assert response.status_code == 200
    first = response.json()["data"][0]
    assert first["id"] == audience_id and first["id"].startswith("aud_")
    assert first["name"] == "Cart Abandoners (7d)"
    assert first["size_estimate"] == 0
    assert first["source"] == "CRM Sync"
    assert "match_rate" in first


def test_golden_sync_answers_a_job_to_poll(world: tuple[RootApp, TestClient], adv: Api) -> None:
    audience_id = create(adv)
    answer = sync(adv, audience_id, "add", [{"type": "email_sha256", "value": sha256_hex("a@b.com")}])
    assert answer["success"] is True
    assert set(answer) >= {"records_processed", "estimated_match_rate", "job_id", "status", "progress"}
    assert answer["status"] == "queued" and answer["records_received"] == 1
    drain(world[0])
    done = adv.call("GET", f"/v2/audiences/sync/{answer['job_id']}").json()
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["records_processed"] == 1 and done["estimated_match_rate"] == 0.0


def test_golden_seed_example_value_is_counted_malformed_not_fatal(
    world: tuple[RootApp, TestClient], adv: Api
) -> None:
    audience_id = create(adv)
    answer = sync(adv, audience_id, "add", [{"type": "email_sha256", "value": "a1b2..."}])
    assert answer["success"] is True and answer["records_malformed"] == 1
    assert answer["malformed_samples"][0]["index"] == 0
    assert "a1b2" not in str(answer["malformed_samples"])


def test_golden_lookalike_delete_and_overlap_shapes(world: tuple[RootApp, TestClient], adv: Api) -> None:
    a, b = create(adv, "Past Purchasers"), create(adv, "Newsletter")
    sync(adv, a, "add", emails("ann", "bob", "cid"))
    sync(adv, b, "add", emails("cid", "dan"))
    drain(world[0])
    overlap = adv.call("GET", "/v2/audiences/overlap", ids=f"{a},{b}").json()
    assert overlap["overlap_percentage"] == 25.0 and overlap["estimated_unique_users"] == 4
    assert overlap["exact"] is True
    assert overlap["error_bound"]["overlap_percentage"] == {"low": 25.0, "high": 25.0}
    lookalike = adv.call(
        "POST",
        "/v2/audiences/lookalike",
        {"seed_audience_id": a, "similarity_percentage": 1.5, "geo": ["US"]},
    )
    assert lookalike.status_code == 202
    body = lookalike.json()
    assert body["success"] is True and body["status"] == "building"
    assert body["lookalike_audience_id"].startswith("aud_")
    deleted = adv.call("DELETE", f"/v2/audiences/{a}")
    assert deleted.status_code == 200
    assert deleted.json()["success"] is True and deleted.json()["status"] == "deleted"


# --- sync --------------------------------------------------------------------------------------


def test_add_remove_replace(world: tuple[RootApp, TestClient], adv: Api) -> None:
    app = world[0]
    audience_id = create(adv)
    sync(
        adv,
        audience_id,
        "add",
        [*emails("ann", "bob", "cid"), {"type": "email", "value": " ANN@example.com "}],
    )
    drain(app)
    assert audience(adv, audience_id)["size_estimate"] == 3
    sync(adv, audience_id, "remove", emails("bob"))
    drain(app)
    assert audience(adv, audience_id)["size_estimate"] == 2
    sync(adv, audience_id, "replace", emails("dan", "eve", "fay", "gus"))
    drain(app)
    assert audience(adv, audience_id)["size_estimate"] == 4
    overlap = adv.call("GET", "/v2/audiences/overlap", ids=f"{audience_id},{create(adv, 'x')}")
    assert overlap.status_code == 200
    fresh = create(adv, "Again")
    sync(adv, fresh, "add", emails("ann", "dan"))
    drain(app)
    shared = adv.call("GET", "/v2/audiences/overlap", ids=f"{audience_id},{fresh}").json()
    assert shared["estimated_common_users"] == 1  # ann was replaced away; dan stayed


def test_malformed_are_counted_and_the_rest_applied(world: tuple[RootApp, TestClient], adv: Api) -> None:
    audience_id = create(adv)
    answer = sync(
        adv,
        audience_id,
        "add",
        [
            {"type": "email", "value": "ok@example.com"},
            {"type": "email", "value": "not an email"},
            {"type": "phone", "value": "+1 (650) 555-1212"},
            {"type": "phone", "value": "12"},
            {"type": "fax", "value": "x"},
            {"type": "maid", "value": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
        ],
    )
    assert answer["records_received"] == 6 and answer["records_malformed"] == 3
    assert [s["index"] for s in answer["malformed_samples"]] == [1, 3, 4]
    drain(world[0])
    assert audience(adv, audience_id)["members"] == 3


def test_odd_items_count_once_and_do_not_taint_the_next(world: tuple[RootApp, TestClient], adv: Api) -> None:
    audience_id = create(adv)
    items: list[Any] = [
        ["email", "a@example.com"],  # a list, not an object
        {"type": "email", "value": "c@example.com"},
        [[{"type": "email"}], "x"],  # nested deeper
        {"type": "email", "value": "d@example.com"},
        "e@example.com",  # a bare string
        {"type": "email", "value": "f@example.com"},
    ]
    answer = sync(adv, audience_id, "add", items)
    assert answer["records_received"] == 6 and answer["records_malformed"] == 3
    assert [s["index"] for s in answer["malformed_samples"]] == [0, 2, 4]
    drain(world[0])
    assert audience(adv, audience_id)["members"] == 3


def test_a_job_key_makes_the_call_idempotent(world: tuple[RootApp, TestClient], adv: Api) -> None:
    audience_id = create(adv)
    first = sync(adv, audience_id, "add", emails("ann"), job_key="crm-2026-11-23")
    again = sync(adv, audience_id, "add", emails("ann", "bob"), job_key="crm-2026-11-23")
    assert again["job_id"] == first["job_id"] and again["records_received"] == 1
    header = adv.client.post(
        "/v2/audiences/sync",
        json={"audience_id": audience_id, "action": "add", "identifiers": []},
        headers={**adv.headers, "Idempotency-Key": "crm-2026-11-23"},
    )
    assert header.json()["job_id"] == first["job_id"]


def test_sync_errors_name_the_field(adv: Api) -> None:
    audience_id = create(adv)
    bad_action = adv.call(
        "POST", "/v2/audiences/sync", {"audience_id": audience_id, "action": "merge", "identifiers": []}
    )
    assert bad_action.status_code == 422 and "action" in bad_action.text
    unknown = adv.call(
        "POST", "/v2/audiences/sync", {"audience_id": audience_id, "action": "add", "extra": "1"}
    )
    assert unknown.status_code == 422 and "extra" in unknown.text
    missing = adv.call("POST", "/v2/audiences/sync", {"action": "add", "identifiers": []})
    assert missing.status_code == 422 and "audience_id" in missing.text
    broken = adv.client.post("/v2/audiences/sync", content=b'{"audience_id": ', headers=adv.headers)
    assert broken.status_code == 422


@pytest.mark.parametrize("identifiers", ["oops", 12, {"type": "email", "value": "a@b.com"}, None, "missing"])
def test_a_replace_without_a_list_of_identifiers_is_refused_and_wipes_nothing(
    world: tuple[RootApp, TestClient], adv: Api, identifiers: Any
) -> None:
    audience_id = create(adv)
    sync(adv, audience_id, "add", emails("ann", "bob"))
    drain(world[0])
    body: dict[str, Any] = {"audience_id": audience_id, "action": "replace", "identifiers": identifiers}
    if identifiers == "missing":
        del body["identifiers"]
    refused = adv.call("POST", "/v2/audiences/sync", body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "identifiers"
    drain(world[0])
    assert audience(adv, audience_id)["members"] == 2
    assert not _staged_files(world[0])


def test_an_idempotency_key_reused_for_another_audience_is_a_conflict(adv: Api) -> None:
    first, other = create(adv), create(adv, name="Other")
    headers = {**adv.headers, "Idempotency-Key": "crm-2026-11-23"}
    made = adv.client.post(
        "/v2/audiences/sync",
        json={"audience_id": first, "action": "add", "identifiers": emails("ann")},
        headers=headers,
    )
    assert made.status_code == 202
    for audience_id, action in ((other, "add"), (first, "replace")):
        reused = adv.client.post(
            "/v2/audiences/sync",
            json={"audience_id": audience_id, "action": action, "identifiers": emails("bob")},
            headers=headers,
        )
        assert reused.status_code == 409, reused.text
        assert reused.json()["error"]["field"] == "Idempotency-Key"
    retried = adv.client.post(
        "/v2/audiences/sync",
        json={"audience_id": first, "action": "add", "identifiers": emails("ann")},
        headers=headers,
    )
    assert retried.status_code == 202 and retried.json()["job_id"] == made.json()["job_id"]


def test_an_unknown_default_region_is_refused(world: tuple[RootApp, TestClient], adv: Api) -> None:
    audience_id = create(adv)
    body = orjson.dumps(
        {
            "audience_id": audience_id,
            "action": "add",
            "identifiers": [{"type": "phone", "value": "020 7946 0018"}],
        }
    )
    refused = _post(adv, body, default_region="XX")
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "default_region"
    assert not _staged_files(world[0])
    assert _post(adv, body, default_region="gb").status_code == 202


def _post(api: Api, content: bytes, **params: str) -> Any:
    return api.client.post(
        "/v2/audiences/sync",
        content=content,
        params=params,
        headers={**api.headers, "Content-Type": "application/json"},
    )


def _member_keys(app: RootApp, audience_id: str) -> set[str]:
    with app.container.uow(read_only=True) as uow:
        return set(uow.audiences.users(_aud(audience_id)))


def _aud(text: str) -> int:
    from auctera.domain import ids as idfmt

    value = idfmt.parse("aud", text)
    assert value is not None
    return value


RAW_EMAILS = [
    " Ann@Example.com ",
    "bob@example.com",
    "Jane.Doe+news@Gmail.com",  # Gmail's own rule
    "not an email",
    "zoë@example.com",  # not ASCII
    "a..b@example.com",  # dots the bulk checks leave to the full path
    "\tcid@example.com",  # a tab: whitespace the full path strips
    "",
    "dan@example.co.uk",
]


@pytest.mark.parametrize(
    "dump",
    [
        lambda body: json.dumps(body, separators=(",", ":"), ensure_ascii=False),  # compact: the fast path
        lambda body: json.dumps(body),  # ", " and ": ", \u escapes: the fast path
        lambda body: json.dumps(body, indent=2),  # new lines: the general parser
    ],
    ids=["compact", "spaced-escaped", "indented"],
)
def test_every_body_layout_stages_the_same_keys(
    world: tuple[RootApp, TestClient], adv: Api, dump: Any
) -> None:
    app = world[0]
    answers, members = [], []
    for order in ("type-first", "value-first", "mixed"):
        audience_id = create(adv, order)
        items = [{"type": "email", "value": v} for v in RAW_EMAILS * 3]
        if order != "type-first":
            items = [{"value": i["value"], "type": i["type"]} for i in items]
        if order == "mixed":
            items[5] = {"type": "email", "value": items[5]["value"]}  # uneven: the general parser
        body = dump({"audience_id": audience_id, "action": "add", "identifiers": items})
        response = _post(adv, body.encode())
        assert response.status_code == 202, response.text
        answers.append(
            {k: response.json()[k] for k in ("records_received", "records_malformed", "malformed_samples")}
        )
        drain(app)
        members.append(_member_keys(app, audience_id))
    assert answers[0]["records_received"] == 27 and answers[0]["records_malformed"] == 6
    assert [s["index"] for s in answers[0]["malformed_samples"]] == [3, 7, 12, 16, 21, 25]
    assert all(a == answers[0] for a in answers) and all(m == members[0] for m in members)
    expected = {member_key("email", v) for v in RAW_EMAILS if v.strip() and v != "not an email"}
    assert members[0] == expected


def test_hashes_in_bulk_and_one_by_one_agree(world: tuple[RootApp, TestClient], adv: Api) -> None:
    app = world[0]
    hashes = [sha256_hex(f"p{i}@example.com") for i in range(40)]
    clean, odd = create(adv, "clean"), create(adv, "odd")
    sync(adv, clean, "add", [{"type": "phone_sha256", "value": h.upper()} for h in hashes])
    answer = sync(adv, odd, "add", [{"type": "phone_sha256", "value": h} for h in [*hashes, "a1b2..."]])
    assert answer["records_malformed"] == 1 and answer["malformed_samples"][0]["index"] == 40
    drain(app)
    assert _member_keys(app, clean) == _member_keys(app, odd) == {"p:" + h for h in hashes}


def test_a_uniform_body_is_still_checked_whole(world: tuple[RootApp, TestClient], adv: Api) -> None:
    audience_id = create(adv)
    items = emails("ann", "bob")
    unknown = _post(
        adv, orjson.dumps({"audience_id": audience_id, "action": "add", "identifiers": items, "x": 1})
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "x"
    body = orjson.dumps({"audience_id": audience_id, "action": "add", "identifiers": items})
    control = _post(adv, body.replace(b"ann@", b"an\x01n@"))
    assert control.status_code == 422 and control.json()["error"]["field"] == "body"
    truncated = _post(adv, body[:-3])
    assert truncated.status_code == 422 and truncated.json()["error"]["field"] == "body"
    assert not _staged_files(world[0])


def test_a_body_over_the_limit_is_refused(
    world: tuple[RootApp, TestClient], adv: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auctera.api.v2 import audiences as routes

    monkeypatch.setattr(routes, "MAX_SYNC_BODY", 1_000)
    audience_id = create(adv)
    too_big = _post(
        adv,
        orjson.dumps(
            {
                "audience_id": audience_id,
                "action": "add",
                "identifiers": emails(*"abcdefghijklmnopqrstuvwxyz"),
            }
        ),
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["field"] == "identifiers"


def test_staged_files_go_when_no_job_needs_them(world: tuple[RootApp, TestClient], adv: Api) -> None:
    app = world[0]
    audience_id = create(adv)
    bad_action = adv.call(
        "POST",
        "/v2/audiences/sync",
        {"audience_id": audience_id, "action": "merge", "identifiers": emails("a", "b")},
    )
    assert bad_action.status_code == 422
    unknown = adv.call(
        "POST",
        "/v2/audiences/sync",
        {"audience_id": "aud_zzzz", "action": "add", "identifiers": emails("a", "b")},
    )
    assert unknown.status_code == 404
    sync(adv, audience_id, "add", emails("a", "b"), job_key="once")
    sync(adv, audience_id, "add", emails("a", "b", "c"), job_key="once")  # the same call again
    assert len(_staged_files(app)) == 1  # the one job's
    stray = _staged_files(app)[0].with_name("12345.keys")  # a call a crash cut short
    stray.write_bytes(b"")
    service = app.container.audiences
    assert service.sweep_staging() == 0  # too recent: maybe a call still staging
    assert service.sweep_staging(grace=timedelta(0)) == 1 and not stray.exists()
    drain(app)
    assert not _staged_files(app)


def test_a_job_whose_staged_file_is_lost_fails_and_says_so(
    world: tuple[RootApp, TestClient], adv: Api
) -> None:
    app = world[0]
    audience_id = create(adv)
    answer = sync(adv, audience_id, "add", emails("a", "b"))
    for path in _staged_files(app):
        path.unlink()
    drain(app)
    job = adv.call("GET", f"/v2/audiences/sync/{answer['job_id']}").json()
    assert job["status"] == "failed" and job["success"] is False
    assert audience(adv, audience_id)["members"] == 0


def test_raw_values_are_never_stored(world: tuple[RootApp, TestClient], adv: Api) -> None:
    app = world[0]
    audience_id = create(adv)
    sync(adv, audience_id, "add", [{"type": "email", "value": "secret.person@example.com"}])
    assert not _cells_containing(app, "secret.person")  # staged: hashed already
    assert not _staged_containing(app, b"secret.person")
    assert _staged_containing(app, bytes.fromhex(sha256_hex("secret.person@example.com")))
    drain(app)
    assert not _cells_containing(app, "secret.person")
    assert not _staged_files(app)  # gone with the job
    assert _cells_containing(app, sha256_hex("secret.person@example.com"))


def test_match_rate_from_the_identity_graph(
    world: tuple[RootApp, TestClient], adv: Api, clock: FrozenClock
) -> None:
    app = world[0]
    ann = sha256_hex("ann@example.com")
    visit(app, "visitor-1", clock.now - timedelta(days=1), account_id=adv.account.id, email_sha256=ann)
    app.container.events.sync()
    audience_id = create(adv)
    sync(adv, audience_id, "add", emails("ann", "bob", "cid", "dan"))
    drain(app)
    shown = audience(adv, audience_id)
    assert shown["match_rate"] == 0.25
    jobs = adv.call("GET", "/v2/audiences").json()["data"][0]
    assert jobs["match_rate"] == 0.25


def test_other_tenants_see_nothing(world: tuple[RootApp, TestClient], adv: Api) -> None:
    other = Api(*world, name="Other")
    audience_id = create(adv)
    assert other.call("GET", f"/v2/audiences/{audience_id}").status_code == 404
    assert other.call("DELETE", f"/v2/audiences/{audience_id}").status_code == 404
    assert other.call("GET", "/v2/audiences/overlap", ids=f"{audience_id},{create(other)}").status_code == 404
    answer = other.call(
        "POST", "/v2/audiences/sync", {"audience_id": audience_id, "action": "add", "identifiers": []}
    )
    assert answer.status_code == 404
    assert other.call("GET", "/v2/audiences").json()["data"][0]["id"] != audience_id


@pytest.mark.parametrize("kind", ["publisher", "network"])
def test_only_an_advertiser_holds_audiences(world: tuple[RootApp, TestClient], kind: str) -> None:
    """A publisher or the operator has no campaigns to target with one: no place for hashed emails."""
    caller = Api(*world, kind, "Not an advertiser")
    refused = caller.call("POST", "/v2/audiences", {"name": "Buyers"})
    assert refused.status_code == 403 and "advertiser" in refused.json()["error"]["message"]
    assert caller.call("GET", "/v2/audiences").json()["data"] == []


# --- pixel-event and lookalike audiences ---------------------------------------------------------


def test_pixel_event_audience_follows_the_event_log(
    world: tuple[RootApp, TestClient], adv: Api, clock: FrozenClock
) -> None:
    app = world[0]
    acct = adv.account.id
    visit(app, "u1", clock.now - timedelta(days=2), account_id=acct)
    visit(app, "u2", clock.now - timedelta(days=3), account_id=acct)
    visit(app, "u2", clock.now - timedelta(days=1), EventType.CONVERSION, account_id=acct)
    visit(app, "u3", clock.now - timedelta(days=9), account_id=acct)  # outside the 7 days
    app.container.events.sync()
    audience_id = create(
        adv, source="Pixel Event", rule={"event": "click", "within_days": 7, "without": "conversion"}
    )
    assert audience(adv, audience_id)["status"] == "building"
    app.container.audiences.refresh_pixel_audiences()
    shown = audience(adv, audience_id)
    assert (shown["status"], shown["size_estimate"], shown["source"]) == ("ready", 1, "Pixel Event")
    visit(app, "u4", clock.now - timedelta(hours=1), account_id=acct)
    app.container.events.sync()
    app.container.audiences.refresh_pixel_audiences()
    assert audience(adv, audience_id)["size_estimate"] == 2
    crm = adv.call(
        "POST", "/v2/audiences/sync", {"audience_id": audience_id, "action": "add", "identifiers": []}
    )
    assert crm.status_code == 409


def test_pixel_rules_are_validated(adv: Api) -> None:
    no_rule = adv.call("POST", "/v2/audiences", {"name": "x", "source": "Pixel Event"})
    assert no_rule.status_code == 422 and "rule" in no_rule.text
    bad = adv.call(
        "POST",
        "/v2/audiences",
        {"name": "x", "source": "Pixel Event", "rule": {"event": "click", "within_days": 0}},
    )
    assert bad.status_code == 422
    source = adv.call("POST", "/v2/audiences", {"name": "x", "source": "Magic"})
    assert source.status_code == 422 and "source" in source.text


def test_lookalike_builds_from_the_event_log(
    world: tuple[RootApp, TestClient], adv: Api, clock: FrozenClock
) -> None:
    app = world[0]
    rng = random.Random(5)
    acct = adv.account.id
    seed_emails = []
    for i in range(600):
        similar = i < 60
        at = clock.now - timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 23))
        if similar:
            at = at.replace(hour=20)
        publisher = 7 if similar else rng.randint(1, 30)
        attrs: dict[str, Any] = {
            "account_id": acct,
            "publisher_id": publisher,
            "country": "US" if i % 10 else "CA",
        }
        if similar and i < 40:  # the seed: customers whose email the event log saw on a click
            email = sha256_hex(f"c{i}@example.com")
            seed_emails.append({"type": "email_sha256", "value": email})
            attrs["email_sha256"] = email
        visit(app, f"v{i}", at, **attrs)
    app.container.events.sync()
    seed = create(adv, "Top customers")
    sync(adv, seed, "add", seed_emails)
    drain(app)
    assert audience(adv, seed)["match_rate"] == 1.0
    answer = adv.call(
        "POST",
        "/v2/audiences/lookalike",
        {"seed_audience_id": seed, "similarity_percentage": 5, "geo": ["US"]},
    ).json()
    drain(app)
    built = audience(adv, answer["lookalike_audience_id"])
    assert built["status"] == "ready", built
    assert built["source"] == "Lookalike ML"
    assert built["lookalike"]["holdout_auc"] > 0.7
    assert built["size_estimate"] == 27  # 5% of the 540 US visitors


def test_lookalike_input_is_validated(adv: Api) -> None:
    seed = create(adv)
    for body, field in [
        ({"seed_audience_id": seed, "similarity_percentage": 11}, "similarity_percentage"),
        ({"seed_audience_id": seed, "similarity_percentage": 2, "geo": ["XX"]}, "geo"),
        ({"seed_audience_id": "aud_zzz", "similarity_percentage": 2}, "seed_audience_id"),
    ]:
        response = adv.call("POST", "/v2/audiences/lookalike", body)
        assert response.status_code in (404, 422) and field in response.text, response.text


# --- GDPR deletion -----------------------------------------------------------------------------


def _cells_containing(app: RootApp, needle: str) -> list[str]:
    """Every table.column whose text holds `needle` (a whole-database scan)."""
    found = []
    with app.container.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name not in inspect(conn).get_table_names():
                continue
            for column in table.columns:
                if isinstance(column.type, String | Text) or column.type.__class__.__name__ in (
                    "JSON",
                    "LargeBinary",
                ):
                    for (value,) in conn.execute(select(column)):
                        if value is not None and needle in (
                            value.decode("latin-1") if isinstance(value, bytes) else str(value)
                        ):
                            found.append(f"{table.name}.{column.name}")
    return found


def _staged_files(app: RootApp) -> list[Path]:
    return sorted((app.container.settings.data_dir / "audience-staging").glob("*"))


def _staged_containing(app: RootApp, needle: bytes) -> list[Path]:
    """The sync jobs' staging files holding `needle` (raw bytes: digests are staged unencoded)."""
    return [path for path in _staged_files(app) if needle in path.read_bytes()]


def test_delete_purges_every_hash_and_pauses_campaigns(
    world: tuple[RootApp, TestClient], adv: Api, clock: FrozenClock
) -> None:
    app = world[0]
    ann = sha256_hex("ann@example.com")
    visit(app, "visitor-ann", clock.now - timedelta(days=1), account_id=adv.account.id, email_sha256=ann)
    app.container.events.sync()
    audience_id = create(adv)
    sync(adv, audience_id, "add", emails("ann", "bob"))
    drain(app)
    pending = sync(adv, audience_id, "add", emails("cid"))  # queued, never run
    cid = sha256_hex("cid@example.com")
    assert _staged_containing(app, bytes.fromhex(cid))  # staged for the pending job
    assert _cells_containing(app, "visitor-ann")  # the derived identity link
    campaign = adv.create()
    app.container.campaigns.review(_cmp(campaign))
    assert adv.get(campaign)["status"] == "active"
    put = adv.call("PUT", f"/v2/campaigns/{campaign}/audiences", {"include": [audience_id]})
    assert put.status_code == 200, put.text
    deleted = adv.call("DELETE", f"/v2/audiences/{audience_id}").json()
    assert deleted["paused_campaigns"] == [campaign]
    for needle in (ann, sha256_hex("bob@example.com"), cid, "visitor-ann"):
        assert not _cells_containing(app, needle), needle
        assert not _staged_containing(
            app, bytes.fromhex(needle) if needle != "visitor-ann" else b"visitor-ann"
        )
    shown = adv.get(campaign)
    assert shown["status"] == "paused"
    assert audience_id in shown["review"]["reasons"][0]
    assert adv.call("GET", f"/v2/audiences/{audience_id}").status_code == 404
    assert adv.call("GET", f"/v2/audiences/sync/{pending['job_id']}").status_code == 404
    assert adv.call("DELETE", f"/v2/audiences/{audience_id}").json()["status"] == "deleted"  # idempotent
    assert adv.call("GET", f"/v2/campaigns/{campaign}/audiences").json() == {"include": [], "exclude": []}
    drain(app)  # nothing left for the worker


def test_delete_pauses_campaigns_that_excluded_it_and_tells_paused_ones(
    world: tuple[RootApp, TestClient], adv: Api
) -> None:
    app = world[0]
    audience_id = create(adv)
    excluding, resting = adv.create(), adv.create()
    for campaign in (excluding, resting):
        app.container.campaigns.review(_cmp(campaign))
    assert adv.call("PATCH", f"/v2/campaigns/{resting}", {"status": "paused"}).status_code == 200
    assert (
        adv.call("PUT", f"/v2/campaigns/{excluding}/audiences", {"exclude": [audience_id]}).status_code == 200
    )
    assert (
        adv.call("PUT", f"/v2/campaigns/{resting}/audiences", {"include": [audience_id]}).status_code == 200
    )

    deleted = adv.call("DELETE", f"/v2/audiences/{audience_id}").json()

    # Without its exclusion the campaign would reach the very people it kept out: it pauses.
    assert deleted["paused_campaigns"] == [excluding]
    shown = adv.get(excluding)
    assert shown["status"] == "paused"
    assert shown["review"]["reasons"] == [f"paused: audience {audience_id} it targeted was deleted"]
    # One already paused stays paused, and says why its targeting changed before anyone resumes it.
    shown = adv.get(resting)
    assert shown["status"] == "paused"
    assert shown["review"]["reasons"] == [f"paused: audience {audience_id} it targeted was deleted"]
    # Neither resumes until its targeting is saved again: as is, it would reach people it never chose.
    for campaign in (excluding, resting):
        refused = adv.call("PATCH", f"/v2/campaigns/{campaign}", {"status": "active"})
        assert refused.status_code == 409 and refused.json()["error"]["field"] == "status"
        assert "audience" in refused.json()["error"]["message"]
    assert adv.call("PUT", f"/v2/campaigns/{resting}/audiences", {"include": []}).status_code == 200
    assert adv.get(resting)["review"]["reasons"] == []
    assert adv.call("PATCH", f"/v2/campaigns/{resting}", {"status": "active"}).json()["success"] is True
    assert adv.get(resting)["status"] == "active"


def _cmp(text: str) -> int:
    from auctera.domain import ids as idfmt

    value = idfmt.parse("cmp", text)
    assert value is not None
    return value


# --- targeting in the auction ------------------------------------------------------------------


def test_line_items_target_and_exclude_audiences_in_the_auction(
    market: Market,  # noqa: F811 - the fixtures of test_sponsored_products
    shop_world: dict[str, Any],  # noqa: F811
) -> None:
    w = shop_world
    brand: Api = w["brand"]
    app = market.app
    fans = create(brand, "Fans")
    sync(brand, fans, "add", [{"type": "email_sha256", "value": sha256_hex("fan@example.com")}])
    drain(app)
    page = {"type": "search", "keywords": "running shoes"}
    put = brand.call("PUT", f"/v2/line-items/{w['acme_li']}/audiences", {"include": [fans]})
    assert put.status_code == 200, put.text
    app.container.auctions.refresh_caches()
    assert names(decide(w["shop"], w["retailer"], page, slots=2)) == ["Road Running Shoe"]
    fan = {"email_sha256": sha256_hex("fan@example.com")}
    assert "Trail Running Shoe" in names(decide(w["shop"], w["retailer"], page, slots=2, user=fan))
    brand.call("PUT", f"/v2/line-items/{w['acme_li']}/audiences", {"exclude": [fans]})
    app.container.auctions.refresh_caches()
    assert names(decide(w["shop"], w["retailer"], page, slots=2, user=fan)) == ["Road Running Shoe"]
    assert "Trail Running Shoe" in names(
        decide(w["shop"], w["retailer"], page, slots=2, user={"uid": "someone"})
    )
    bad = w["shop"].call(
        "POST",
        f"/v2/retailers/ret_{w['retailer']:x}/sponsored-products",
        {"page": page, "user": {"email_sha256": "nope"}},
    )
    assert bad.status_code in (404, 422)


def test_targeting_is_validated(world: tuple[RootApp, TestClient], adv: Api) -> None:
    other = Api(*world, name="Other")
    mine, theirs = create(adv), create(other)
    campaign = adv.create()
    both = adv.call("PUT", f"/v2/campaigns/{campaign}/audiences", {"include": [mine], "exclude": [mine]})
    assert both.status_code == 422 and "exclude" in both.text
    foreign = adv.call("PUT", f"/v2/campaigns/{campaign}/audiences", {"include": [theirs]})
    assert foreign.status_code == 404 and "audiences.include" in foreign.text
    not_mine = other.call("PUT", f"/v2/campaigns/{campaign}/audiences", {"include": [theirs]})
    assert not_mine.status_code == 404
    ok = adv.call("PUT", f"/v2/campaigns/{campaign}/audiences", {"include": [mine]})
    assert ok.json() == {"include": [mine], "exclude": []}


def test_campaign_targeting_field_includes_and_excludes_audiences(
    world: tuple[RootApp, TestClient], adv: Api
) -> None:
    fans, churned = create(adv, "Fans"), create(adv, "Churned")
    campaign = adv.create(targeting={"geo": ["US"], "audiences": {"include": [fans]}})
    shown = adv.get(campaign)["targeting"]
    assert shown["geo"] == ["US"] and shown["audiences"] == {"include": [fans], "exclude": []}
    patched = adv.call(
        "PATCH", f"/v2/campaigns/{campaign}", {"targeting": {"audiences": {"exclude": [churned]}}}
    )
    assert patched.status_code == 200, patched.text
    assert adv.get(campaign)["targeting"]["audiences"] == {"include": [], "exclude": [churned]}
    assert adv.call("GET", f"/v2/campaigns/{campaign}/audiences").json() == {
        "include": [],
        "exclude": [churned],
    }
    both = adv.call(
        "PATCH",
        f"/v2/campaigns/{campaign}",
        {"targeting": {"audiences": {"include": [churned], "exclude": [churned]}}},
    )
    assert both.status_code == 422 and "targeting.audiences.exclude" in both.text
    theirs = create(Api(*world, name="Other"))
    foreign = adv.call(
        "PATCH", f"/v2/campaigns/{campaign}", {"targeting": {"audiences": {"include": [theirs]}}}
    )
    assert foreign.status_code == 404 and "targeting.audiences.include" in foreign.text
    assert adv.get(campaign)["targeting"]["audiences"] == {"include": [], "exclude": [churned]}  # unchanged
    cleared = adv.call("PATCH", f"/v2/campaigns/{campaign}", {"targeting": {"audiences": {}}})
    assert cleared.status_code == 200 and "audiences" not in adv.get(campaign)["targeting"]


def test_the_servers_worker_applies_syncs_and_builds_pixel_audiences(
    app: RootApp, client: TestClient
) -> None:
    api = Api(app, client)
    audience_id = create(api)
    job = sync(api, audience_id, "add", [*emails("ann", "bob"), {"type": "ann@example.com", "value": "x"}])
    assert job["malformed_samples"][0]["type"] == "unknown"  # a value sent as the type is not echoed
    pixel = create(api, "Clickers", source="Pixel Event", rule={"event": "click", "within_days": 30})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = api.call("GET", f"/v2/audiences/sync/{job['job_id']}").json()
        if done["status"] == "done" and audience(api, pixel)["status"] == "ready":
            break
        time.sleep(0.05)
    assert done["status"] == "done" and done["records_processed"] == 2
    assert audience(api, audience_id)["size_estimate"] == 2
    assert audience(api, pixel)["status"] == "ready"


def test_pixel_rules_scope_to_campaigns(
    world: tuple[RootApp, TestClient], adv: Api, clock: FrozenClock
) -> None:
    app = world[0]
    campaign = adv.create()
    cid = _cmp(campaign)
    visit(app, "on-campaign", clock.now - timedelta(days=1), account_id=adv.account.id, campaign_id=cid)
    visit(app, "elsewhere", clock.now - timedelta(days=1), account_id=adv.account.id, campaign_id=cid + 1)
    app.container.events.sync()
    rule = {"event": "click", "within_days": 7, "campaign_ids": [campaign]}
    audience_id = create(adv, "Campaign visitors", source="Pixel Event", rule=rule)
    app.container.audiences.refresh_pixel_audiences()
    shown = audience(adv, audience_id)
    assert shown["size_estimate"] == 1 and shown["rule"]["campaign_ids"] == [campaign]
    unknown = adv.call(
        "POST",
        "/v2/audiences",
        {"name": "x", "source": "Pixel Event", "rule": {**rule, "campaign_ids": ["cmp_zz"]}},
    )
    assert unknown.status_code == 404 and "rule.campaign_ids" in unknown.text
