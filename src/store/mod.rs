//! The write database: products, orders, the inbox, kept invalid and conflicting commands,
//! pending cancels and the outbox. Writes are functions on one `&mut PgConnection` (a
//! transaction), because a batch's inbox rows, orders, stock and events commit together or
//! not at all. Driver errors are classified once, here.

pub mod inbox;
pub mod invalid;
pub mod orders;
pub mod outbox;
pub mod products;
pub mod prune;

use crate::db::fault::{self, Fault};

/// Failures at the write-database boundary, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached: stop receiving until it is back.
    #[error("write database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A product changed since its stock was read (stale cache) or a newer lock holder wrote
    /// it (fenced out): re-read and try again.
    #[error("product {product_id:?} changed under us (stale stock or a newer lock holder)")]
    Stale { product_id: String },
    /// A concurrent writer got there first (unique key, serialization, deadlock, a bounded
    /// lock or statement wait): try again.
    #[error("write conflict: {0}")]
    Conflict(#[source] sqlx::Error),
    /// The database refused a value it was given: the input is at fault, and trying the
    /// same batch again cannot help.
    #[error("write database refused the data: {0}")]
    BadData(#[source] sqlx::Error),
    /// Anything else: a bug or a schema out of step.
    #[error("write database: {0}")]
    Other(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether the batch may simply be tried again at once.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Stale { .. } | StoreError::Conflict(_))
    }

    pub fn is_outage(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// By the one reading of database failures shared with the relay, projector and API.
impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match fault::classify(&err) {
            Fault::Outage => StoreError::Unavailable(err),
            Fault::Retry => StoreError::Conflict(err),
            Fault::BadData => StoreError::BadData(err),
            Fault::Bug => StoreError::Other(err),
        }
    }
}
