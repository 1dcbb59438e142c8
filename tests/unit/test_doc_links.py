"""Every relative link in the README and docs/ leads to a file that exists, and to a heading
that exists when it names one: moved sections must not leave links pointing nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.DOTALL)


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors: each heading lowercased, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", FENCE.sub("", markdown), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not ours to check offline
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if not _leads_somewhere(linked, anchor):
            broken.append(target)
    assert broken == []


def _leads_somewhere(linked: Path, anchor: str) -> bool:
    if not linked.exists():
        return False
    return not anchor or linked.suffix != ".md" or anchor in anchors(linked.read_text())


def test_the_anchor_rule_matches_githubs() -> None:
    assert anchors("## Failures and dead letters\n## Purchases (buyer webhooks)\n") == {
        "failures-and-dead-letters",
        "purchases-buyer-webhooks",
    }
