"""The aiormq internals the coalescing writer (ingress/confirms.py) leans on are still there.

aiormq is pinned exactly in pyproject.toml; a new release must pass this before the pin moves.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import aiormq
from aiormq.abc import ChannelFrame

PYPROJECT = Path(__file__).parents[3] / "pyproject.toml"


def test_aiormq_is_pinned_to_the_version_installed() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = [d for d in dependencies if re.match(r"aiormq\b", d)]
    assert pins == [f"aiormq=={version('aiormq')}"]


def test_the_reader_resolves_confirms_and_returns_through_the_names_the_writer_fills() -> None:
    confirm = inspect.getsource(aiormq.Channel._confirm_delivery)
    assert "self.confirmations.pop(delivery_tag)" in confirm
    assert "confirmation.set_result(frame)" in confirm
    assert "DeliveryError(None, frame)" in confirm
    returned = inspect.getsource(aiormq.Channel._on_return_frame)
    assert "self.message_id_delivery_tag.get(message_id)" in returned
    assert "self.confirmations.pop(delivery_tag, None)" in returned


def test_the_channel_numbers_publishes_and_rejects_its_futures_on_close() -> None:
    init = inspect.getsource(aiormq.Channel.__init__)
    for name in ("self.confirmations", "self.message_id_delivery_tag", "self.delivery_tag = 0"):
        assert name in init
    assert "self.write_queue = connector.write_queue" in init
    assert "self.max_content_size" in init
    publish = inspect.getsource(aiormq.Channel.basic_publish)
    assert "self.delivery_tag += 1" in publish  # the number the broker's confirms count
    store = inspect.getsource(aiormq.base.FutureStore.add)
    assert "reject_reason" in store  # a future made after the close is rejected at once


def test_a_channel_frame_is_one_payload_with_a_drain_future() -> None:
    fields = {field.name for field in dataclasses.fields(ChannelFrame)}
    assert fields == {"payload", "should_close", "drain_future"}
    writer = inspect.getsource(aiormq.Connection._Connection__writer)  # type: ignore[attr-defined]
    assert "writer.write(channel_frame.payload)" in writer
    assert "channel_frame.drain()" in writer
