//! The three ways of deciding stock that the stock scenario compares, behind one enum so the
//! driver treats them alike: ours (`coalesced`, the worker's batch path) and the two
//! baselines, which exist only in the bench and keep their data in tables of their own.

mod coalesced;
mod for_update;
mod redisson;
mod tables;

use serde::Serialize;

pub use tables::create_tables;

use super::check::Tally;
use super::workload::{Generated, Order};
use super::{BenchEnv, BenchError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// `Worker::process` on batches of 10: one lock round and one commit per batch.
    Coalesced,
    /// Baseline (a): a Redis lock, cache and commit per order.
    Redisson,
    /// Baseline (b): `SELECT … FOR UPDATE` and a commit per order.
    ForUpdate,
}

impl Path {
    pub const ALL: [Path; 3] = [Path::Coalesced, Path::Redisson, Path::ForUpdate];

    pub fn label(self) -> &'static str {
        match self {
            Path::Coalesced => "coalesced",
            Path::Redisson => "(a) redis lock",
            Path::ForUpdate => "(b) for update",
        }
    }
}

/// A path ready to run: its adapters, built once per bench.
pub enum Contender {
    Coalesced(coalesced::Coalesced),
    Redisson(redisson::Redisson),
    ForUpdate(for_update::ForUpdate),
}

impl Contender {
    pub fn new(path: Path, env: &BenchEnv) -> Self {
        match path {
            Path::Coalesced => Self::Coalesced(coalesced::Coalesced::new(env)),
            Path::Redisson => Self::Redisson(redisson::Redisson::new(env)),
            Path::ForUpdate => Self::ForUpdate(for_update::ForUpdate::new(env)),
        }
    }

    /// Orders a task takes from the shared queue at once: an SQS batch, or one order.
    pub fn batch_size(&self) -> usize {
        match self {
            Self::Coalesced(_) => 10,
            Self::Redisson(_) | Self::ForUpdate(_) => 1,
        }
    }

    /// Creates the run's products with their stock (untimed).
    pub async fn prepare(&self, generated: &Generated) -> Result<(), BenchError> {
        match self {
            Self::Coalesced(c) => c.prepare(generated).await,
            Self::Redisson(r) => r.prepare(generated).await,
            Self::ForUpdate(f) => f.prepare(generated).await,
        }
    }

    /// Decides and records `orders` (at most `batch_size`).
    pub async fn handle(&self, orders: &[Order]) -> Result<(), BenchError> {
        match self {
            Self::Coalesced(c) => c.handle(orders).await,
            Self::Redisson(r) => {
                for order in orders {
                    r.place(order).await?;
                }
                Ok(())
            }
            Self::ForUpdate(f) => {
                for order in orders {
                    f.place(order).await?;
                }
                Ok(())
            }
        }
    }

    pub async fn tally(&self, generated: &Generated) -> Result<Tally, BenchError> {
        match self {
            Self::Coalesced(c) => c.tally(generated).await,
            Self::Redisson(r) => tables::tally(r.pool(), generated).await,
            Self::ForUpdate(f) => tables::tally(f.pool(), generated).await,
        }
    }

    /// Batches the coalesced path had to retry since the last call (lock wait timed out,
    /// stale read): where its time went when it is slow. None for the baselines.
    pub fn take_retries(&self) -> Option<u64> {
        match self {
            Self::Coalesced(c) => Some(c.take_retries()),
            _ => None,
        }
    }
}
