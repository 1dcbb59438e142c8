-- Retention and erasure (docs/operations.md, "Data lifecycle"): what `retention run` and
-- `privacy erase` need to find their rows without scanning. Their acts are recorded in
-- pos.audit (008).

-- A body masked by retention keeps this mark, so a run does not mask it again; a sale or a
-- purchase order written since (`updated_at` later) holds a new body and is masked again later.
ALTER TABLE pos.sales ADD COLUMN pii_masked_at timestamptz;
ALTER TABLE pos.purchase_orders ADD COLUMN pii_masked_at timestamptz;
ALTER TABLE pos.sale_versions ADD COLUMN pii_masked_at timestamptz;
-- An erased customer keeps its row (invoices point at it) and its TEvo ids (a resent order
-- finds it again instead of making a new customer), not its name, e-mail, phone or address.
ALTER TABLE pos.customers ADD COLUMN erased_at timestamptz;

CREATE INDEX inbox_applied_idx ON pos.inbox (applied_at);
CREATE INDEX order_history_applied_idx ON pos.order_history (applied_at);
CREATE INDEX sale_versions_unmasked_idx ON pos.sale_versions (received_at)
    WHERE pii_masked_at IS NULL;
CREATE INDEX sales_updated_idx ON pos.sales (updated_at);
CREATE INDEX purchase_orders_updated_idx ON pos.purchase_orders (updated_at);
