"""The `unrouted` command: listed, and it takes `list` or `move` with a positive limit."""

from __future__ import annotations

import argparse

import pytest

from processor.commands import COMMANDS, unrouted


def test_the_command_is_listed_and_takes_list_or_move_with_a_limit() -> None:
    assert unrouted in COMMANDS
    parser = argparse.ArgumentParser()
    unrouted.add_arguments(parser)
    assert vars(parser.parse_args(["move", "--limit", "5"])) == {
        "action": "move",
        "limit": 5,
        "by": None,
    }
    for wrong in (["purge"], ["move", "--limit", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(wrong)
