//! One reading of PostgreSQL's failures for every role. The worker's store, the relay, the
//! projector and the API each turn a failure into their own error, but they must agree on
//! what it means: an outage read as a failed batch splits batches and dead-letters valid
//! commands, and bad data read as "try again" makes a poison out of one message. So the
//! SQLSTATE table lives here, once, as a pure function. It touches nothing.

/// What a database failure means for the work that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The database is not there or cannot take us now (connection lost, too many
    /// connections, shutting down, pool exhausted): no message is at fault, so hold the
    /// work until it is back instead of failing it.
    Outage,
    /// This attempt lost a race (serialization, deadlock, a bounded lock or statement wait,
    /// a concurrent insert of the same key): the same work may succeed at once.
    Retry,
    /// The server refused a value (data exceptions, integrity violations other than a
    /// duplicate key): the input is at fault and a retry cannot help.
    BadData,
    /// Anything else (a query, a schema or a driver state this code does not expect).
    Bug,
}

/// The fault behind a driver error. Failures below the SQL layer (I/O, TLS, protocol, the
/// pool) are outages: the server never judged the work.
pub fn classify(err: &sqlx::Error) -> Fault {
    use sqlx::Error::{Database, Io, PoolClosed, PoolTimedOut, Protocol, Tls, WorkerCrashed};
    match err {
        Io(_) | Tls(_) | Protocol(_) | PoolTimedOut | PoolClosed | WorkerCrashed => Fault::Outage,
        Database(db) => db.code().map_or(Fault::Bug, |code| of_sqlstate(&code)),
        _ => Fault::Bug,
    }
}

/// The fault a SQLSTATE names (PostgreSQL's appendix A), by its exact code first, then by
/// its class (the first two characters).
pub fn of_sqlstate(code: &str) -> Fault {
    match code {
        // unique violation: how a concurrent insert of the same key (two deliveries of one
        // command, two projectors) shows itself; the retry finds the other's row
        "23505" => return Fault::Retry,
        // lock_not_available, query_canceled: a bounded wait (lock_timeout,
        // statement_timeout) ran out behind another transaction
        "55P03" | "57014" => return Fault::Retry,
        // invalid_catalog_name: the database is not there (dropped, not yet created);
        // object_not_in_prerequisite_state: what a database closed to connections
        // (ALLOW_CONNECTIONS false) answers at connect, and none of our statements can
        // raise it otherwise (no sequences' currval, no materialized views)
        "3D000" | "55000" => return Fault::Outage,
        _ => {}
    }
    match code.get(..2).unwrap_or(code) {
        // connection exception, insufficient resources (53300 too_many_connections), operator
        // intervention (57P01 admin_shutdown ... 57P03 cannot_connect_now)
        "08" | "53" | "57" => Fault::Outage,
        // transaction rollback: serialization failure, deadlock
        "40" => Fault::Retry,
        // data exception (22021 bad UTF-8 such as U+0000 in text, 22P05 in jsonb), integrity
        // constraint violation
        "22" | "23" => Fault::BadData,
        _ => Fault::Bug,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlstate_class_has_its_fault() {
        let table = [
            ("08000", Fault::Outage),
            ("08006", Fault::Outage),
            ("08P01", Fault::Outage),
            ("53000", Fault::Outage),
            ("53100", Fault::Outage),
            ("53200", Fault::Outage),
            ("53300", Fault::Outage),
            ("57000", Fault::Outage),
            ("57P01", Fault::Outage),
            ("57P02", Fault::Outage),
            ("57P03", Fault::Outage),
            ("57014", Fault::Retry),
            ("55P03", Fault::Retry),
            ("40000", Fault::Retry),
            ("40001", Fault::Retry),
            ("40P01", Fault::Retry),
            ("22000", Fault::BadData),
            ("22001", Fault::BadData),
            ("22021", Fault::BadData),
            ("22P05", Fault::BadData),
            ("23502", Fault::BadData),
            ("23503", Fault::BadData),
            ("23514", Fault::BadData),
            ("23505", Fault::Retry),
            ("3D000", Fault::Outage),
            ("42601", Fault::Bug),
            ("42P01", Fault::Bug),
            ("42703", Fault::Bug),
            ("55000", Fault::Outage),
            ("55006", Fault::Bug),
            ("XX000", Fault::Bug),
            ("XX001", Fault::Bug),
            ("", Fault::Bug),
            ("2", Fault::Bug),
        ];
        let wrong: Vec<_> = table
            .iter()
            .filter(|(code, fault)| of_sqlstate(code) != *fault)
            .map(|(code, fault)| (code, fault, of_sqlstate(code)))
            .collect();
        assert!(wrong.is_empty(), "(code, expected, got): {wrong:?}");
    }

    #[test]
    fn failures_below_sql_are_outages_and_driver_surprises_are_bugs() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify(&sqlx::Error::Io(io)), Fault::Outage);
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Fault::Outage);
        assert_eq!(classify(&sqlx::Error::PoolClosed), Fault::Outage);
        assert_eq!(
            classify(&sqlx::Error::Protocol("eof".into())),
            Fault::Outage
        );
        assert_eq!(classify(&sqlx::Error::RowNotFound), Fault::Bug);
        assert_eq!(
            classify(&sqlx::Error::ColumnNotFound("x".into())),
            Fault::Bug
        );
    }
}
