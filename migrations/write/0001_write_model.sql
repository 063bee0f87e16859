-- The write model: stock of record, orders, the inbox that makes every command's effect
-- happen once, kept invalid and conflicting commands, cancels that came before their order,
-- and the outbox, which is also the event log that `verify` and `rebuild` replay.

CREATE TABLE products (
    product_id  TEXT PRIMARY KEY,
    name        TEXT,
    available   BIGINT NOT NULL CHECK (available >= 0),
    restocked   BIGINT NOT NULL DEFAULT 0,
    confirmed   BIGINT NOT NULL DEFAULT 0,
    cancelled   BIGINT NOT NULL DEFAULT 0,
    -- bumped on every change: the stock cache remembers it, and a write conditional on it
    -- catches a stale cache
    version     BIGINT NOT NULL DEFAULT 0,
    -- the highest lock fencing token that wrote this row: an older lock holder is refused
    fence       BIGINT NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT stock_is_conserved CHECK (restocked - confirmed + cancelled = available)
);

CREATE TABLE orders (
    order_id    TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('confirmed', 'rejected', 'cancelled')),
    reason      TEXT,
    command_id  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE order_lines (
    order_id    TEXT NOT NULL REFERENCES orders (order_id),
    line_no     INT NOT NULL,
    product_id  TEXT NOT NULL,
    quantity    INT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, product_id)
);

-- One row per command ever applied, kept forever (not a 5-minute window): its primary key
-- is the guard that makes a redelivered command a no-op.
CREATE TABLE inbox (
    command_id    TEXT PRIMARY KEY,
    -- decision order: rows of one batch in arrival order, conflicting batches in commit
    -- order (they are serialised by the locks), so replaying by seq reproduces the state
    seq           BIGSERIAL NOT NULL UNIQUE,
    fingerprint   TEXT NOT NULL,
    command_type  TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    reason        TEXT,
    command       JSONB NOT NULL,
    message_id    TEXT,
    processed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Messages that are not valid contract-v1 commands, kept byte for byte for an operator.
CREATE TABLE invalid_commands (
    id           BIGSERIAL PRIMARY KEY,
    message_id   TEXT NOT NULL UNIQUE,
    body         TEXT NOT NULL,
    error_code   TEXT NOT NULL,
    field        TEXT,
    error        TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    replayed_at  TIMESTAMPTZ
);

-- A known command_id arriving with a different body: no effect, kept for an operator.
CREATE TABLE conflicting_commands (
    id           BIGSERIAL PRIMARY KEY,
    message_id   TEXT NOT NULL UNIQUE,
    command_id   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A CancelOrder that arrived before its PlaceOrder.
CREATE TABLE pending_cancels (
    order_id     TEXT PRIMARY KEY,
    command_id   TEXT NOT NULL,
    reason       TEXT,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Change events, written in the same transaction as the change they describe.
CREATE TABLE outbox (
    id                 BIGSERIAL PRIMARY KEY,
    event_id           UUID NOT NULL UNIQUE,
    aggregate_type     TEXT NOT NULL,
    aggregate_id       TEXT NOT NULL,
    aggregate_version  BIGINT NOT NULL,
    event_type         TEXT NOT NULL,
    payload            JSONB NOT NULL,
    occurred_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at       TIMESTAMPTZ,
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Wakes the relay as soon as events commit; it polls as well, since a NOTIFY sent while it
-- was disconnected is lost.
CREATE FUNCTION notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fulfil_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();
