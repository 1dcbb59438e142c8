"""The statements of `pos.sale_batch`: each step of settling sales done for a whole batch at once.

Each is the set-based twin of a statement of `pos.sales`, `pos.sale_versions`, `pos.sale_rows`
and `pos.invoices`, and writes the same rows in the same order (the order of its arrays).
"""

from __future__ import annotations

from processor.pos.sale_rows import SAVE_SQL
from processor.pos.sales import LOAD_SQL

# Every order's advisory lock (`pos.sales.LOCK_SQL`), ascending as a batch's single messages
# take them one after another, so a batch and a single delivery never wait the other way round.
LOCK_ALL_SQL = """
SELECT pg_advisory_xact_lock(hashtextextended('pos.sales:' || id, 0))
FROM (SELECT DISTINCT unnest($1::bigint[]) AS id ORDER BY id) AS ids
"""
LOAD_ALL_SQL = LOAD_SQL.replace("SELECT s.status,", "SELECT s.tevo_order_id, s.status,").replace(
    "WHERE s.tevo_order_id = $1", "WHERE s.tevo_order_id = ANY($1::bigint[])"
)
_STORED = "source, event_type, digest, cancels, ranked_at, verified, disputed"
# The batch's new versions inserted and every stored one loaded, in one round trip; an added row
# comes back without its body (the caller parsed it already), a stored one with it.
ADD_AND_LOAD_ALL_SQL = f"""
WITH added AS (
    INSERT INTO pos.sale_versions (tevo_order_id, source, event_type, digest, cancels, ranked_at,
                                   body)
    SELECT i.tevo_order_id, 'webhook', i.event_type, i.digest, i.cancels, i.ranked_at, i.body::jsonb
    FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
         WITH ORDINALITY AS i (tevo_order_id, event_type, digest, cancels, ranked_at, body, n)
    ORDER BY i.n
    ON CONFLICT (tevo_order_id, source, event_type, digest) DO NOTHING
    RETURNING tevo_order_id, {_STORED}
)
SELECT tevo_order_id, {_STORED}, body::text AS body, false AS added
FROM pos.sale_versions WHERE tevo_order_id = ANY($1::bigint[])
UNION ALL SELECT *, NULL, true FROM added
"""  # noqa: S608 - built from constants only
# `pos.sale_versions.record_check` for every version checked in the batch.
CHECKED_ALL_SQL = """
UPDATE pos.sale_versions v SET verified = c.verified, disputed = c.disputed
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[])
     AS c (tevo_order_id, source, event_type, digest, verified, disputed)
WHERE v.tevo_order_id = c.tevo_order_id AND v.source = c.source AND v.event_type = c.event_type
  AND v.digest = c.digest
"""

# `pos.sale_rows.SAVE_SQL` for every sale of the batch, `raw` copied from the version the sale
# shows (stored by now) instead of sent again; then the invoices the batch makes, and their lines.
_SALE_ARRAYS = """$1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[],
    $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[],
    $12::timestamptz[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::text[],
    $18::timestamptz[], $19::boolean[], $20::boolean[], $21::text[], $22::text[], $23::text[]"""
_SALE_COLUMNS = """tevo_order_id, order_group_id, oid, buyer_type, buyer_id, state, subtotal,
    service_fee, shipping, tax, total, order_updated_at, order_digest, delivery_state, source,
    customer_id, fraud_check_status, fraud_status_at, fraud_approved_seen, fraud_declined_seen,
    status, review_reason, event_type"""
_SAVE_UPDATE = SAVE_SQL[SAVE_SQL.index("ON CONFLICT") :]
_INVOICE_ARRAYS = """$24::bigint[], $25::numeric[], $26::numeric[], $27::numeric[],
    $28::numeric[], $29::numeric[], $30::numeric[], $31::numeric[], $32::text[], $33::text[]"""
_LINE_ARRAYS = """$34::bigint[], $35::bigint[], $36::bigint[], $37::text[], $38::text[],
    $39::text[], $40::text[], $41::integer[], $42::numeric[], $43::bigint[], $44::text[],
    $45::timestamptz[]"""
SAVE_ALL_SQL = f"""
WITH sale AS (
    INSERT INTO pos.sales (tevo_order_id, order_group_id, oid, buyer_type, buyer_id, state,
                           subtotal, service_fee, shipping, tax, total, order_updated_at,
                           order_digest, delivery_state, raw, customer_id, fraud_check_status,
                           fraud_status_at, fraud_approved_seen, fraud_declined_seen, status,
                           review_reason)
    SELECT s.tevo_order_id, s.order_group_id, s.oid, s.buyer_type, s.buyer_id, s.state,
           s.subtotal, s.service_fee, s.shipping, s.tax, s.total, s.order_updated_at,
           s.order_digest, s.delivery_state,
           (SELECT v.body FROM pos.sale_versions v
            WHERE v.tevo_order_id = s.tevo_order_id AND v.source = s.source
              AND v.event_type = s.event_type AND v.digest = s.order_digest),
           s.customer_id, s.fraud_check_status, s.fraud_status_at, s.fraud_approved_seen,
           s.fraud_declined_seen, s.status, s.review_reason
    FROM unnest({_SALE_ARRAYS}) WITH ORDINALITY AS s ({_SALE_COLUMNS}, n)
    ORDER BY s.n
    {_SAVE_UPDATE}
    RETURNING tevo_order_id, customer_id
), invoice AS (
    INSERT INTO pos.invoices (tevo_order_id, customer_id, subtotal, service_fee, shipping, tax,
                              additional_expense, discount, total, content_digest, voided_at,
                              void_reason)
    SELECT i.tevo_order_id, sale.customer_id, i.subtotal, i.service_fee, i.shipping, i.tax,
           i.additional_expense, i.discount, i.total, i.content_digest,
           CASE WHEN i.void_reason IS NULL THEN NULL ELSE now() END, i.void_reason
    FROM unnest({_INVOICE_ARRAYS}) WITH ORDINALITY
         AS i (tevo_order_id, subtotal, service_fee, shipping, tax, additional_expense, discount,
               total, content_digest, void_reason, n)
    JOIN sale ON sale.tevo_order_id = i.tevo_order_id
    ORDER BY i.n
    ON CONFLICT (tevo_order_id) DO NOTHING
    RETURNING id, tevo_order_id
), line AS (
    INSERT INTO pos.invoice_lines (invoice_id, tevo_item_id, ticket_group_id, remote_id, section,
                                   row, seats, quantity, price, event_id, event_name,
                                   event_occurs_at)
    SELECT invoice.id, l.item, l.tg, l.remote_id, l.section, l.row, l.seats, l.quantity,
           l.price, l.event, l.event_name, l.occurs_at
    FROM unnest({_LINE_ARRAYS}) WITH ORDINALITY
         AS l (tevo_order_id, item, tg, remote_id, section, row, seats, quantity, price, event,
               event_name, occurs_at, n)
    JOIN invoice ON invoice.tevo_order_id = l.tevo_order_id
    ORDER BY l.n
)
SELECT tevo_order_id FROM invoice
"""  # noqa: S608 - built from constants only
