-- A purchase order TEvo's API did not confirm (a forged or mistaken webhook) is kept, flagged
-- with the reason, for a person to look at before paying anyone.
ALTER TABLE pos.purchase_orders ADD COLUMN review_reason text;
CREATE INDEX purchase_orders_review_idx ON pos.purchase_orders (tevo_order_id)
    WHERE review_reason IS NOT NULL;
