"""Turn TEvo's form POST into a `WebhookEnvelope`, or a `FormError` naming the field at fault.

The ingress checks the envelope, not the order: any well-formed event type passes, so a new
consumer never needs an ingress release. `body` must be a JSON object; it is kept byte for byte.
The decoding is strict where the standard library is lenient (a broken `%` escape, invalid UTF-8,
a repeated field, a JSON key twice, NaN) so that the body published is the body TEvo meant, and
bounded (fields, name length, JSON depth, number length) so that no input costs more than its
size. A `FormError` names a field of ours or none, never a value or a name the client sent.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

from contracts import CATALOG_EVENTS, EVENT_TYPE_PATTERN, Recipient, WebhookEnvelope
from ingress.errors import FormError

__all__ = ["FIELDS", "FormError", "parse_form"]

FIELDS = ("order_group_id", "recipient", "event_type", "body", "event_id")
MAX_ID_DIGITS = 18  # fits a Postgres bigint
MAX_FIELD_NAME_LENGTH = 64
MAX_JSON_DEPTH = 32  # TEvo's orders nest about six levels
MAX_NUMBER_LENGTH = 64  # characters of one JSON number; ids have 18 digits at most
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CHUNK = re.compile(rb"[^&]+")


def parse_form(raw: bytes, *, max_fields: int = 32) -> WebhookEnvelope:
    fields = _decode(raw, max_fields)
    event_type = _required(fields, "event_type")
    if not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise FormError("event_type", "must be 1 to 64 of a-z, 0-9 and _")
    recipient = _recipient(fields.get("recipient"), event_type)
    body = _required(fields, "body")
    _check_json_object(body)
    order_group_id = _digits(fields, "order_group_id")
    if order_group_id is None and recipient is not Recipient.CATALOG:
        raise FormError("order_group_id", "is required for order webhooks")
    return WebhookEnvelope(
        recipient=recipient,
        event_type=event_type,
        body=body.encode(),
        order_group_id=order_group_id,
        event_id=_digits(fields, "event_id"),
    )


def _decode(raw: bytes, max_fields: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for count, chunk in enumerate(_CHUNK.finditer(raw), start=1):
        if count > max_fields:
            raise FormError(None, f"the form has more than {max_fields} fields")
        raw_name, _, raw_value = chunk.group().partition(b"=")
        name = _unescape(raw_name, None)
        if len(name) > MAX_FIELD_NAME_LENGTH:
            raise FormError(None, f"a field name is longer than {MAX_FIELD_NAME_LENGTH} characters")
        if name not in FIELDS:
            continue  # TEvo may add fields; they are not ours to refuse
        if name in fields:
            raise FormError(name, "appears more than once")
        fields[name] = _unescape(raw_value, name)
    return fields


def _unescape(data: bytes, field: str | None) -> str:
    """Decode a name (field None) or the value of `field`: `+` is a space, `%XX` a byte."""
    what = "a field name " if field is None else ""
    if b"%" in data or b"+" in data:
        decoded = _percent_decoded(data.replace(b"+", b" "))
        # urllib leaves "%zz" as it is; TEvo's encoder never writes one, so it means damage.
        if decoded is None:
            raise FormError(field, f"{what}has a broken %-escape")
    else:
        decoded = data  # names and most short values: nothing to decode
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise FormError(field, f"{what}is not valid UTF-8") from None


def _percent_decoded(data: bytes) -> bytes | None:
    """`data` percent-decoded, or None if one of its `%` starts no escape (`%zz`, `%4`).

    The regular expression that finds a broken escape costs twice the decoding on a body, which
    is mostly escapes. Counting says it at C speed instead: each escape decodes three bytes to
    one, and quoted-printable (see `percent_decode`) keeps a broken one's `=` or drops a final
    one, so it saves fewer bytes. Only its soft line breaks (`=` before CR or LF) save as much
    as an escape, hence the expression for data with a CR or LF, which a form never needs.
    """
    if b"\r" in data or b"\n" in data:
        return None if _BROKEN_ESCAPE.search(data) else percent_decode(data)
    quoted = data.replace(b"=", b"=3D").replace(b"%", b"=")
    decoded = binascii.a2b_qp(quoted)
    return decoded if len(decoded) == len(quoted) - 2 * quoted.count(b"=") else None


def percent_decode(data: bytes) -> bytes:
    """`urllib.parse.unquote_to_bytes` for data whose every `%` starts an escape, ten times faster.

    A body is mostly escapes (every `"`, `:` and `,` of its JSON); urllib decodes them one by one
    in Python. Quoted-printable is the same code with `=` for `%`, and binascii decodes it in C:
    a literal `=` becomes the escape `=3D` first. The differences of quoted-printable (a soft
    line break is `=` before an end of line, `==`) cannot arise: every `=` is then followed by two
    hex digits, which `_BROKEN_ESCAPE` made sure of. A test compares both on arbitrary bytes.
    """
    return binascii.a2b_qp(data.replace(b"=", b"=3D").replace(b"%", b"="))


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise FormError(name, "is required")
    return value


def _recipient(value: str | None, event_type: str) -> Recipient:
    if event_type in CATALOG_EVENTS:
        return Recipient.CATALOG
    if not value:
        raise FormError("recipient", "is required")
    try:
        return Recipient(value)
    except ValueError:
        raise FormError("recipient", "must be seller, buyer or catalog") from None


def _digits(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_ID_DIGITS:
        raise FormError(name, f"must be digits, at most {MAX_ID_DIGITS}")
    return int(value)


class _Unacceptable(ValueError):
    """Valid JSON by Python's reading that the POS cannot take or that reads two ways."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins: the processor must read what we read.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Unacceptable("has an object with a key twice")
    return obj


