"""Hypothesis strategies for requests to the webhook endpoint: forms, bytes, encodings, headers.

Mostly requests that pass the early checks (a configured token, a form content type), so that
the later checks and the publish path are reached too; the rest is anything at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from contracts import EVENT_TYPE_PATTERN
from ingress.form import FIELDS
from tests.payloads import form, order

FORM_TYPE = "application/x-www-form-urlencoded"
FORM_TYPES = [FORM_TYPE, f"{FORM_TYPE}; charset=UTF-8"]
OTHER_TYPES = [f"{FORM_TYPE}; charset=latin-1", "application/json", "text/plain", ""]


@dataclass(frozen=True)
class FuzzRequest:
    path: str
    body: bytes
    headers: dict[str, str]


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)
field_values = st.one_of(
    st.text(max_size=100),
    st.sampled_from(["seller", "buyer", "catalog", "order_created", "event_updated", "4606857"]),
    st.integers().map(str),
    json_values.map(json.dumps),
    st.just(json.dumps(order())),
    st.text('[]{}"\\,:0123456789eE.-+ nultrfa', max_size=60),
)
pairs = st.lists(
    st.tuples(st.sampled_from(FIELDS) | st.text(max_size=70), field_values), max_size=8
)


@st.composite
def valid_forms(draw: st.DrawFn) -> bytes:
    return form(order(), event_type=draw(st.sampled_from(["order_created", "made_up"]))).encode()


@st.composite
def json_forms(draw: st.DrawFn) -> bytes:
    """A well-formed envelope around any JSON object: NUL, NaN, deep lists and all."""
    body = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5))
    event_type = draw(st.from_regex(EVENT_TYPE_PATTERN, fullmatch=True))
    return form(json.dumps(body), event_type=event_type).encode()


@st.composite
def spliced_forms(draw: st.DrawFn) -> bytes:
    valid = draw(valid_forms())
    at = draw(st.integers(0, len(valid)))
    return valid[:at] + draw(st.binary(max_size=8)) + valid[at + draw(st.integers(0, 8)) :]


@st.composite
def padded_forms(draw: st.DrawFn, max_body: int) -> bytes:
    size = draw(st.sampled_from([2 * max_body, max_body, max_body // 2]) | st.integers(0, 4096))
    return draw(valid_forms()) + b"&pad=" + b"x" * size


def bodies(max_body: int) -> st.SearchStrategy[bytes]:
    kinds: list[st.SearchStrategy[bytes]] = [
        pairs.map(lambda p: urlencode(p).encode()),
        st.binary(max_size=600),
        st.text("%&=+azAZ09\x00é", max_size=200).map(str.encode),
        valid_forms(),
        json_forms(),
        spliced_forms(),
        padded_forms(max_body),
    ]
    return st.sampled_from(kinds).flatmap(lambda kind: kind)


@st.composite
def webhook_requests(draw: st.DrawFn, tokens: list[str], max_body: int) -> FuzzRequest:
    body = draw(bodies(max_body))
    # hypothesis favours the simplest choice, index 0: it is made the common path
    if draw(st.sampled_from(range(4))) < 3:
        token = draw(st.sampled_from(tokens))
    else:
        token = draw(st.text(min_size=1, max_size=40))
    if draw(st.sampled_from(range(4))) < 3:
        content_type = draw(st.sampled_from(FORM_TYPES))
    else:
        content_type = draw(st.sampled_from(OTHER_TYPES) | header_text)
    headers = {"Content-Type": content_type} if content_type else {}
    for name in ("Content-Encoding", "X-Forwarded-For", "Expect"):
        if draw(st.sampled_from(range(20))) == 19:
            headers[name] = draw(header_text)
    return FuzzRequest(f"/webhooks/tevo/{quote(token, safe='')}", body, headers)
