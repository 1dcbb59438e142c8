"""The worked example of docs/adding-a-consumer.md, loaded from the doc so tests run its code."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

DOC = Path(__file__).parent.parent / "docs" / "adding-a-consumer.md"
_BLOCK = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.DOTALL)


def blocks() -> dict[str, str]:
    """The doc's marked Python blocks by marker (`consumer`, `test`)."""
    return {m[1]: m[2] for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


def load(marker: str, module_name: str) -> ModuleType:
    """Run one marked block as the module it shows, and return that module."""
    module = ModuleType(module_name)
    code = compile(blocks()[marker], f"{DOC.name} ({marker})", "exec")
    exec(code, module.__dict__)  # noqa: S102 - the doc's own example, run to prove it works as written
    return module
