"""The processor's floors: no module imports a floor above its own, and no import makes a circle.

Read from the source with `ast` (every import, also one inside a function or under
`TYPE_CHECKING`), so a later change cannot bring a corridor back without this test saying where.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "processor"

# folder -> the folders of the processor it must never import
FORBIDDEN = {
    "pos": {"runtime", "ops", "commands", "consumers"},
    "consumers": {"runtime", "ops", "commands"},
    "runtime": {"ops", "commands", "tevo", "pos", "consumers"},
    "tevo": {"runtime", "ops", "commands", "pos", "consumers"},
    "ops": {"commands"},
}
# the ground floor: modules every floor may import, which import no floor above them
GROUND = {"settings", "errors", "metrics", "handler"}
FLOORS = {"runtime", "tevo", "pos", "consumers", "ops", "commands", "console"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """The processor modules `path` imports, absolute, by dotted name."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from processor.ops import review` imports the module processor.ops.review
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
            yield node.module


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {i for i in _imports(path) if i in modules and i != name}
    return graph


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


GRAPH = _graph()


def test_the_graph_was_read() -> None:
    assert "processor.handler" in GRAPH["processor.consumers.seller_order_created"]
    assert "processor.runtime.dispatch" in GRAPH["processor.runtime.session"]


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_no_floor_imports_one_it_must_not(floor: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _folder(module) == floor
        for target in targets
        if _folder(target) in FORBIDDEN[floor]
    )
    assert wrong == []


def test_the_ground_floor_imports_no_floor_above_it() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _folder(module) in GROUND
        for target in targets
        if _folder(target) in FLOORS or target in {"processor.app", "processor.registry"}
    )
    assert wrong == []


def test_no_import_makes_a_circle() -> None:
    # a module counts with what it imports at run time and under TYPE_CHECKING alike
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            pytest.fail("import circle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        path.append(module)
        for target in sorted(GRAPH[module]):
            if target != module.rsplit(".", 1)[0]:  # a package's own __init__ is no circle
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


def test_no_two_folders_import_each_other() -> None:
    edges = {
        (_folder(m), _folder(t))
        for m, targets in GRAPH.items()
        for t in targets
        if _folder(m) in FLOORS and _folder(t) in FLOORS and _folder(m) != _folder(t)
    }
    assert sorted((a, b) for a, b in edges if (b, a) in edges) == []
