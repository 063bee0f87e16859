-- Two index entries fewer for every order the hot path writes (issue 10's profile: per
-- order, four rows and nine index entries are what the ceiling does not pay). Measured side
-- by side in one database (pgbench, one unit of 150 orders per transaction, the three
-- variants interleaved, three runs): 3.7, 6.8 and 9.6 % less server time per unit
-- without these two.
--
-- 1. inbox.seq keeps its sequence but loses its unique index: the sequence alone hands out
--    each value once, and the only reader (the invariant checker's replay) reads the whole
--    inbox in seq order, a sort it does once, not a look-up per row.
-- 2. order_lines loses UNIQUE (order_id, product_id): the contract refuses an order that
--    names a product twice (a `Duplicate` error on `lines[i].product_id`) before
--    anything is written, and lines are only written with their new order, in its
--    transaction. The invariant checker still finds a product named twice in one order.
--    The primary key (order_id, line_no) stays: it serves the look-up of an order's lines.
ALTER TABLE inbox DROP CONSTRAINT inbox_seq_key;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_product_id_key;
