"""contracts.exact: the published schema and the parser agree, both ways, on every odd value."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import BodyError, parse_order, parse_order_item
from tests.payloads import order

SCHEMAS = json.loads(Path("docs/asyncapi.json").read_text())["components"]["schemas"]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"id": true}', "id"),
        ('{"id": "\uff16\uff19\uff10\uff15"}', "id"),  # full-width digits
        ('{"id": 1, "items": [{"quantity": true}]}', "items.0.quantity"),
        ('{"id": 1, "total": 12345678901234567.89}', "total"),
        ('{"id": 1, "total": "1e309"}', "total"),
        ('{"id": 1, "total": 1e309}', "total"),
        ('{"id": 1, "total": "1_000.50"}', "total"),
        ('{"id": 1, "total": true}', "total"),
        ('{"id": 1, "buyer": {"id": "6 "}}', "buyer.id"),
        ('{"id": 1, "items": [{"price": "\u0661\u0662"}]}', "items.0.price"),  # Arabic-Indic
    ],
)
def test_the_odd_values_are_refused_naming_their_field(text: str, field: str) -> None:
    with pytest.raises(BodyError) as refused:
        parse_order(text)
    assert refused.value.field == field


def test_money_is_read_from_the_text_without_a_float() -> None:
    parsed = parse_order('{"id": 1, "total": 1234567890123.456789, "tax": "0.10", "shipping": 7}')
    assert parsed.total == Decimal("1234567890123.456789")
    assert parsed.tax == Decimal("0.10")
    assert parsed.shipping == Decimal(7)


def test_whole_numbers_count_however_they_are_written() -> None:
    parsed = parse_order('{"id": "0042", "items": [{"quantity": 2.0}, {"quantity": "3"}]}')
    assert parsed.id == 42
    assert [item.quantity for item in parsed.items] == [2, 3]


def test_nan_and_infinity_are_not_json() -> None:
    with pytest.raises(BodyError) as refused:
        parse_order('{"id": 1, "total": NaN}')
    assert refused.value.field == "body"


FINITE = st.floats(allow_nan=False, allow_infinity=False)


def _from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the published schema describes (the subset of JSON Schema pydantic renders)."""
    if "$ref" in schema:
        return st.deferred(lambda: _from_schema(SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]))
    if "anyOf" in schema:
        return st.one_of([_from_schema(branch) for branch in schema["anyOf"]])
    strategy: st.SearchStrategy[Any] = _KINDS[schema["type"]](schema)
    return strategy


def _number(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = schema["exclusiveMinimum"], schema["exclusiveMaximum"]
    floats = st.floats(low, high, exclude_min=True, exclude_max=True)
    return st.integers(low + 1, high - 1) | floats


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    if schema.get("format") == "date-time":
        return st.datetimes().map(lambda moment: moment.isoformat() + "Z")
    if schema.get("format") == "date":
        return st.dates().map(lambda day: day.isoformat())
    return st.text(max_size=8)


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = {name: _from_schema(sub) for name, sub in schema.get("properties", {}).items()}
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: value for name, value in properties.items() if name in required},
        optional={name: value for name, value in properties.items() if name not in required},
    )


_KINDS: dict[str, Any] = {
    "null": lambda _schema: st.none(),
    "integer": lambda schema: st.integers(schema.get("minimum"), schema.get("maximum")),
    "number": _number,
    "string": _string,
    "array": lambda schema: st.lists(
        _from_schema(schema["items"]) if schema["items"] else JSON_VALUES, max_size=2
    ),
    "object": _object,
}


def _exact(value: Any) -> Decimal:
    return Decimal(json.dumps(value).strip('"'))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_from_schema(SCHEMAS["Order"]))
def test_every_body_the_schema_describes_parses_to_what_it_says(body: dict[str, Any]) -> None:
    parsed = parse_order(json.dumps(body))
    assert parsed.id == int(body["id"])
    for name in ("subtotal", "total", "tax", "discount"):
        if body.get(name) is not None:
            assert getattr(parsed, name) == _exact(body[name])
    for item, sent in zip(parsed.items, body.get("items", []), strict=True):
        assert item.quantity == (None if sent.get("quantity") is None else int(sent["quantity"]))


def _ecma_pattern(_validator: Any, pattern: str, instance: Any, _schema: Any) -> Any:
    # JSON Schema's patterns are ECMA-262, whose `$` (no multiline flag) is the end of the text;
    # Python's `$` also matches before a final newline.
    if isinstance(instance, str) and not re.search(pattern.replace("$", r"\Z"), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


ECMA = jsonschema.validators.extend(  # type: ignore[no-untyped-call]  # jsonschema is untyped here
    jsonschema.Draft202012Validator, {"pattern": _ecma_pattern}
)
ODD_NUMBERS = st.sampled_from(
    [
        "1e309",
        "1_000.50",
        "\uff11\uff12",
        "12 ",
        " 12",
        "12\n",
        "-0",
        "1.",
        ".5",
        "+1",
        "0x1F",
        "1e3",
        "",
    ]
) | st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{0,14})?", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["id", "total", "quantity", "price", "ticket_group_id"]),
    value=ODD_NUMBERS
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | JSON_VALUES,
)
def test_the_parser_takes_a_value_exactly_when_the_schema_does(field: str, value: Any) -> None:
    item: dict[str, Any] = {"quantity": 1, "price": "1.00", "ticket_group": {"id": 7}}
    body: dict[str, Any] = order(items=[item])
    if field in ("quantity", "price"):
        item[field] = value
    elif field == "ticket_group_id":
        item["ticket_group"]["id"] = value
    else:
        body[field] = value
    text = json.dumps(body)
    try:
        parse_order(text)
    except BodyError:
        parsed = False
    else:
        parsed = True
    schema = {"$ref": "#/components/schemas/Order", "components": {"schemas": SCHEMAS}}
    assert parsed == ECMA(schema).is_valid(json.loads(text)), text


def test_an_order_item_body_follows_the_same_rules() -> None:
    with pytest.raises(BodyError) as refused:
        parse_order_item('{"order_id": 1, "quantity": false}')
    assert refused.value.field == "quantity"
