-- The operator console: who may sign in, their sessions, and the record of every operator act
-- (console and command line alike).

-- A person who may sign in to the console. The password is kept only as a memory-hard hash
-- (scrypt, its parameters and salt in the string); a disabled operator cannot sign in and
-- loses every session.
CREATE TABLE pos.operators (
    name           text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);

-- A signed-in browser. Only the SHA-256 of the cookie's token is stored: a copy of this table
-- signs no one in. Each sign-in makes a new row (the session rotates); sign-out deletes it.
CREATE TABLE pos.operator_sessions (
    token_hash  text PRIMARY KEY,
    operator    text NOT NULL REFERENCES pos.operators (name),
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX operator_sessions_expiry_idx ON pos.operator_sessions (expires_at);

-- Every operator act: who, when, from where, what, and which orders and messages it touched.
-- Never a body or a buyer's details: `detail` says what was done in words.
CREATE TABLE pos.audit (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    operator     text NOT NULL,
    via          text NOT NULL CHECK (via IN ('console', 'cli')),
    action       text NOT NULL,
    order_ids    bigint[] NOT NULL DEFAULT '{}',
    message_ids  text[] NOT NULL DEFAULT '{}',
    detail       text NOT NULL DEFAULT ''
);
CREATE INDEX audit_at_idx ON pos.audit (at DESC, id DESC);
CREATE INDEX audit_orders_idx ON pos.audit USING gin (order_ids);
CREATE INDEX audit_messages_idx ON pos.audit USING gin (message_ids);

-- A notification sent (TEVO_NOTIFY_URL): one per sale that starts to need a person, one per
-- dead-lettered message, however often the condition is seen again.
CREATE TABLE pos.notifications (
    kind     text NOT NULL,
    subject  text NOT NULL,
    sent_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, subject)
);
