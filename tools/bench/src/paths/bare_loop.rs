//! The ceiling (c): "lock + one transaction of N rows" with nothing else around it. Per group
//! of N orders of one product: one Redis lock round ([`RedisMutex`]: SET NX PX, release),
//! one transaction with one guarded `UPDATE … SET available = available - $n WHERE … AND
//! available >= $n` and one set-based INSERT of the N minimal order rows (confirmed if the
//! update hit, rejected if not), commit. No parsing, inbox, outbox, cache or fencing: the
//! least a group commit can do, so ours / (c) is what our guarantees and scheduling cost.
//!
//! Each product's groups run in order in one loop, and products are spread over as many
//! loops as the cell has receivers, so (c) never waits for a lock: the best schedule a lock
//! per product allows (on a hot product, one loop).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use sqlx::PgPool;

use super::redis_mutex::RedisMutex;
use super::tables::{self, CEILING};
use crate::driver::Timed;
use crate::workload::{Generated, Group};
use crate::{BenchEnv, BenchError};
use fulfil::worker::GroupFigures;

pub(crate) struct BareLoop {
    pool: PgPool,
    prefix: String,
    mutex: RedisMutex,
}

impl BareLoop {
    pub(crate) fn new(env: &BenchEnv) -> Self {
        Self {
            pool: env.pool.clone(),
            prefix: env.key_prefix.clone(),
            mutex: RedisMutex::new(env.redis.clone(), "(c)"),
        }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn prepare(&self, generated: &Generated) -> Result<(), BenchError> {
        tables::seed_stock(&self.pool, CEILING, generated).await
    }

    /// Every group of `size` in `loops` concurrent loops; one latency per order (its group's).
    pub(crate) async fn run(
        &self,
        generated: &Generated,
        size: usize,
        loops: usize,
    ) -> Result<(Timed, GroupFigures), BenchError> {
        let groups = generated.groups(size);
        let figures = GroupFigures {
            commands_per_commit: groups.iter().map(|g| g.orders.len()).collect(),
            lock_rounds: groups.len() as u64,
            kept_connections: 0,
        };
        let started = Instant::now();
        let lanes = try_join_all(lanes(groups, loops).iter().map(|l| self.run_lane(l))).await?;
        let timed = Timed {
            elapsed: started.elapsed(),
            latencies: lanes.into_iter().flatten().collect(),
        };
        Ok((timed, figures))
    }

    async fn run_lane(&self, groups: &[Group<'_>]) -> Result<Vec<Duration>, BenchError> {
        let mut latencies = Vec::new();
        for group in groups {
            let sent = Instant::now();
            let key = format!("{}c-lock:{}", self.prefix, group.product_id);
            self.mutex.with_lock(&key, self.commit(group)).await?;
            latencies.extend(std::iter::repeat_n(sent.elapsed(), group.orders.len()));
        }
        Ok(latencies)
    }

    /// BEGIN; the guarded UPDATE; the INSERT of every order row; COMMIT.
    async fn commit(&self, group: &Group<'_>) -> Result<(), BenchError> {
        let err = || BenchError::db(format!("(c) group on {}", group.product_id));
        let mut tx = self.pool.begin().await.map_err(err())?;
        let served = sqlx::query(
            "UPDATE ceiling_stock SET available = available - $2
             WHERE product_id = $1 AND available >= $2",
        )
        .bind(group.product_id)
        .bind(group.units())
        .execute(&mut *tx)
        .await
        .map_err(err())?
        .rows_affected()
            == 1;
        let (ids, quantities): (Vec<&str>, Vec<i64>) = group
            .orders
            .iter()
            .map(|o| (o.order_id.as_str(), o.quantity))
            .unzip();
        sqlx::query(
            "INSERT INTO ceiling_orders (order_id, product_id, quantity, status)
             SELECT o, $2, q, $4 FROM unnest($1::text[], $3::int8[]) AS t(o, q)",
        )
        .bind(&ids)
        .bind(group.product_id)
        .bind(&quantities)
        .bind(if served { "confirmed" } else { "rejected" })
        .execute(&mut *tx)
        .await
        .map_err(err())?;
        tx.commit().await.map_err(err())
    }
}

/// The groups spread over at most `loops` lanes, every group of a product in the same lane
/// and in order, products dealt round-robin.
fn lanes(groups: Vec<Group<'_>>, loops: usize) -> Vec<Vec<Group<'_>>> {
    let mut lanes: Vec<Vec<Group<'_>>> = (0..loops.max(1)).map(|_| Vec::new()).collect();
    let mut lane_of: BTreeMap<&str, usize> = BTreeMap::new();
    for group in groups {
        let next = lane_of.len() % lanes.len();
        let lane = *lane_of.entry(group.product_id).or_insert(next);
        lanes[lane].push(group);
    }
    lanes.retain(|l| !l.is_empty());
    lanes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Workload;

    #[test]
    fn a_hot_product_is_one_lane_and_many_products_fill_every_lane() {
        let hot = Workload::hot_product(100).generate("h");
        assert_eq!(lanes(hot.groups(10), 16).len(), 1);
        let many = Workload::many_products(40, 400).generate("m");
        let spread = lanes(many.groups(3), 16);
        assert_eq!(spread.len(), 16);
        for lane in &spread {
            let products: Vec<&str> = lane.iter().map(|g| g.product_id).collect();
            let mut seen = products.clone();
            seen.dedup();
            assert!(
                seen.len() <= 3,
                "products stay together in a lane: {products:?}"
            );
        }
    }
}
