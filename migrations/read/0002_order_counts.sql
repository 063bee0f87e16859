-- Orders by status, maintained by the projector in the same transaction as the views (and
-- set by `rebuild`), so /v1/stats reads one row instead of counting every order. The
-- counts start from the rows already projected.
ALTER TABLE projection_state
    ADD COLUMN orders_confirmed BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN orders_rejected  BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN orders_cancelled BIGINT NOT NULL DEFAULT 0;

UPDATE projection_state SET
    orders_confirmed = (SELECT count(*) FROM read_orders WHERE status = 'confirmed'),
    orders_rejected  = (SELECT count(*) FROM read_orders WHERE status = 'rejected'),
    orders_cancelled = (SELECT count(*) FROM read_orders WHERE status = 'cancelled')
WHERE id = 1;
