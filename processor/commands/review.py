"""`python -m processor review list|show|recheck|resolve`: the sales that need a person.

Prints for the person at the terminal. `show` prints the sale's fields, invoice, versions and
history but never an order body (it holds the buyer's details). Exit status: 0 done, 1 nothing
to do (already resolved, not held, TEvo has no such order, or the rules would not invoice) or
the database or TEvo unreachable (as for every command: one line on stderr says which), 2 usage
error, unknown order, or TEvo's API not configured.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from contracts.settings import postgres_address
from processor.errors import (
    DatabaseUnavailable,
    ProcessingError,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from processor.handler import Connection, Deps
from processor.ops import audit
from processor.pos import review
from processor.pos.recheck import recheck
from processor.settings import ProcessorSettings
from processor.tevo.api import open_api

NAME = "review"
HELP = "list, show, recheck or resolve the sales that need a person"
LIST_LIMIT = 500
UNREACHABLE = 1  # the exit status of every command that cannot reach what it needs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="action")
    listing = actions.add_parser("list", help="every sale that needs a person, oldest first")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, help="at most this many")
    show = actions.add_parser("show", help="one sale: its invoice, versions and history")
    show.add_argument("order_id", type=int, metavar="ORDER_ID")
    show.add_argument("--json", action="store_true", help="print a JSON object")
    again = actions.add_parser("recheck", help="apply TEvo's own copy of the order (TEVO_API_*)")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("order_id", type=int, nargs="?", metavar="ORDER_ID")
    which.add_argument("--all", action="store_true", help="every sale `list` shows")
    again.add_argument("--by", default=None, help="who asked, for the audit (default: OS user)")
    decide = actions.add_parser("resolve", help="record an operator's decision on a sale")
    decide.add_argument("order_id", type=int, metavar="ORDER_ID")
    how = decide.add_mutually_exclusive_group(required=True)
    how.add_argument("--invoice", action="store_true", help="invoice it as it stands")
    how.add_argument("--dismiss", action="store_true", help="nothing to do: take it off the list")
    decide.add_argument("--note", required=True, help="why, for the order's history")
    decide.add_argument("--by", default=None, help="who decided (default: the OS user)")


async def main(args: argparse.Namespace, settings: ProcessorSettings) -> int:
    async with AsyncExitStack() as stack:
        api = await open_api(stack, settings)
        if args.action == "recheck" and api is None:
            print("recheck needs TEVO_API_TOKEN and TEVO_API_SECRET", file=sys.stderr)
            return 2
        # Unreachable: `python -m processor` says so in its one line, naming where it tried.
        conn = await asyncpg.connect(settings.database_url)
        stack.push_async_callback(conn.close)
        deps = Deps(settings, tevo_api=api)
        try:
            return await _act(args, conn, deps)
        except ProcessingError as exc:  # TEvo's API or the database failed midway
            print(f"processor review: {_failed(exc, settings)}", file=sys.stderr)
            return UNREACHABLE
    return UNREACHABLE  # pragma: no cover - the block above always returns


def _failed(exc: ProcessingError, settings: ProcessorSettings) -> str:
    """What failed midway, in the words `python -m processor` uses for a store it cannot reach."""
    if isinstance(exc, DatabaseUnavailable):
        where = f"Postgres (TEVO_DATABASE_URL) at {postgres_address(settings.database_url)}"
    elif isinstance(exc, UpstreamUnavailable | UpstreamUnauthorized):
        where = f"TEvo's API (TEVO_API_URL) at {urlsplit(settings.api_url).netloc}"
    else:
        return f"{type(exc).__name__}: {exc}"
    return f"cannot reach {where}: {type(exc).__name__}: {exc}"


async def _act(args: argparse.Namespace, conn: Connection, deps: Deps) -> int:
    limit = deps.settings.fraud_wait_limit
    if args.action == "list":
        sales = await review.list_sales(conn, limit, args.limit)
        _print_list(sales, as_json=args.json)
        return 0
    if args.action == "show":
        found = await review.show_sale(conn, limit, args.order_id)
        if found is None:
            print(f"no sale {args.order_id} in the POS", file=sys.stderr)
            return 2
        _print_show(found, as_json=args.json)
        return 0
    if args.action == "recheck":
        assert deps.tevo_api is not None  # noqa: S101 - main() checked it
        ids = [args.order_id] if args.order_id is not None else [
            s["tevo_order_id"] for s in await review.list_sales(conn, limit, LIST_LIMIT)
        ]  # fmt: skip
        answers = [await recheck(conn, deps, order_id) for order_id in ids]
        await _audit(conn, args, "review.recheck", ids, answers)
        return _report(answers) if answers else 0
    decision = review.OperatorDecision(
        "invoice" if args.invoice else "dismiss", args.note, audit.cli_operator(args.by)
    )
    answer = await review.resolve(conn, deps, args.order_id, decision)
    await _audit(conn, args, f"review.{decision.action}", [args.order_id], [answer], note=args.note)
    return _report([answer])


async def _audit(
    conn: Connection,
    args: argparse.Namespace,
    action: str,
    ids: list[int],
    done: list[Any],
    *,
    note: str = "",
) -> None:
    """Record what was done (not what was refused: nothing changed then)."""
    made = [(i, a) for i, a in zip(ids, done, strict=True) if a.result is review.Result.DONE]
    if made:
        detail = "; ".join(a.message for _, a in made) + (f"; note: {note}" if note else "")
        act = audit.Act(audit.cli_operator(args.by), "cli", action, detail, [i for i, _ in made])
        await audit.record(conn, act)


def _report(answers: list[review.Answer]) -> int:
    for answer in answers:
        stream = sys.stdout if answer.result is review.Result.DONE else sys.stderr
        print(answer.message, file=stream)
    return max(answer.result.value for answer in answers)


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _age(value: Any) -> str:
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    return f"{days}d{rest // 3600:02d}h" if days else f"{rest // 3600}h{rest % 3600 // 60:02d}m"


def _print_list(sales: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        rows = [
            {
                **{k: v for k, v in s.items() if k != "age"},
                "age_seconds": int(s["age"].total_seconds()),
            }
            for s in sales
        ]
        print(json.dumps(rows, default=str, indent=2))
        return
    if not sales:
        print("no sale needs a person")
        return
    print(f"{'TEVO_ORDER_ID':>14}  {'STATUS':<20}  {'AGE':>7}  REVIEW_REASON")
    for sale in sales:
        print(
            f"{sale['tevo_order_id']:>14}  {sale['status']:<20}  {_age(sale['age']):>7}  "
            f"{_text(sale['review_reason'])}"
        )


SALE_FIELDS = (
    "status", "review_reason", "buyer_type", "customer_id", "fraud_check_status", "state",
    "delivery_state", "total", "order_updated_at", "created_at", "review_decision",
    "review_decided_by", "review_decided_at", "review_note",
)  # fmt: skip


def _print_show(found: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        found["sale"]["age"] = int(found["sale"]["age"].total_seconds())
        print(json.dumps(found, default=str, indent=2))
        return
    sale = found["sale"]
    print(f"sale {sale['tevo_order_id']} (order group {sale['order_group_id']})")
    for key in SALE_FIELDS:
        print(f"  {key:<20} {_text(sale[key])}")
    _print_invoice(found["invoice"], found["lines"])
    print("versions:")
    for v in found["versions"]:
        mark = f"disputed: {v['disputed']}" if v["disputed"] else ""
        mark = mark or ("verified" if v["verified"] else "")
        when, fraud, total = _text(v["ranked_at"]), _text(v["fraud_check_status"]), v["total"]
        print(
            f"  {v['received_at']}  {v['source']:<7} {v['event_type']:<24} updated_at {when}  "
            f"fraud {fraud}  total {_text(total)}  {mark}"
        )
    print("history:")
    for h in found["history"]:
        print(f"  {h['applied_at']}  {h['event_type']:<24} {_text(h['note'])}")


def _print_invoice(invoice: dict[str, Any] | None, lines: list[dict[str, Any]]) -> None:
    if invoice is None:
        print("invoice: none")
        return
    text = f"invoice {invoice['id']}: total {invoice['total']}, made {invoice['created_at']}"
    if invoice["amended_at"]:
        text += f", amended {invoice['amended_at']}"
    if invoice["voided_at"]:
        text += f", voided {invoice['voided_at']} ({invoice['void_reason']})"
    print(text)
    for line in lines:
        group, remote = _text(line["ticket_group_id"]), _text(line["remote_id"])
        seat = f"{_text(line['section'])}/{_text(line['row'])}"
        print(
            f"  {line['quantity']} x {line['price']}  ticket group {group} ({remote}) {seat}  "
            f"{_text(line['event_name'])}"
        )
