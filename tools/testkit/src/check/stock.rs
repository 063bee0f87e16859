//! Checks made in the write database itself: no oversell, stock arithmetic per product,
//! totals that match the orders, orders whole (each with its lines), one effect per
//! command, and an event for every change.

use sqlx::PgPool;

use super::CheckReport;
use fulfil::store::StoreError;

/// Every order line as a row (`order_id`, `line_no` from 0, `product_id`, `quantity`), read
/// from the orders' `lines` (migration 0008): the subquery the line rules share. Lines that
/// are not an array read as none (the lines rule reports them).
macro_rules! lines {
    () => {
        "(SELECT o.order_id, e.n - 1 AS line_no, e.line->>'product_id' AS product_id,
                 (e.line->>'quantity')::bigint AS quantity
          FROM orders o, json_array_elements(CASE json_typeof(o.lines) WHEN 'array' THEN o.lines ELSE '[]' END)
               WITH ORDINALITY AS e(line, n))"
    };
}

/// (invariant, SQL returning one text row per violation).
const CHECKS: &[(&str, &str)] = &[
    ("no oversell", "SELECT format('product %s: available %s', product_id, available) FROM products WHERE available < 0"),
    ("stock arithmetic", "SELECT format('product %s: restocked %s - confirmed %s + cancelled %s <> available %s', product_id, restocked, confirmed, cancelled, available)
        FROM products WHERE restocked - confirmed + cancelled <> available"),
    // Decisions come from the inbox (the record of what was decided), lines from the orders.
    ("confirmed units match the orders", concat!("SELECT format('product %s: confirmed %s but confirmed order lines say %s', p.product_id, p.confirmed, coalesce(t.units, 0))
        FROM products p LEFT JOIN (
            SELECT l.product_id, sum(l.quantity) AS units FROM ", lines!(), " l JOIN inbox i
            ON i.command_type = 'PlaceOrder' AND i.outcome = 'CONFIRMED' AND i.command->>'order_id' = l.order_id
            GROUP BY l.product_id) t USING (product_id)
        WHERE p.confirmed <> coalesce(t.units, 0)")),
    ("cancelled units match the orders", concat!("SELECT format('product %s: cancelled %s but cancelled order lines say %s', p.product_id, p.cancelled, coalesce(t.units, 0))
        FROM products p LEFT JOIN (
            SELECT l.product_id, sum(l.quantity) AS units FROM ", lines!(), " l JOIN inbox i
            ON i.command_type = 'CancelOrder' AND i.outcome = 'CANCELLED' AND i.command->>'order_id' = l.order_id
            GROUP BY l.product_id) t USING (product_id)
        WHERE p.cancelled <> coalesce(t.units, 0)")),
    ("restocked units match the restocks", "SELECT format('product %s: restocked %s but applied restocks say %s', p.product_id, p.restocked, coalesce(t.units, 0))
        FROM products p LEFT JOIN (
            SELECT command->>'product_id' AS product_id, sum((command->>'quantity')::bigint) AS units
            FROM inbox WHERE outcome = 'RESTOCKED' GROUP BY 1) t USING (product_id)
        WHERE p.restocked <> coalesce(t.units, 0)"),
    ("one order per placing command", "SELECT format('order %s: %s placing commands in the inbox', o.order_id, count(i.command_id))
        FROM orders o LEFT JOIN inbox i ON i.command_type = 'PlaceOrder' AND i.command->>'order_id' = o.order_id
            AND i.outcome IN ('CONFIRMED', 'REJECTED', 'CANCELLED_BEFORE_PLACE')
        GROUP BY o.order_id HAVING count(i.command_id) <> 1"),
    // Lines live in the order's own row (migration 0008) as JSON the schema does not check:
    // the checker does (their table had a foreign key until 0003 and a positive-quantity
    // check until 0008).
    ("every order has its lines, each a product and a positive quantity", concat!("SELECT format('order %s: lines %s', order_id, lines)
        FROM orders WHERE json_array_length(CASE json_typeof(lines) WHEN 'array' THEN lines ELSE '[]' END) = 0
        UNION ALL
        SELECT format('order %s: line %s has product %s and quantity %s', order_id, line_no, coalesce(product_id, 'none'), coalesce(quantity::text, 'none'))
        FROM ", lines!(), " l WHERE product_id IS NULL OR product_id = '' OR quantity IS NULL OR quantity <= 0")),
    // Migration 0006 dropped the unique (order, product) key: the contract refuses such an
    // order before anything is written, and the checker makes sure of it.
    ("no product twice in one order", concat!("SELECT format('order %s: product %s on %s lines', order_id, product_id, count(*))
        FROM ", lines!(), " l GROUP BY order_id, product_id HAVING count(*) > 1")),
    ("every order change has its event", "SELECT format('order %s: version %s but %s events (last %s)', o.order_id, o.version, count(e.id), max(e.aggregate_version))
        FROM orders o LEFT JOIN outbox e ON e.aggregate_type = 'order' AND e.aggregate_id = o.order_id
        GROUP BY o.order_id, o.version HAVING count(e.id) <> o.version OR max(e.aggregate_version) <> o.version"),
    ("every stock change has its event", "SELECT format('product %s: version %s but %s events (last %s)', p.product_id, p.version, count(e.id), max(e.aggregate_version))
        FROM products p LEFT JOIN outbox e ON e.aggregate_type = 'product' AND e.aggregate_id = p.product_id
        GROUP BY p.product_id, p.version HAVING count(e.id) <> p.version OR max(e.aggregate_version) <> p.version"),
];

pub async fn check(pool: &PgPool, report: &mut CheckReport) -> Result<(), StoreError> {
    for (invariant, sql) in CHECKS {
        let found: Vec<String> = sqlx::query_scalar(sql).fetch_all(pool).await?;
        if *invariant == "no oversell" {
            report.oversold = found.len();
        }
        for detail in found {
            report.violation(invariant, detail);
        }
    }
    Ok(())
}
