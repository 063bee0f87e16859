//! The one reading of database failures (`fulfil::db::fault`) against the real server:
//! the errors PostgreSQL really raises get the fault the table says, read through the
//! driver exactly as the worker, relay, projector and API read them.

use std::time::Duration;

use fulfil::db::fault::{classify, Fault};
use fulfil::db::Database;
use sqlx::{Connection, PgConnection, PgPool};

use crate::harness::{TestDb, TestRole};

/// The fault of running `sql` (with `arg` bound as `$1` when given) on `pool`.
async fn fault_of(pool: &PgPool, sql: &str, arg: Option<&str>) -> Fault {
    let query = sqlx::query(sql);
    let query = match arg {
        Some(arg) => query.bind(arg),
        None => query,
    };
    let err = query.execute(pool).await.expect_err("the statement fails");
    classify(&err)
}

#[tokio::test]
async fn refused_values_are_bad_data_lost_races_retry_and_broken_queries_bugs() {
    let pool = TestDb::empty(Database::Write)
        .await
        .pool(Database::Write, 4)
        .await;
    sqlx::query("CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL CHECK (n >= 0))")
        .execute(&pool)
        .await
        .expect("table");
    sqlx::query("INSERT INTO t VALUES (1, 1)")
        .execute(&pool)
        .await
        .expect("row");

    let cases = [
        ("SELECT 1 / 0", None, Fault::BadData),
        ("SELECT $1::text", Some("a\u{0}b"), Fault::BadData),
        (
            "SELECT $1::jsonb",
            Some(r#"{"reason":"\u0000"}"#),
            Fault::BadData,
        ),
        ("INSERT INTO t VALUES (2, -1)", None, Fault::BadData),
        ("INSERT INTO t VALUES (3, NULL)", None, Fault::BadData),
        ("INSERT INTO t VALUES (1, 1)", None, Fault::Retry),
        ("SELECT * FROM no_such_table", None, Fault::Bug),
        ("SELEC 1", None, Fault::Bug),
    ];
    for (sql, arg, expected) in cases {
        assert_eq!(fault_of(&pool, sql, arg).await, expected, "{sql} ({arg:?})");
    }
}

#[tokio::test]
async fn a_row_lock_waited_out_and_a_statement_timed_out_are_retried() {
    let pool = TestDb::empty(Database::Write)
        .await
        .pool(Database::Write, 4)
        .await;
    sqlx::query("CREATE TABLE t (id int PRIMARY KEY)")
        .execute(&pool)
        .await
        .expect("table");
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&pool)
        .await
        .expect("row");
    let mut holder = pool.begin().await.expect("holder");
    sqlx::query("SELECT * FROM t FOR UPDATE")
        .execute(&mut *holder)
        .await
        .expect("lock");

    let mut waiter = pool.begin().await.expect("waiter");
    sqlx::query("SET LOCAL lock_timeout = '50ms'")
        .execute(&mut *waiter)
        .await
        .expect("lock_timeout");
    let locked = sqlx::query("SELECT * FROM t FOR UPDATE")
        .execute(&mut *waiter)
        .await
        .expect_err("lock_not_available");
    assert_eq!(classify(&locked), Fault::Retry, "{locked}");
    drop(waiter);

    let mut slow = pool.begin().await.expect("slow");
    sqlx::query("SET LOCAL statement_timeout = '50ms'")
        .execute(&mut *slow)
        .await
        .expect("statement_timeout");
    let cancelled = sqlx::query("SELECT pg_sleep(5)")
        .execute(&mut *slow)
        .await
        .expect_err("query_canceled");
    assert_eq!(classify(&cancelled), Fault::Retry, "{cancelled}");
    holder.rollback().await.expect("rollback");
}

#[tokio::test]
async fn too_many_connections_a_closed_database_and_an_ended_session_are_outages() {
    let db = TestDb::empty(Database::Write).await;
    let role = TestRole::create().await;
    let url = role.url(&db.url);
    let mut session = PgConnection::connect(url.expose()).await.expect("connect");

    role.limit_connections(0).await;
    let refused = PgConnection::connect(url.expose())
        .await
        .expect_err("connection limit 0");
    let code = refused.as_database_error().and_then(|d| d.code());
    assert_eq!(code.as_deref(), Some("53300"), "{refused}");
    assert_eq!(classify(&refused), Fault::Outage);

    role.limit_connections(-1).await;
    set_allow_connections(&db, false).await;
    let closed = PgConnection::connect(url.expose())
        .await
        .expect_err("ALLOW_CONNECTIONS false");
    assert_eq!(classify(&closed), Fault::Outage, "{closed}");
    set_allow_connections(&db, true).await;

    role.end_sessions().await;
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::query("SELECT 1").execute(&mut session),
    )
    .await
    .expect("the ended session answers at once")
    .expect_err("the session was ended");
    assert_eq!(classify(&ended), Fault::Outage, "{ended}");
    role.drop_role().await;
}

/// `ALTER DATABASE … ALLOW_CONNECTIONS`: binding for every role, superusers too.
async fn set_allow_connections(db: &TestDb, allow: bool) {
    let sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS {allow}", db.name);
    sqlx::query(&sql)
        .execute(&crate::harness::admin().await)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}
