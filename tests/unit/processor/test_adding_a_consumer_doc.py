"""docs/adding-a-consumer.md stays true: its example loads, its paths and commands exist."""

from __future__ import annotations

import re

from processor.commands import COMMANDS
from processor.handler import Consumer
from processor.registry import CONSUMERS
from tests.examples import DOC, blocks, load

ROOT = DOC.parent.parent
# What the worked example tells the reader to create; the suite runs them from the doc instead.
EXAMPLE_FILES = {
    "processor/consumers/buyer_order_completed.py",
    "tests/integration/test_buyer_order_completed.py",
}


def test_the_example_consumer_is_a_consumer_of_a_type_nobody_consumes_yet() -> None:
    consumer = load("consumer", "buyer_order_completed").CONSUMER
    assert isinstance(consumer, Consumer)
    assert consumer.routing_keys == (consumer.name,) == ("buyer.order_completed",)
    assert consumer.name not in {c.name for c in CONSUMERS}
    assert set(blocks()) == {"consumer", "test"}


def test_every_project_path_the_doc_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:processor|tests|contracts|ingress|docs)/[\w/.]*)`", text))
    assert "processor/registry.py" in named
    assert sorted(p for p in named - EXAMPLE_FILES if not (ROOT / p).exists()) == []


def test_the_commands_the_doc_names_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"python -m processor (\w+)", text))
    assert named == {"generate", "migrate", "unrouted"}
    assert named <= {command.NAME for command in COMMANDS}


def test_the_readme_links_to_the_doc() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"]({DOC.relative_to(ROOT)})" in readme
