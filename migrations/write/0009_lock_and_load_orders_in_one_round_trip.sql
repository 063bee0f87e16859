-- A unit's order locks and its order look-up in one round trip (issue 10: under load a round
-- trip to the database costs about 0.2 ms, the unit's profile showed eight of them, and
-- these two statements were back to back on every unit).
--
-- They were two statements for a reason that still holds: the look-up must see what the
-- previous holder of an order's lock committed, so it must start after the locks are
-- granted. One plain statement cannot do both (its snapshot is taken before it waits for a
-- lock). A VOLATILE function's statements each take a fresh snapshot under READ COMMITTED,
-- so the look-up below sees every commit up to the moment the locks were granted.
--
-- The locks: transaction-scoped advisory locks on a hash of each order id, taken in one
-- sorted order (two units never wait for each other in a cycle). The look-up: each order and
-- the cancel waiting for it, if any.
CREATE FUNCTION lock_and_load_orders(ids text[])
RETURNS TABLE (
    order_id            text,
    user_id             text,
    status              text,
    reason              text,
    version             bigint,
    created_at          timestamptz,
    lines               json,
    pending_command_id  text,
    pending_reason      text
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(keys.k)
    FROM (SELECT DISTINCT hashtextextended(id, 7) AS k FROM unnest(ids) AS id ORDER BY k) AS keys;
    RETURN QUERY
    SELECT t.id, o.user_id, o.status, o.reason, o.version, o.created_at, o.lines,
           p.command_id, p.reason
    FROM (SELECT DISTINCT id FROM unnest(ids) AS id) AS t
    LEFT JOIN orders o ON o.order_id = t.id
    LEFT JOIN pending_cancels p ON p.order_id = t.id
    WHERE o.order_id IS NOT NULL OR p.order_id IS NOT NULL;
END;
$$;
