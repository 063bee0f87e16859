//! The write database: products, orders, the inbox, kept invalid and conflicting commands,
//! pending cancels and the outbox. Writes are functions on one `&mut PgConnection` (a
//! transaction), because a batch's inbox rows, orders, stock and events commit together or
//! not at all. Driver errors are classified once, here.

pub mod changes;
pub mod inbox;
pub mod invalid;
pub mod orders;
pub mod outbox;
pub mod products;
pub mod prune;

use crate::db::fault::{self, Fault};

/// Where an insert of a unit's rows may be made conditional: an SQL comment in the statement
/// on its own, a `WHERE` clause in the unit's one statement (see [`changes`]).
pub(crate) const GUARD: &str = "/*guard*/";

/// How a unit's transaction starts: with plans made once per connection and kept, not made
/// again on every execution (the database's default, see `db.rs`, which guards the pool's
/// other statements against plans made while a table was nearly empty). Planning the unit's
/// one write statement and its load function's look-ups cost about 0.7 ms of a 5.4 ms unit
/// of 80 orders (`pg_stat_statements`, issue 10); kept plans made it about 10 % faster
/// (`fulfil-bench stock`, hot product at 16 receivers, side by side).
///
/// A kept plan is made without the parameters and from the statistics of the moment, so
/// every statement a unit runs is written to look rows up by key (`= ANY($ids)` or `= $id`),
/// and the two settings below take away every other path: no sequential scan (on a table
/// whose statistics say it is tiny, one would be kept as the table grows) and no nested
/// loop (with the key look-up on the outside, it would compare every row with every
/// parameter: quadratic in a unit of hundreds of products). Checked with `EXPLAIN` on tables
/// analyzed nearly empty: every look-up is an index scan on its key, every join a hash or
/// merge join. The settings last for the transaction only (`SET LOCAL`), in the same round
/// trip as `BEGIN`.
pub const UNIT_BEGIN: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; \
     SET LOCAL enable_seqscan = off; SET LOCAL enable_nestloop = off";

/// A statement with its parameters bound so far.
pub(crate) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

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

/// `sql` with its parameters `$1`, `$2`, ... renumbered to start at `$first`: a statement
/// written on its own, with its own numbering, can then be one part of a larger statement
/// (see [`changes`]) while its text stays written once.
pub(crate) fn numbered_from(sql: &str, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            out.push_str(&(n + first - 1).to_string());
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::numbered_from;

    #[test]
    fn parameters_are_renumbered_and_the_rest_is_kept() {
        let sql = "SELECT $1::text[], $2, $10 FROM t WHERE a = $1";
        assert_eq!(numbered_from(sql, 1), sql);
        assert_eq!(
            numbered_from(sql, 8),
            "SELECT $8::text[], $9, $17 FROM t WHERE a = $8"
        );
    }

    #[test]
    fn a_dollar_without_digits_stays_as_it_is() {
        assert_eq!(numbered_from("a $ b $$ c $2", 3), "a $ b $$ c $4");
    }
}
