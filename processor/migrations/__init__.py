"""The numbered SQL migrations of the POS schema; the highest number is the code's schema version.

`processor.ops.migrate` applies them in order; the processor waits, not ready, until the
database's schema is at `code_version()` (`processor.runtime.schema`).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

__all__ = ["code_version", "migration_files"]

_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration, in order."""
    found = []
    for entry in resources.files(__name__).iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found)


@functools.cache
def code_version() -> int:
    """The version of the schema this code needs: its last migration's number."""
    return max((version for version, _, _ in migration_files()), default=0)
