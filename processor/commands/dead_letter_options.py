"""The options `dead-letters` shares between its actions: which letters (a filter), and who acts."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from processor.ops.dead_letter_filter import Filter
from processor.registry import CONSUMERS


def add_filter(parser: argparse.ArgumentParser, *, message_id: bool) -> None:
    group = parser.add_argument_group("which dead letters (every one given must match)")
    group.add_argument("--reason", help="dead-letter reason or error type (ContractViolation)")
    group.add_argument("--since", type=moment, help="last failed at or after (ISO 8601, UTC)")
    group.add_argument("--until", type=moment, help="last failed before (ISO 8601, UTC)")
    group.add_argument("--order", type=int, help="a TEvo order id or order group id")
    if message_id:
        group.add_argument("--message-id", help="this message id only")


def add_act(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help=f"say how many would {verb}, and {verb} none"
    )
    parser.add_argument("--by", default=None, help="who acts, for the audit (default: OS user)")


def add_consumer(parser: argparse.ArgumentParser, *, purge: bool) -> None:
    names = [c.name for c in CONSUMERS]
    if not purge:
        parser.add_argument(
            "--consumer", choices=names, help="one consumer only (default: every consumer)"
        )
        return
    # Gone for good: say which queue, or say all of them and confirm it.
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--consumer", choices=names, help="purge this consumer's dead letters")
    which.add_argument("--all", action="store_true", help="purge every consumer's (with --yes)")
    parser.add_argument("--yes", action="store_true", help="confirm --all")


def moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def chosen(args: argparse.Namespace) -> Filter:
    """The filter the options name (everything when none is given)."""
    message_id = getattr(args, "message_id", None)
    return Filter(
        reason=getattr(args, "reason", None),
        since=getattr(args, "since", None),
        until=getattr(args, "until", None),
        order=getattr(args, "order", None),
        message_ids=frozenset({message_id}) if message_id else None,
    )


def described(matching: Filter) -> str:
    """The filter in words, for the audit and the dry run."""
    parts = [
        f"reason {matching.reason}" if matching.reason else "",
        f"since {matching.since.isoformat()}" if matching.since else "",
        f"until {matching.until.isoformat()}" if matching.until else "",
        f"order {matching.order}" if matching.order is not None else "",
        f"message {', '.join(sorted(matching.message_ids))}" if matching.message_ids else "",
    ]
    return "; ".join(p for p in parts if p) or "all"
