-- The latest version of each TEvo catalog event (webhooks event_created, event_updated,
-- event_deleted), so that catalog webhooks are applied, not left to pile up in a queue.

CREATE TABLE pos.catalog_events (
    event_id          bigint PRIMARY KEY,
    name              text,
    occurs_at         timestamptz,
    venue_id          bigint,
    venue_name        text,
    state             text,
    -- updated_at and webhook type of the body kept: an older body never replaces it
    event_updated_at  timestamptz,
    event_type        text NOT NULL,
    -- set by event_deleted, and kept: a late event_updated does not bring the event back
    deleted_at        timestamptz,
    raw               jsonb NOT NULL,
    message_id        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_events_occurs_idx ON pos.catalog_events (occurs_at) WHERE deleted_at IS NULL;
