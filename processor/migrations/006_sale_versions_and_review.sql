-- A sale becomes a function of the set of order bodies it received (README, "Sales rules"),
-- an operator can resolve a sale for review, and purchase orders follow TEvo's word more closely.

-- Every body a sale received: its webhooks and TEvo's own copies fetched by `review recheck`.
-- The sale, its invoice and its flags are recomputed from these rows in TEvo's timeline order.
CREATE TABLE pos.sale_versions (
    id             bigserial PRIMARY KEY,
    tevo_order_id  bigint NOT NULL,
    source         text NOT NULL CHECK (source IN ('webhook', 'tevo')),
    event_type     text NOT NULL,
    -- SHA-256 of the body as received: the last tie-break between versions
    digest         text NOT NULL,
    -- why the event itself cancels the order ("order canceled"), else NULL
    cancels        text,
    -- the body's updated_at as ranked: NULL when it has none or it lies too far in the future
    ranked_at      timestamptz,
    body           jsonb NOT NULL,
    -- TEvo's API confirmed this webhook before an invoice was made from it
    verified       boolean NOT NULL DEFAULT false,
    -- TEvo's API contradicted this webhook (why, by field name): it no longer counts
    disputed       text,
    received_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tevo_order_id, source, event_type, digest)
);

-- Sales made before this migration start from their newest body, taken as applied (and so do
-- sales a processor of the previous release writes during the rollout: see
-- processor/pos/sale_versions.py, ADOPT_SQL).
INSERT INTO pos.sale_versions (tevo_order_id, source, event_type, digest, cancels, ranked_at,
                               body, verified)
SELECT tevo_order_id, 'webhook', 'order_created', coalesce(order_digest, md5(raw::text)),
       CASE WHEN status = 'canceled' THEN 'order canceled' END, order_updated_at, raw, true
FROM pos.sales;

-- An operator's decision on a sale for review (`python -m processor review resolve`): it holds
-- for the reason it answered; a different reason puts the sale back on the list.
ALTER TABLE pos.sales
    ADD COLUMN review_decision        text CHECK (review_decision IN ('invoice', 'dismiss')),
    ADD COLUMN review_decided_reason  text,
    ADD COLUMN review_decided_by      text,
    ADD COLUMN review_decided_at      timestamptz,
    ADD COLUMN review_note            text,
    -- set once, when a sale has waited longer than TEVO_FRAUD_WAIT_LIMIT for a fraud decision
    ADD COLUMN fraud_wait_exceeded_at timestamptz;
CREATE INDEX sales_awaiting_idx ON pos.sales (created_at) WHERE status = 'awaiting_fraud_check';

-- SHA-256 of the invoice's amounts and lines: a newer body that changes them amends the invoice
-- in place. Invoices made before this migration have none: the next change of their sale
-- records it without amending them.
ALTER TABLE pos.invoices
    ADD COLUMN content_digest  text,
    ADD COLUMN amended_at      timestamptz;

-- A buyer of another type (e.g. a Brokerage) gets a customer only when an operator invoices it.
ALTER TABLE pos.customers
    ADD COLUMN tevo_buyer_type  text,
    ADD COLUMN tevo_buyer_id    bigint,
    ADD CONSTRAINT customers_buyer_key UNIQUE (tevo_buyer_type, tevo_buyer_id);

-- A purchase order opened by a webhook other than order_accepted is `pending` until the
-- acceptance is seen. Orders made before this migration, or by a processor of the previous
-- release during the rollout, were taken as accepted: the default stays true, and this
-- release always writes the column.
ALTER TABLE pos.purchase_orders DROP CONSTRAINT purchase_orders_status_check;
ALTER TABLE pos.purchase_orders
    ADD CONSTRAINT purchase_orders_status_check
        CHECK (status IN ('pending', 'open', 'canceled', 'rejected', 'completed')),
    ADD COLUMN accepted_seen boolean NOT NULL DEFAULT true;

-- A line TEvo's newest version of the order no longer lists (removed, or substituted by another).
ALTER TABLE pos.purchase_order_lines ADD COLUMN removed_at timestamptz;
