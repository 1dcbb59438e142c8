"""Settings problems told in the operator's words: the `TEVO_*` variable, never pydantic's field.

Pure functions, no I/O: each program prints the lines at start (`describe`) and logs a warning
for each `TEVO_*` variable it does not know (`unknown_variables`). Both programs are often given
one environment (a ConfigMap, a compose anchor), so a variable is unknown only when neither
reads it: `contracts.variables` lists both programs' names, and a test keeps it in step with
their settings classes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from pydantic import ValidationError

PREFIX = "TEVO_"
# pydantic prefixes a validator's own message; the operator needs only the message.
_VALUE_ERROR = re.compile(r"^(Value|Assertion) error, ")
# A model validator names fields in its message as `field_name`: shown as TEVO_FIELD_NAME.
_FIELD = re.compile(r"`([a-z][a-z0-9_]*)`")


def variable(field: str) -> str:
    """The environment variable of a settings field: `prefetch` -> `TEVO_PREFETCH`."""
    return f"{PREFIX}{field.upper()}"


def describe(exc: ValidationError) -> list[str]:
    """One line per problem, `TEVO_PREFETCH: Input should be a valid integer`, without the input
    (it may be a token or a URL's password) and without pydantic's help link."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = _FIELD.sub(lambda m: variable(m.group(1)), _VALUE_ERROR.sub("", error["msg"]))
        field = next((part for part in error["loc"] if isinstance(part, str)), None)
        lines.append(f"{variable(field)}: {message}" if field else message)
    return lines


def unknown_variables(environ: Mapping[str, str], known: Iterable[str]) -> dict[str, str | None]:
    """Each `TEVO_*` variable of `environ` not in `known`, with the closest known name (a typo's
    likely meaning) or None."""
    names = sorted(set(known))
    return {
        name: next(iter(difflib.get_close_matches(name, names, n=1, cutoff=0.8)), None)
        for name in sorted(environ)
        if name.startswith(PREFIX) and name not in names
    }
