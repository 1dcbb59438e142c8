-- The Point of Sale: customers, sales and their invoices, purchase orders, and the history of
-- every applied webhook. TEvo ids are bigint; money is numeric; time is timestamptz.

CREATE TABLE pos.customers (
    id              bigserial PRIMARY KEY,
    tevo_client_id  bigint UNIQUE,
    tevo_office_id  bigint UNIQUE,
    name            text,
    email           text,
    phone           text,
    address         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- The matching rule finds a client by e-mail, case-insensitive and trimmed: one customer each.
CREATE UNIQUE INDEX customers_email_key ON pos.customers (lower(btrim(email)))
    WHERE email IS NOT NULL AND tevo_office_id IS NULL;

CREATE TABLE pos.sales (
    id                  bigserial PRIMARY KEY,
    tevo_order_id       bigint NOT NULL UNIQUE,
    order_group_id      bigint NOT NULL,
    oid                 text,
    buyer_type          text,
    buyer_id            bigint,
    customer_id         bigint REFERENCES pos.customers (id),
    fraud_check_status  text,
    -- updated_at of the webhook the fraud status came from: older ones never move it back
    fraud_status_at     timestamptz,
    status              text NOT NULL CHECK (status IN
        ('awaiting_fraud_check', 'invoiced', 'fraud_declined', 'needs_review', 'canceled')),
    -- set when a person should look: why (NULL when nothing is wrong)
    review_reason       text,
    state               text,
    subtotal            numeric,
    service_fee         numeric,
    shipping            numeric,
    tax                 numeric,
    total               numeric,
    -- updated_at of the newest order body applied; states and amounts follow it
    order_updated_at    timestamptz,
    delivery_state      text,
    raw                 jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sales_status_idx ON pos.sales (status);
CREATE INDEX sales_review_idx ON pos.sales (tevo_order_id) WHERE review_reason IS NOT NULL;

CREATE TABLE pos.invoices (
    id                  bigserial PRIMARY KEY,
    tevo_order_id       bigint NOT NULL UNIQUE REFERENCES pos.sales (tevo_order_id),
    customer_id         bigint NOT NULL REFERENCES pos.customers (id),
    subtotal            numeric,
    service_fee         numeric,
    shipping            numeric,
    tax                 numeric,
    additional_expense  numeric,
    discount            numeric,
    total               numeric NOT NULL,
    voided_at           timestamptz,
    void_reason         text,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pos.invoice_lines (
    id               bigserial PRIMARY KEY,
    invoice_id       bigint NOT NULL REFERENCES pos.invoices (id),
    tevo_item_id     bigint,
    ticket_group_id  bigint,
    remote_id        text,
    section          text,
    row              text,
    seats            text,
    quantity         integer NOT NULL,
    price            numeric NOT NULL,
    event_id         bigint,
    event_name       text,
    event_occurs_at  timestamptz
);
CREATE INDEX invoice_lines_invoice_idx ON pos.invoice_lines (invoice_id);

CREATE TABLE pos.purchase_orders (
    id                bigserial PRIMARY KEY,
    tevo_order_id     bigint NOT NULL UNIQUE,
    order_group_id    bigint NOT NULL,
    oid               text,
    seller_type       text,
    seller_id         bigint,
    seller_name       text,
    status            text NOT NULL CHECK (status IN ('open', 'canceled', 'rejected', 'completed')),
    state             text,
    subtotal          numeric,
    service_fee       numeric,
    shipping          numeric,
    tax               numeric,
    total             numeric,
    order_updated_at  timestamptz,
    delivery_state    text,
    in_hand_on        date,
    raw               jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pos.purchase_order_lines (
    id                     bigserial PRIMARY KEY,
    purchase_order_id      bigint NOT NULL REFERENCES pos.purchase_orders (id),
    tevo_item_id           bigint,
    ticket_group_id        bigint,
    section                text,
    row                    text,
    seats                  text,
    quantity               integer NOT NULL,
    price                  numeric NOT NULL,
    event_id               bigint,
    event_name             text,
    event_occurs_at        timestamptz,
    etickets_finalized_at  timestamptz,
    UNIQUE (purchase_order_id, tevo_item_id)
);

CREATE TABLE pos.order_history (
    id              bigserial PRIMARY KEY,
    tevo_order_id   bigint,
    order_group_id  bigint,
    recipient       text NOT NULL,
    event_type      text NOT NULL,
    message_id      text NOT NULL,
    consumer        text NOT NULL,
    state           text,
    note            text,
    received_at     timestamptz,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, message_id)
);
CREATE INDEX order_history_order_idx ON pos.order_history (tevo_order_id, applied_at);

-- One row per message a consumer applied: a redelivery or a TEvo retry finds its row and is a
-- no-op. Written in the same transaction as the change it records.
CREATE TABLE pos.inbox (
    consumer    text NOT NULL,
    message_id  text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
