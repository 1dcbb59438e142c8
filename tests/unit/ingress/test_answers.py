"""The 202 built by hand is the one `json_response` would build, byte for byte."""

from __future__ import annotations

import hashlib

from aiohttp import web

from ingress.app import _accepted


def test_the_accepted_answer_is_json_responses() -> None:
    message_id = hashlib.sha256(b"an order").hexdigest()
    ours = _accepted(message_id)
    theirs = web.json_response({"status": "accepted", "message_id": message_id}, status=202)
    assert (ours.status, ours.body, ours.content_type, ours.charset) == (
        theirs.status,
        theirs.body,
        theirs.content_type,
        theirs.charset,
    )
    assert ours.headers == theirs.headers
