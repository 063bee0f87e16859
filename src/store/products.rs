//! Products: the stock of record. Every write is conditional on the version the stock was
//! read at and on the lock's fencing token, so a stale cache or a worker whose lock expired
//! cannot overwrite a newer state: it is told `Stale` and starts over.

use std::collections::BTreeMap;

use sqlx::{PgConnection, PgExecutor};

use super::StoreError;
use crate::domain::Product;

/// A product as stored, with what guards its next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProduct {
    pub product: Product,
    pub version: i64,
    pub fence: i64,
}

type Row = (String, Option<String>, i64, i64, i64, i64, i64, i64);

pub async fn load<'e>(
    db: impl PgExecutor<'e>,
    ids: &[String],
) -> Result<BTreeMap<String, StoredProduct>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT product_id, name, available, restocked, confirmed, cancelled, version, fence
         FROM products WHERE product_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

fn from_row(
    (id, name, available, restocked, confirmed, cancelled, version, fence): Row,
) -> (String, StoredProduct) {
    let product = Product {
        name,
        available,
        restocked,
        confirmed,
        cancelled,
    };
    (
        id,
        StoredProduct {
            product,
            version,
            fence,
        },
    )
}

/// One product's new state. `read_version` None means the product is new.
#[derive(Debug, Clone)]
pub struct ProductWrite {
    pub product_id: String,
    pub product: Product,
    pub read_version: Option<i64>,
    pub fence: i64,
}

impl ProductWrite {
    /// The version the row has after this write.
    pub fn new_version(&self) -> i64 {
        self.read_version.unwrap_or(0) + 1
    }
}

/// Writes every product or fails with `Stale` naming one that moved on.
pub async fn write(conn: &mut PgConnection, writes: &[ProductWrite]) -> Result<(), StoreError> {
    for w in writes {
        let written = match w.read_version {
            Some(version) => update(conn, w, version).await?,
            None => insert(conn, w).await?,
        };
        if !written {
            return Err(StoreError::Stale {
                product_id: w.product_id.clone(),
            });
        }
    }
    Ok(())
}

async fn update(
    conn: &mut PgConnection,
    w: &ProductWrite,
    version: i64,
) -> Result<bool, StoreError> {
    let p = &w.product;
    let done = sqlx::query(
        "UPDATE products SET name = $2, available = $3, restocked = $4, confirmed = $5,
             cancelled = $6, version = version + 1, fence = $7, updated_at = now()
         WHERE product_id = $1 AND version = $8 AND fence < $7",
    )
    .bind(&w.product_id)
    .bind(&p.name)
    .bind(p.available)
    .bind(p.restocked)
    .bind(p.confirmed)
    .bind(p.cancelled)
    .bind(w.fence)
    .bind(version)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

async fn insert(conn: &mut PgConnection, w: &ProductWrite) -> Result<bool, StoreError> {
    let p = &w.product;
    let done = sqlx::query(
        "INSERT INTO products (product_id, name, available, restocked, confirmed, cancelled, version, fence)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT (product_id) DO NOTHING",
    )
    .bind(&w.product_id)
    .bind(&p.name)
    .bind(p.available)
    .bind(p.restocked)
    .bind(p.confirmed)
    .bind(p.cancelled)
    .bind(w.fence)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
