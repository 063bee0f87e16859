//! fulfil: an asynchronous order-fulfilment worker.
//!
//! Commands arrive from SNS through SQS (`queue`), are parsed against contract v1
//! (`contract`), decided by a pure core (`domain`), and applied under per-product Redis locks
//! (`lock`, `stock_cache`) to the write database with a transactional outbox (`store`). The
//! relay publishes the outbox, the projector builds the read database, the API serves it.
//! Adapters depend on the core, never the other way round.

#![forbid(unsafe_code)]
// `pub` means reachable from outside the crate; the lint gate (`./dev test`) turns this
// warning into an error, so a `pub` item no other crate can reach is a finding.
#![warn(unreachable_pub)]

pub mod admin;
pub mod api;
pub mod cli;
pub mod config;
pub mod contract;
pub mod db;
pub mod domain;
pub mod failpoint;
pub mod lambda;
pub mod lock;
pub mod ops;
pub mod projector;
pub mod publish;
pub mod queue;
pub mod redis_conn;
pub mod redis_fault;
pub mod redis_slot;
pub mod relay;
pub mod run;
pub mod setup;
pub mod shutdown;
pub mod stock_cache;
pub mod store;
pub mod telemetry;
pub mod trace;
pub mod worker;
