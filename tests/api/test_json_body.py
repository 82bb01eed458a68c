"""Request bodies whose JSON is valid but whose text cannot be stored (a lone UTF-16 surrogate,
a NUL), or which nest without end:
a 400 naming the field, never a 500, and nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from auctera.api.json_body import parse_json
from auctera.errors import AucteraError

from .conftest import Api, error


def test_exact_decimals_and_paired_surrogates_parse() -> None:
    # "\ud83d\ude00" is one character (U+1F600) spelled as a UTF-16 pair: valid text.
    assert parse_json(b'{"revenue": 0.1, "note": "\\ud83d\\ude00 ok"}') == {
        "revenue": Decimal("0.1"),
        "note": "\U0001f600 ok",
    }
    assert parse_json(b'{"path": "C:\\\\ud800"}') == {"path": "C:\\ud800"}  # an escaped backslash


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "\\ud800"}', "name"),
        (b'{"a": {"b": ["ok", "x\\uDC00y"]}}', "a.b[1]"),
        (b'{"events": [{"id": 1}, {"id": "\\ude00\\ud83d"}]}', "events[1].id"),  # a pair reversed
        (b'"\\udfff"', "body"),
        (b'{"\\ud800": 1}', "body"),
        (b'{"name": "a\\u0000b"}', "name"),  # no PostgreSQL text holds a NUL
    ],
)
def test_text_that_cannot_be_stored_is_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(AucteraError) as refused:
        parse_json(body)
    assert (refused.value.status_code, refused.value.code, refused.value.field) == (
        400,
        "invalid_json",
        field,
    )


def test_nesting_past_the_interpreter_limit_is_invalid_json() -> None:
    with pytest.raises(AucteraError) as refused:
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert refused.value.code == "invalid_json"


def test_fastapi_bodies_refuse_a_lone_surrogate_and_write_nothing(acme: Api) -> None:
    body = b'{"name": "Promo \\ud800", "type": "dsp_retargeting", "budget": 100}'
    headers = {**acme.headers, "Content-Type": "application/json"}
    refused = acme.client.post("/v2/campaigns", content=body, headers=headers)
    assert error(refused, 400, "name")["code"] == "invalid_json"
    assert acme.call("GET", "/v2/campaigns").json()["data"] == []

    emoji = b'{"name": "Promo \\ud83d\\ude00", "type": "dsp_retargeting", "budget": 100}'
    created = acme.client.post("/v2/campaigns", content=emoji, headers=headers)
    assert created.status_code == 201, created.text
    assert acme.get(created.json()["campaign_id"])["name"] == "Promo \U0001f600"


def test_fastapi_bodies_nested_without_end_are_a_400(acme: Api) -> None:
    headers = {**acme.headers, "Content-Type": "application/json"}
    refused = acme.client.post("/v2/campaigns", content=b"[" * 100_000 + b"]" * 100_000, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["success"] is False


def test_a_json_body_sent_as_curl_d_sends_it_is_read_as_json(acme: Api) -> None:
    """`curl -d '{…}'` without `-H Content-Type` types the body as a form: it is read as JSON all
    the same (as /v2/conversions and bid management read theirs); a real form body is refused as
    not being JSON, not as 'not an object'."""
    body = b'{"name": "Holiday Promo", "budget": 10000, "type": "dsp_retargeting"}'
    for content_type in ("application/x-www-form-urlencoded", "text/plain; charset=utf-8"):
        headers = {**acme.headers, "Content-Type": content_type}
        created = acme.client.post("/v2/campaigns", content=body, headers=headers)
        assert created.status_code == 201, created.text
        campaign = created.json()["campaign_id"]
        patch = b'{"budget": {"daily": 7500}}'
        changed = acme.client.patch(f"/v2/campaigns/{campaign}", content=patch, headers=headers)
        assert (changed.status_code, changed.json()["updated_fields"]) == (200, ["budget"])

    form = {**acme.headers, "Content-Type": "application/x-www-form-urlencoded"}
    refused = acme.client.post("/v2/campaigns", content=b"name=Holiday&budget=1", headers=form)
    assert "JSON" in error(refused, 400)["message"]
    listed = acme.call("GET", "/v2/campaigns").json()["data"]
    assert [c["name"] for c in listed] == ["Holiday Promo", "Holiday Promo"]  # nothing else written


def test_an_untyped_body_is_read_as_json_with_the_same_errors(acme: Api) -> None:
    """No Content-Type at all: read as JSON, and refused as every /v2 body is when it is not."""
    body = b'{"name": "Untyped", "budget": 10000, "type": "dsp_retargeting"}'
    created = acme.client.post("/v2/campaigns", content=body, headers=acme.headers)
    assert created.status_code == 201, created.text
    broken = acme.client.post("/v2/campaigns", content=b'{"name": "\xff"}', headers=acme.headers)
    assert "not UTF-8" in error(broken, 400)["message"]
