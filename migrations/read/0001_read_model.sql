-- The read model: denormalised views shaped for the query API (no joins across aggregates
-- at query time), each row carrying the version of the last event applied to it.

CREATE TABLE read_orders (
    order_id    TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    lines       JSONB NOT NULL,
    version     BIGINT NOT NULL,
    placed_at   TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX read_orders_by_user ON read_orders (user_id, placed_at DESC, order_id DESC);

CREATE TABLE read_products (
    product_id       TEXT PRIMARY KEY,
    name             TEXT,
    available        BIGINT NOT NULL,
    confirmed_units  BIGINT NOT NULL,
    cancelled_units  BIGINT NOT NULL,
    version          BIGINT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Totals for /v1/stats and the event lag.
CREATE TABLE projection_state (
    id                    SMALLINT PRIMARY KEY CHECK (id = 1),
    events_applied        BIGINT NOT NULL DEFAULT 0,
    last_occurred_at      TIMESTAMPTZ,
    last_applied_at       TIMESTAMPTZ
);
INSERT INTO projection_state (id) VALUES (1);
