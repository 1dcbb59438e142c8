"""The inbox and the history of a batch: what both ways of applying one share.

A batch claims the inbox rows of its messages before it applies any (`CLAIM_SQL`) and ends with
one statement that writes the history rows of the applied messages and withdraws the claims of
the failed ones (`CONCLUDE_SQL`), whichever path applied them: a savepoint per message
(`processor.runtime.transaction`) or the consumer's set-based handler
(`processor.runtime.set_based`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts import envelope as h
from contracts.tracing import trace_id_of
from processor.errors import ProcessingError
from processor.handler import Applied, Inbound

# A batch claims the inbox rows of all its messages in one statement before the first savepoint:
# the ids that come back are new and applied; the others are duplicates (applied before, or by a
# concurrent batch, whose commit the insert waits for) and are not run at all. A claim made
# before any savepoint survives a message's rollback, so the claims of the messages that failed
# are withdrawn at the end, in the statement that writes the history rows of the applied ones.
# Claiming every row first keeps the lock order acyclic: a claim waits only on another
# transaction's claim of the same message, and claims are made in the batch's (global) order.
CLAIM_SQL = """
INSERT INTO pos.inbox (consumer, message_id) SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING RETURNING message_id
"""
# applied_at is when the row is written, not when its transaction began: in a batch the two
# differ by the messages applied before it. A message whose inbox row retention removed is
# applied again when it comes back (its business keys keep it from doubling anything); its
# history row, kept longer, already says when it was first applied.
CONCLUDE_SQL = """
WITH withdrawn AS (
    DELETE FROM pos.inbox WHERE consumer = $1 AND message_id = ANY($2::text[])
)
INSERT INTO pos.order_history (tevo_order_id, order_group_id, recipient, event_type, message_id,
                               consumer, state, note, received_at, applied_at, trace_id)
SELECT tevo_order_id, order_group_id, recipient, event_type, message_id, $1, state, note,
       received_at, clock_timestamp(), trace_id
FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::timestamptz[], $11::text[])
     WITH ORDINALITY AS h(tevo_order_id, order_group_id, recipient, event_type, message_id,
                          state, note, received_at, trace_id, n)
ORDER BY n
ON CONFLICT (consumer, message_id) DO NOTHING
"""
# What a handler that returned nothing applied: its inbox row, and no history row.
UNRECORDED = Applied(None, "")


@dataclass(frozen=True)
class Step:
    """What applying one message came to: applied, a duplicate (`applied` None), or an error."""

    applied: Applied | None = None
    error: ProcessingError | None = None
    received_at: datetime | None = None


def conclusion(batch: Sequence[Inbound], steps: Sequence[Step]) -> tuple[object, ...] | None:
    """The parameters of `CONCLUDE_SQL` after the consumer: the claims to withdraw (the
    failed messages') and the history rows of the applied ones, as arrays; None: neither."""
    failed = [inbound.message_id for inbound, step in zip(batch, steps, strict=True) if step.error]
    rows = [
        history_row(inbound, step.applied)
        for inbound, step in zip(batch, steps, strict=True)
        if step.applied is not None and step.applied is not UNRECORDED
    ]
    if not failed and not rows:
        return None
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 9
    return (failed, *columns)


def history_row(inbound: Inbound, applied: Applied) -> tuple[object, ...]:
    """One message's row of `pos.order_history`, as `CONCLUDE_SQL` lists its columns."""
    return (
        applied.tevo_order_id,
        inbound.order_group_id,
        inbound.recipient,
        inbound.event_type,
        inbound.message_id,
        applied.state,
        note_of(applied.note, inbound),
        inbound.received_at,
        trace_id_of(inbound.headers),  # the webhook's trace, from the ingress's POST on
    )


def note_of(note: str, inbound: Inbound) -> str:
    # History shows a message that was not a webhook, e.g. "sale recorded (via reconcile)".
    source = inbound.headers.get(h.HEADER_SOURCE)
    return f"{note} (via {source})" if isinstance(source, str) and source else note
