"""The form parser's fast paths agree with the slow, plain ones they stand in for, on any input."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingress.errors import FormError
from ingress.form import (
    MAX_JSON_DEPTH,
    MAX_NUMBER_LENGTH,
    _check_json_object,
    _check_json_strictly,
    _nesting,
    _percent_decoded,
    _plainly_acceptable,
    percent_decode,
)

BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")

# Bytes heavy in what percent-decoding and quoted-printable treat specially.
tricky_bytes = st.lists(
    st.sampled_from([b"%", b"=", b"+", b" ", b"\r", b"\n", b"\t", b"3D", b"0a", b"Ff", b"\x00"])
    | st.binary(max_size=3),
    max_size=30,
).map(b"".join)


@settings(max_examples=1000)
@given(data=tricky_bytes | st.binary())
@example(data=b"a%3D=b%3d")
@example(data=b"= \r\n=\n%20\n")
def test_percent_decode_is_urllib_for_data_without_broken_escapes(data: bytes) -> None:
    if BROKEN_ESCAPE.search(data):
        return  # refused before decoding: `_unescape` checks first
    assert percent_decode(data) == unquote_to_bytes(data)


@settings(max_examples=1000)
@given(data=tricky_bytes | st.binary())
@example(data=b"%")
@example(data=b"a%4")
@example(data=b"%=3D")
@example(data=b"%%41")
@example(data=b"%zz%41%41")
def test_broken_escapes_are_told_by_counting_as_by_the_expression(data: bytes) -> None:
    expected = None if BROKEN_ESCAPE.search(data) else unquote_to_bytes(data)
    assert _percent_decoded(data) == expected


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**70), max_value=10**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.sampled_from('a"\\{}[]:,\x00\ud800\udc00é😀 '), max_size=6)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _deep(levels: int, inner: str = "1") -> str:
    return '{"a": ' + "[" * (levels - 1) + inner + "]" * (levels - 1) + "}"


def _mutations(text: str) -> st.SearchStrategy[str]:
    """The text, and the text with what the rules are about spliced in."""
    doubled = re.sub(r'\{"([^"]*)": ', r'{"\1": 0, "\1": ', text, count=1)
    return st.sampled_from(
        [
            text,
            doubled,
            text.replace("1", "1" * (MAX_NUMBER_LENGTH + 1), 1),
            text.replace("1", "1" * MAX_NUMBER_LENGTH, 1),
            text.replace("null", "NaN", 1),
            text.replace('"', '"\\"[[', 1),
            text[:-1],
        ]
    )


def _verdict(check: Any, text: str) -> str | None:
    try:
        check(text)
    except FormError as exc:
        return exc.detail
    return None


@settings(max_examples=600)
@given(text=values.map(json.dumps).flatmap(_mutations) | st.text(max_size=40))
@example(text=_deep(MAX_JSON_DEPTH - 1))
@example(text=_deep(MAX_JSON_DEPTH))
@example(text=_deep(MAX_JSON_DEPTH, "[]"))
@example(text=_deep(MAX_JSON_DEPTH - 1, '"]]]]]]]]"'))
@example(text='{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [[[[]]]]}')
def test_the_fast_json_check_agrees_with_the_strict_one(text: str) -> None:
    if _plainly_acceptable(text):
        assert _verdict(_check_json_strictly, text) is None
    assert _verdict(_check_json_object, text) == _verdict(_check_json_strictly, text)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@given(value=values.map(lambda inner: {"a": inner}))
def test_nesting_is_exact_up_to_the_limit(value: dict[str, Any]) -> None:
    assert _nesting(value) == min(_depth(value), MAX_JSON_DEPTH)
