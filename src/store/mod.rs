//! The write database: products, orders, the inbox, kept invalid and conflicting commands,
//! pending cancels and the outbox. Writes are functions on one `&mut PgConnection` (a
//! transaction), because a batch's inbox rows, orders, stock and events commit together or
//! not at all. Driver errors are classified once, here.

pub mod inbox;
pub mod invalid;
pub mod orders;
pub mod outbox;
pub mod products;

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
    /// A concurrent writer got there first (unique key, serialization, deadlock): try again.
    #[error("write conflict: {0}")]
    Conflict(#[source] sqlx::Error),
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

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if is_connection_error(&err) {
            return StoreError::Unavailable(err);
        }
        let code = err
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned());
        match code.as_deref() {
            // unique violation, serialization failure, deadlock; a row lock or a statement
            // that ran into its bounded wait (lock_timeout, statement_timeout): try again
            Some("23505" | "40001" | "40P01" | "55P03" | "57014") => StoreError::Conflict(err),
            // admin shutdown, crash shutdown, cannot connect now
            Some("57P01" | "57P02" | "57P03") => StoreError::Unavailable(err),
            _ => StoreError::Other(err),
        }
    }
}

fn is_connection_error(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
    )
}
