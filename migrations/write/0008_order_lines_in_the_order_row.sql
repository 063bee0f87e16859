-- An order's lines move into the order's own row: one row and one index entry fewer for
-- every order the hot path writes, and one statement fewer per unit (issue 10: after 0006
-- and 0007 a placed order still cost the orders row, a line row per line with its key, the
-- inbox row and the event). Lines are written once, with their new order, in its
-- transaction, and only ever read whole with it (the worker's order look-up, the checker),
-- so a table of their own bought nothing but a join.
--
-- `json`, like the outbox payload and the inbox command (0003): written by our own
-- serializer, never searched on the hot path. The shape is the contract's:
-- [{"product_id": "...", "quantity": n}, ...] in line order.
--
-- The UPDATE rewrites every order row once; on a large table run it in a quiet hour (the
-- README's "Table growth" section says how large the tables get).
ALTER TABLE orders ADD COLUMN lines json;
UPDATE orders o SET lines = coalesce(
    (SELECT json_agg(json_build_object('product_id', l.product_id, 'quantity', l.quantity)
                     ORDER BY l.line_no)
     FROM order_lines l WHERE l.order_id = o.order_id),
    '[]');
ALTER TABLE orders ALTER COLUMN lines SET NOT NULL;
DROP TABLE order_lines;
