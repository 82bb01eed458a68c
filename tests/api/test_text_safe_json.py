"""An error answer or a log line quoting a client's text is never lost to a lone surrogate."""

from __future__ import annotations

import orjson

from auctera.api.observability import _orjson_dumps
from auctera.api.responses import OrjsonResponse


def test_an_answer_quoting_a_lone_surrogate_is_still_sent() -> None:
    answer = OrjsonResponse({"error": {"message": "campaign 'x\ud800' not found", "pair": "\ud83d\ude00"}})
    assert orjson.loads(answer.body) == {"error": {"message": "campaign 'x\ufffd' not found", "pair": "😀"}}


def test_a_log_line_quoting_a_lone_surrogate_is_still_written() -> None:
    assert orjson.loads(_orjson_dumps({"event": "not found", "id": ["\udfff", 1]})) == {
        "event": "not found",
        "id": ["\ufffd", 1],
    }
