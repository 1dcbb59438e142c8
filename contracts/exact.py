"""Exact reading of TEvo's JSON: numbers from their own text, ids, counts and money, never guessed.

Python's `json` and pydantic's lax mode are generous where an invoice must not be: a boolean
is an int (`True` is order 1), `str.isdigit()` takes any Unicode digit (full-width U+FF10 to
U+FF19), `Decimal()` takes exponents and underscores (`"1e309"`, `"1_000.50"`), and a JSON
number goes through a float (12345678901234567.89 becomes ...68). Here a JSON number keeps its
text, and each kind of value has one rule, published as the JSON schema beside
it so the two cannot drift:

- an id is a JSON integer, or a string of 1 to 18 ASCII digits (a Postgres bigint);
- a count (a quantity) is a JSON integer from 0 to 2**31 - 1, or a string of 1 to 9 ASCII
  digits;
- money is a JSON number, or a string like `-12.50`, below 10**13 in size, read exactly.

A value that breaks its rule is a `ValueError` naming the rule, even for a value of the wrong
type: pydantic turns only a `ValueError` into a field error, which the models report as a
`BodyError` naming the field.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

__all__ = [
    "COUNT_SCHEMA",
    "ID_SCHEMA",
    "MONEY_SCHEMA",
    "Number",
    "as_count",
    "as_id",
    "as_money",
    "loads",
]

ID_DIGITS = 18
MAX_ID = 10**ID_DIGITS - 1
MAX_COUNT = 2**31 - 1  # pos.*_lines.quantity is a Postgres integer
MONEY_INTEGER_DIGITS, MONEY_FRACTION_DIGITS = 13, 12
MONEY_BOUND = 10**MONEY_INTEGER_DIGITS

# JSON Schema patterns are ECMA-262; these use nothing whose meaning differs in Python's `re`.
ID_PATTERN = rf"^[0-9]{{1,{ID_DIGITS}}}$"
MONEY_PATTERN = rf"^-?[0-9]{{1,{MONEY_INTEGER_DIGITS}}}(\.[0-9]{{1,{MONEY_FRACTION_DIGITS}}})?$"
COUNT_PATTERN = r"^[0-9]{1,9}$"  # any nine digits fit an integer column
_COUNT = re.compile(COUNT_PATTERN.strip("^$"))
_ID = re.compile(ID_PATTERN.strip("^$"))
_MONEY = re.compile(MONEY_PATTERN.strip("^$"))

ID_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        {"type": "string", "pattern": ID_PATTERN},
    ]
}
COUNT_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
        {"type": "string", "pattern": COUNT_PATTERN},
    ]
}
MONEY_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": -MONEY_BOUND, "exclusiveMaximum": MONEY_BOUND},
        {"type": "string", "pattern": MONEY_PATTERN},
    ]
}


class Number(float):
    """A JSON number with a point or an exponent: a float to anyone, its text to money."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> Number:
        number = super().__new__(cls, text)
        number.text = text
        return number


def _no_constant(literal: str) -> Any:
    raise ValueError(f"{literal} is not JSON")


def loads(body: bytes | str) -> Any:
    """`json.loads`, keeping every non-integer number's text; NaN and Infinity are refused."""
    return json.loads(body, parse_float=Number, parse_constant=_no_constant)


def _exact(value: float) -> Decimal:
    text = value.text if isinstance(value, Number) else repr(value)
    return Decimal(text)


def _whole(value: object, rule: str) -> int:
    """An integer from a JSON integer, or from a JSON number with nothing after its point."""
    if isinstance(value, bool):
        # bool is an int to Python: checked first
        raise ValueError(f"{rule}, not a boolean")  # noqa: TRY004 (see the module's docstring)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        exact = _exact(value)
        if exact.is_finite() and exact == exact.to_integral_value():
            return int(exact)
    raise ValueError(rule)


def as_id(value: object) -> int | None:
    """A TEvo id; "" and null are none."""
    rule = f"must be an integer or a string of 1 to {ID_DIGITS} ASCII digits"
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not _ID.fullmatch(value):
            raise ValueError(rule)
        return int(value)
    whole = _whole(value, rule)
    if not 0 <= whole <= MAX_ID:
        raise ValueError(rule)
    return whole


def as_count(value: object) -> int | None:
    """A count of tickets; null is none."""
    rule = f"must be an integer from 0 to {MAX_COUNT} or a string of 1 to 9 ASCII digits"
    if value is None:
        return None
    if isinstance(value, str):
        if not _COUNT.fullmatch(value):
            raise ValueError(rule)
        return int(value)
    whole = _whole(value, rule)
    if not 0 <= whole <= MAX_COUNT:
        raise ValueError(rule)
    return whole


def as_money(value: object) -> Decimal | None:
    """An amount, exactly as written; "" and null are none."""
    rule = (
        f"must be a number or a string like -12.50 (ASCII digits, at most "
        f"{MONEY_INTEGER_DIGITS} before the point and {MONEY_FRACTION_DIGITS} after, no exponent), "
        f"less than 10**{MONEY_INTEGER_DIGITS} in size"
    )
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{rule}, not a boolean")  # noqa: TRY004 (see the module's docstring)
    if isinstance(value, str):
        if not _MONEY.fullmatch(value):
            raise ValueError(rule)
        return Decimal(value)
    if isinstance(value, Decimal):
        exact = value
    elif isinstance(value, int):
        exact = Decimal(value)
    elif isinstance(value, float):
        exact = _exact(value)
    else:
        raise ValueError(rule)  # noqa: TRY004 (see the module's docstring)
    if not exact.is_finite() or not -MONEY_BOUND < exact < MONEY_BOUND:
        raise ValueError(rule)
    return exact
