-- Buyer-side webhooks on purchase orders: the seller's brokerage, the amounts 001 left out, the
-- version of the delivery state, in-hand dates per line, and e-ticket finalizations that arrived
-- before their purchase order.

ALTER TABLE pos.purchase_orders
    ADD COLUMN seller_brokerage_id    bigint,
    ADD COLUMN seller_brokerage_name  text,
    ADD COLUMN additional_expense     numeric,
    ADD COLUMN discount               numeric,
    ADD COLUMN balance                numeric,
    -- updated_at of the order body that set delivery_state: an older one never moves it back
    ADD COLUMN delivery_updated_at    timestamptz;

ALTER TABLE pos.purchase_order_lines
    ADD COLUMN remote_id   text,
    ADD COLUMN in_hand_on  date;

-- etickets_finalized for a line the POS does not have yet (its order_accepted is late, or the
-- line is not in the order body applied so far). Applied and deleted when the line appears.
CREATE TABLE pos.pending_eticket_finalizations (
    id               bigserial PRIMARY KEY,
    tevo_order_id    bigint NOT NULL,
    tevo_item_id     bigint,
    ticket_group_id  bigint,
    finalized_at     timestamptz NOT NULL,
    message_id       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (tevo_item_id IS NOT NULL OR ticket_group_id IS NOT NULL)
);
CREATE INDEX pending_eticket_finalizations_order_idx
    ON pos.pending_eticket_finalizations (tevo_order_id);
