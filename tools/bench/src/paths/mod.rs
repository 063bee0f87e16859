//! The ways of deciding stock that the stock scenario compares: ours (`Worker::process`, the
//! product's path), two per-order baselines and the bare "lock + one transaction of N rows"
//! ceiling. Only ours lives outside the bench; the others keep their data in tables of their
//! own. Ours and the baselines are driven by concurrent receivers ([`Driven`]); the ceiling
//! runs its own loops.

mod bare_loop;
mod for_update;
mod ours;
mod redis_mutex;
mod redisson;
mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

pub(super) use tables::create_tables;

use super::check::Tally;
use super::driver::{drive, Handler, Timed};
use super::workload::{Generated, Order};
use super::{BenchEnv, BenchError};
use fulfil::worker::GroupFigures;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// `Worker::process` on receives of 10, as the consumer calls it.
    Ours,
    /// Baseline (a): a Redis lock, cache and commit per order.
    Redisson,
    /// Baseline (b): `SELECT … FOR UPDATE` and a commit per order.
    ForUpdate,
    /// (c): one lock round and one minimal transaction per group of N orders.
    Ceiling,
}

impl Path {
    /// Ours first: the ceiling's N comes from ours' run in the same repetition.
    pub const ALL: [Path; 4] = [Path::Ours, Path::Redisson, Path::ForUpdate, Path::Ceiling];
    /// The seed case compares what the seed article compared.
    pub const SEED_CASE: [Path; 3] = [Path::Ours, Path::Redisson, Path::ForUpdate];

    pub fn label(self) -> &'static str {
        match self {
            Path::Ours => "ours",
            Path::Redisson => "(a) redis lock",
            Path::ForUpdate => "(b) for update",
            Path::Ceiling => "(c) ceiling",
        }
    }
}

/// A path fed by the driver's receivers.
pub(super) enum Driven {
    Ours(ours::Ours),
    Redisson(redisson::Redisson),
    ForUpdate(for_update::ForUpdate),
}

impl Handler for Driven {
    fn batch_size(&self) -> usize {
        match self {
            Self::Ours(_) => 10,
            Self::Redisson(_) | Self::ForUpdate(_) => 1,
        }
    }

    async fn handle(&self, orders: &[Order]) -> Result<(), BenchError> {
        match self {
            Self::Ours(o) => o.handle(orders).await,
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
}

/// A path ready to run: its adapters, built once per bench.
pub(super) enum Contender {
    Driven(Arc<Driven>),
    Ceiling(bare_loop::BareLoop),
}

/// One timed run before its check, with what the path reports about itself.
pub struct Measured {
    pub timed: Timed,
    /// Ours: the worker's commits and lock rounds. The ceiling: its groups.
    pub groups: Option<GroupFigures>,
    /// Ours: batches handed back for redelivery.
    pub retries: Option<u64>,
}

impl Contender {
    pub(super) fn new(path: Path, env: &BenchEnv) -> Self {
        let driven = |d| Self::Driven(Arc::new(d));
        match path {
            Path::Ours => driven(Driven::Ours(ours::Ours::new(env))),
            Path::Redisson => driven(Driven::Redisson(redisson::Redisson::new(env))),
            Path::ForUpdate => driven(Driven::ForUpdate(for_update::ForUpdate::new(env))),
            Path::Ceiling => Self::Ceiling(bare_loop::BareLoop::new(env)),
        }
    }

    /// Creates the run's products with their stock (untimed).
    pub(super) async fn prepare(&self, generated: &Generated) -> Result<(), BenchError> {
        match self {
            Self::Driven(d) => match d.as_ref() {
                Driven::Ours(o) => o.prepare(generated).await,
                Driven::Redisson(r) => r.prepare(generated).await,
                Driven::ForUpdate(f) => f.prepare(generated).await,
            },
            Self::Ceiling(c) => c.prepare(generated).await,
        }
    }

    /// Decides every order of `generated` with `receivers` concurrent receivers (the ceiling:
    /// as many loops, groups of `group_size`), timed.
    pub(super) async fn run(
        &self,
        generated: &Generated,
        receivers: usize,
        group_size: usize,
    ) -> Result<Measured, BenchError> {
        let driven = match self {
            Self::Ceiling(c) => return ceiling_run(c, generated, receivers, group_size).await,
            Self::Driven(d) => d,
        };
        let ours = match driven.as_ref() {
            Driven::Ours(o) => Some(o),
            _ => None,
        };
        if let Some(o) = ours {
            // What the worker did while preparing belongs to no run.
            o.take_group_figures();
            o.take_retries();
        }
        let orders = Arc::new(generated.orders.clone());
        let timed = drive(Arc::clone(driven), orders, receivers).await?;
        Ok(Measured {
            timed,
            groups: ours.map(|o| o.take_group_figures()),
            retries: ours.map(|o| o.take_retries()),
        })
    }

    /// Units each product must have confirmed after a run of `generated`: the ceiling
    /// serves or refuses whole groups of `group_size`, the others decide order by order.
    pub(super) fn expected(
        &self,
        generated: &Generated,
        group_size: usize,
    ) -> BTreeMap<String, i64> {
        match self {
            Self::Ceiling(_) => generated.expected_confirmed_in_groups(group_size),
            Self::Driven(_) => generated.expected_confirmed(),
        }
    }

    pub(super) async fn tally(&self, generated: &Generated) -> Result<Tally, BenchError> {
        match self {
            Self::Driven(d) => match d.as_ref() {
                Driven::Ours(o) => o.tally(generated).await,
                Driven::Redisson(r) => tables::tally(r.pool(), tables::BASELINES, generated).await,
                Driven::ForUpdate(f) => tables::tally(f.pool(), tables::BASELINES, generated).await,
            },
            Self::Ceiling(c) => tables::tally(c.pool(), tables::CEILING, generated).await,
        }
    }
}

async fn ceiling_run(
    ceiling: &bare_loop::BareLoop,
    generated: &Generated,
    loops: usize,
    group_size: usize,
) -> Result<Measured, BenchError> {
    let (timed, groups) = ceiling.run(generated, group_size, loops).await?;
    Ok(Measured {
        timed,
        groups: Some(groups),
        retries: None,
    })
}
