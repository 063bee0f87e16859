//! The two halves of `rebuild` that touch the read tables: filling fresh tables shaped like
//! the live ones (while the API and the projector go on using the live ones), then one short
//! transaction that catches up on what the projector applied meanwhile, puts the fresh
//! tables in the live ones' place, gives their indexes the live names back, and sets
//! `projection_state`.

use sqlx::{Connection, PgConnection, PgPool};

use super::counts::StatusCounts;
use super::log;
use super::model::{OrderView, ProductView, ReadModel};
use super::tables;
use crate::contract::event::AggregateType;
use crate::db::{Database, DbError};

/// Each live table and the table it is rebuilt into.
pub const TABLES: [(&str, &str); 2] = [
    ("read_orders", "read_orders_rebuild"),
    ("read_products", "read_products_rebuild"),
];

/// Creates the rebuild tables afresh (`LIKE … INCLUDING ALL`: columns, defaults, checks,
/// indexes) and writes every view of `model` into them.
pub async fn prepare(conn: &mut PgConnection, model: &ReadModel) -> Result<(), sqlx::Error> {
    for (live, fresh) in TABLES {
        sqlx::query(&format!("DROP TABLE IF EXISTS {fresh}"))
            .execute(&mut *conn)
            .await?;
        sqlx::query(&format!("CREATE TABLE {fresh} (LIKE {live} INCLUDING ALL)"))
            .execute(&mut *conn)
            .await?;
    }
    let orders: Vec<&OrderView> = model.orders.values().collect();
    tables::write_orders(conn, TABLES[0].1, &orders).await?;
    let products: Vec<&ProductView> = model.products.values().collect();
    tables::write_products(conn, TABLES[1].1, &products).await
}

/// Swaps the rebuilt tables in. The live tables are locked against writes (the API may
/// still read them until the renames), and every aggregate the projector moved past the
/// rebuild meanwhile is brought up to date from the log, never copied from the live row.
/// Returns how many events that caught up.
pub async fn swap(
    write: &PgPool,
    conn: &mut PgConnection,
    model: &mut ReadModel,
) -> Result<u64, DbError> {
    let read_err = |source| DbError::Query {
        database: Database::Read,
        source,
    };
    let mut tx = conn.begin().await.map_err(read_err)?;
    sqlx::query("LOCK TABLE read_orders, read_products IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .map_err(read_err)?;
    let ahead = live_ahead(&mut tx).await.map_err(read_err)?;
    let caught_up = log::catch_up(write, model, &ahead)
        .await
        .map_err(|source| DbError::Query {
            database: Database::Write,
            source,
        })?;
    write_views(&mut tx, model, &ahead)
        .await
        .map_err(read_err)?;
    for (live, fresh) in TABLES {
        exchange(&mut tx, live, fresh).await.map_err(read_err)?;
    }
    set_state(&mut tx, model).await.map_err(read_err)?;
    grant_reader(&mut tx).await.map_err(read_err)?;
    tx.commit().await.map_err(read_err)?;
    Ok(caught_up)
}

/// Aggregates whose live row is newer than the rebuilt one, or has none.
async fn live_ahead(conn: &mut PgConnection) -> Result<Vec<(AggregateType, String)>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT 'order', l.order_id FROM read_orders l
             LEFT JOIN read_orders_rebuild r USING (order_id)
             WHERE r.version IS NULL OR l.version > r.version
         UNION ALL
         SELECT 'product', l.product_id FROM read_products l
             LEFT JOIN read_products_rebuild r USING (product_id)
             WHERE r.version IS NULL OR l.version > r.version",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, id)| match kind.as_str() {
            "order" => (AggregateType::Order, id),
            _ => (AggregateType::Product, id),
        })
        .collect())
}