def _number(literal: str) -> Any:
    # json hands integers and floats here as written; a float literal has a point or exponent.
    if len(literal) > MAX_NUMBER_LENGTH:
        raise _Unacceptable(f"has a number longer than {MAX_NUMBER_LENGTH} characters")
    return float(literal) if any(c in literal for c in ".eE") else int(literal)


def _no_constant(literal: str) -> Any:
    raise _Unacceptable(f"has {literal}, which JSON does not allow")


# Escapes that make a NUL or a surrogate: a body with one goes to the strict check.
_UNUSUAL_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# Number characters as b"1", everything else as b"0": a number too long is a run of b"1".
_NUMERIC = bytes(ord("1") if chr(b) in "-+.0123456789eE" else ord("0") for b in range(256))


def _check_json_object(body: str) -> None:
    """Let the common body through fast; anything else gets `_check_json_strictly`'s verdict."""
    if not _plainly_acceptable(body):
        _check_json_strictly(body)


def _plainly_acceptable(body: str) -> bool:
    """True only if `body` passes every rule of `_check_json_strictly`, at half its cost.

    The strict check calls Python for every number and walks every value of the parsed tree for
    depth and strings. Here the text says at C speed what needs no walk: no NaN or Infinity, no
    escape that makes a NUL or a surrogate (the form decoded as strict UTF-8 holds neither raw),
    no run of number characters longer than a number may be. Then one parse refuses keys twice,
    and a walk of the containers alone measures the depth. Any doubt answers False, never a
    refusal: the strict check has the last word, and a test holds the two to agreement.
    """
    if "NaN" in body or "Infinity" in body or _UNUSUAL_ESCAPE.search(body):
        return False
    encoded = body.encode("utf-8", "surrogatepass")
    if b"1" * (MAX_NUMBER_LENGTH + 1) in encoded.translate(_NUMERIC):
        return False
    try:
        parsed = json.loads(body, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):  # JSONDecodeError and _Unacceptable are ValueErrors
        return False
    if not isinstance(parsed, dict):
        return False
    # Containers cannot nest deeper than there are of them (a bracket in a string only adds
    # one): an order has about ten, so the walk is rarely needed.
    return body.count("{") + body.count("[") < MAX_JSON_DEPTH or _nesting(parsed) < MAX_JSON_DEPTH


def _nesting(root: dict[str, Any]) -> int:
    """How deep containers nest under `root` (itself the first level), up to the limit."""
    level: list[Any] = [root]
    depth = 1
    while depth < MAX_JSON_DEPTH:
        level = [
            value
            for container in level
            for value in (container.values() if type(container) is dict else container)
            if type(value) is dict or type(value) is list
        ]
        if not level:
            break
        depth += 1
    return depth


def _check_json_strictly(body: str) -> None:
    try:
        parsed = json.loads(
            body,
            object_pairs_hook=_unique_keys,
            parse_int=_number,
            parse_float=_number,
            parse_constant=_no_constant,
        )
    except _Unacceptable as exc:
        raise FormError("body", str(exc)) from None
    except RecursionError:
        raise FormError("body", f"nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        raise FormError("body", "is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise FormError("body", "must be a JSON object")
    _check_tree(parsed)


def _check_tree(root: dict[str, Any]) -> None:
    """Depth, and strings Postgres' jsonb refuses: NUL and unpaired surrogates (`\\ud800`)."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise FormError("body", f"nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key in value:
                _check_text(key)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise FormError("body", "has a NUL character (\\u0000), which the POS cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FormError("body", "has an unpaired surrogate escape, which is not text") from None
