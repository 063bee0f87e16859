//! The read side: change events from the projector queue applied to the read database,
//! each aggregate's row replaced by the snapshot of any newer version, in whatever order
//! they come (`model` holds the rule, `store` applies it in SQL); `verify` compares the read database with a replay
//! of the write database's event log, `rebuild` restores it from that log.
//!
//! The projector touches the read database only; `verify` and `rebuild` also read the
//! write database's outbox.

pub mod counts;
mod diff;
mod handler;
pub mod log;
pub mod model;
pub mod rebuild;
pub mod replay;
pub mod sample;
pub mod store;
pub mod swap;
pub mod tables;
pub mod verify;

use sqlx::PgPool;

pub use diff::Difference;
pub use model::{OrderView, ProductView, ReadModel, Verdict};
pub use rebuild::{rebuild, RebuildError, RebuildReport};
pub use store::ProjectionError;
pub use verify::{verify, VerifyReport};

use crate::contract::event::ChangeEvent;

/// The projector: a read-database pool and the batch rule. Cheap to clone.
#[derive(Clone)]
pub struct Projector {
    pool: PgPool,
}

impl Projector {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies `events` in one transaction; one verdict per event, in order.
    pub async fn apply(&self, events: &[ChangeEvent]) -> Result<Vec<Verdict>, ProjectionError> {
        store::apply_batch(&self.pool, events).await
    }

    /// Whether the read database answers and has its tables: the consumer's probe during
    /// an outage, and `/readyz`.
    pub async fn healthy(&self) -> bool {
        sqlx::query("SELECT 1 FROM read_orders, read_products, projection_state LIMIT 0")
            .execute(&self.pool)
            .await
            .is_ok()
    }
}