async fn write_views(
    conn: &mut PgConnection,
    model: &ReadModel,
    aggregates: &[(AggregateType, String)],
) -> Result<(), sqlx::Error> {
    let of = |kind: AggregateType| aggregates.iter().filter(move |(t, _)| *t == kind);
    let orders: Vec<&OrderView> = of(AggregateType::Order)
        .filter_map(|(_, id)| model.orders.get(id))
        .collect();
    let products: Vec<&ProductView> = of(AggregateType::Product)
        .filter_map(|(_, id)| model.products.get(id))
        .collect();
    tables::write_orders(conn, TABLES[0].1, &orders).await?;
    tables::write_products(conn, TABLES[1].1, &products).await
}

/// live → old, fresh → live, old dropped, then the fresh indexes renamed to the names the
/// live ones had (`LIKE` made up new names; migrations refer to the original ones).
async fn exchange(conn: &mut PgConnection, live: &str, fresh: &str) -> Result<(), sqlx::Error> {
    let renames = index_renames(conn, live, fresh).await?;
    let old = format!("{live}_old");
    for sql in [
        format!("DROP TABLE IF EXISTS {old}"),
        format!("ALTER TABLE {live} RENAME TO {old}"),
        format!("ALTER TABLE {fresh} RENAME TO {live}"),
        format!("DROP TABLE {old}"),
    ] {
        sqlx::query(&sql).execute(&mut *conn).await?;
    }
    for (from, to) in renames {
        sqlx::query(&format!(
            "ALTER INDEX {} RENAME TO {}",
            quote(&from),
            quote(&to)
        ))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// (fresh index, live index) pairs of the same kind and definition, names aside.
async fn index_renames(
    conn: &mut PgConnection,
    live: &str,
    fresh: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut fresh_indexes = indexes(conn, fresh).await?;
    let mut renames = Vec::new();
    for (name, shape) in indexes(conn, live).await? {
        match fresh_indexes.iter().position(|(_, s)| *s == shape) {
            Some(i) => {
                let (new_name, _) = fresh_indexes.swap_remove(i);
                if new_name != name {
                    renames.push((new_name, name));
                }
            }
            None => tracing::warn!(index = %name, "no rebuilt index matches this live index"),
        }
    }
    Ok(renames)
}

/// A table's indexes: name, and a shape (primary, unique, the definition after `USING`).
async fn indexes(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.relname::text,
                format('%s %s %s', x.indisprimary, x.indisunique,
                       substring(pg_get_indexdef(x.indexrelid) from ' USING .*$'))
         FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
         WHERE x.indrelid = to_regclass($1)
         ORDER BY c.relname",
    )
    .bind(table)
    .fetch_all(conn)
    .await
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The count and the lag marks of the rebuilt model.
async fn set_state(conn: &mut PgConnection, model: &ReadModel) -> Result<(), sqlx::Error> {
    let latest = model
        .orders
        .values()
        .map(|o| o.updated_at)
        .chain(model.products.values().map(|p| p.updated_at))
        .max();
    let counts = StatusCounts::of(model.orders.values().map(|o| o.status.as_str()));
    sqlx::query(
        "INSERT INTO projection_state (id, events_applied, last_occurred_at, last_applied_at,
                                       orders_confirmed, orders_rejected, orders_cancelled)
         VALUES (1, $1, $2, now(), $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET events_applied = EXCLUDED.events_applied,
             last_occurred_at = EXCLUDED.last_occurred_at, last_applied_at = EXCLUDED.last_applied_at,
             orders_confirmed = EXCLUDED.orders_confirmed, orders_rejected = EXCLUDED.orders_rejected,
             orders_cancelled = EXCLUDED.orders_cancelled",
    )
    .bind(i64::try_from(model.events_applied).unwrap_or(i64::MAX))
    .bind(latest)
    .bind(counts.confirmed)
    .bind(counts.rejected)
    .bind(counts.cancelled)
    .execute(conn)
    .await?;
    Ok(())
}

/// The API's reader role (migration `0003_api_reader`) may read the swapped-in tables too:
/// grants belong to a table, and these are new.
async fn grant_reader(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let live: Vec<&str> = TABLES.iter().map(|(live, _)| *live).collect();
    let sql = format!("GRANT SELECT ON {} TO fulfil_api_reader", live.join(", "));
    sqlx::query(&sql).execute(conn).await?;
    Ok(())
}
