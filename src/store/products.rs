//! Products: the stock of record. Every write is conditional on the version the stock was
//! read at and on the lock's fencing token, so a stale cache or a worker whose lock expired
//! cannot overwrite a newer state: it is told `Stale` and starts over.

use std::collections::BTreeMap;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row as _};

use super::{PgQuery, StoreError};
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
    /// False for a product only read: the write then checks that the row is still at the
    /// version read (and claims the fence) without changing it.
    pub changed: bool,
}

impl ProductWrite {
    /// The version the row has after this write.
    pub fn new_version(&self) -> i64 {
        self.read_version.unwrap_or(0) + i64::from(self.changed)
    }
}

/// The writes to known products (updates) and to new ones (creates).
pub(super) fn split(writes: &[ProductWrite]) -> (Vec<&ProductWrite>, Vec<&ProductWrite>) {
    writes.iter().partition(|w| w.read_version.is_some())
}

/// Updates known products (`bind` gives the parameters), returning the ids of the rows
/// updated: those still at the version read and not fenced by a newer lock holder (`<=`: a
/// lease kept across units writes with the same token again).
pub(super) const UPDATE: &str =
    "UPDATE products p SET name = u.name, available = u.available, restocked = u.restocked,
         confirmed = u.confirmed, cancelled = u.cancelled, version = p.version + u.bump,
         fence = u.fence, updated_at = now()
     FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::int8[],
                               $9::int8[])
          AS u(id, name, available, restocked, confirmed, cancelled, fence, expected, bump)
     WHERE p.product_id = u.id AND p.version = u.expected AND p.fence <= u.fence
       AND p.product_id = ANY($1::text[])
     RETURNING p.product_id";

/// Binds [`UPDATE`]'s parameters for `writes`.
pub(super) fn bind<'q>(query: PgQuery<'q>, writes: &[&'q ProductWrite]) -> PgQuery<'q> {
    let number = |f: fn(&ProductWrite) -> i64| writes.iter().map(|w| f(w)).collect::<Vec<i64>>();
    let ids: Vec<&str> = writes.iter().map(|w| w.product_id.as_str()).collect();
    let names: Vec<Option<&str>> = writes.iter().map(|w| w.product.name.as_deref()).collect();
    query
        .bind(ids)
        .bind(names)
        .bind(number(|w| w.product.available))
        .bind(number(|w| w.product.restocked))
        .bind(number(|w| w.product.confirmed))
        .bind(number(|w| w.product.cancelled))
        .bind(number(|w| w.fence))
        .bind(number(|w| w.read_version.unwrap_or(-1)))
        .bind(number(|w| i64::from(w.changed)))
}

/// The product ids [`UPDATE`] returned.
pub(super) fn updated_ids(rows: &[PgRow]) -> Result<Vec<String>, StoreError> {
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

/// `Stale`, naming the first update whose row [`UPDATE`] did not return.
pub(super) fn check_updated(
    updates: &[&ProductWrite],
    updated: &[String],
) -> Result<(), StoreError> {
    match updates.iter().find(|w| !updated.contains(&w.product_id)) {
        Some(stale) => Err(StoreError::Stale {
            product_id: stale.product_id.clone(),
        }),
        None => Ok(()),
    }
}

/// Inserts new products one by one; `Stale` if one exists already (created meanwhile).
pub(super) async fn create(
    conn: &mut PgConnection,
    creates: &[&ProductWrite],
) -> Result<(), StoreError> {
    for w in creates {
        if !insert(conn, w).await? {
            return Err(StoreError::Stale {
                product_id: w.product_id.clone(),
            });
        }
    }
    Ok(())
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
