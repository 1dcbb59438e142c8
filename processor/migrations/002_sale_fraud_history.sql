-- What the sales rules need beyond 001 to give the same result in any delivery order.

-- Every fraud decision a sale has seen, not only the newest: a sale that saw both `approved`
-- and `declined` is flagged for review whatever order they arrived in.
ALTER TABLE pos.sales
    ADD COLUMN fraud_approved_seen  boolean NOT NULL DEFAULT false,
    ADD COLUMN fraud_declined_seen  boolean NOT NULL DEFAULT false;

-- SHA-256 of the newest body applied: two bodies with the same updated_at and fraud status are
-- ordered by it, so the body that wins does not depend on which arrived first.
ALTER TABLE pos.sales ADD COLUMN order_digest text;

-- Operators look for sales to review with this predicate (see README, "Sales rules").
DROP INDEX pos.sales_review_idx;
CREATE INDEX sales_review_idx ON pos.sales (tevo_order_id)
    WHERE review_reason IS NOT NULL OR status = 'needs_review';
