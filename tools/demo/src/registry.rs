//! What the demo created, by exact name, in the table `fulfil_demo_namespaces` of the
//! server's `postgres` database, so a later demo drops those and nothing else (a database
//! called `demographics_write` is not the demo's, whatever its name looks like).
//!
//! Why a table on the server rather than a file: the record lives beside the databases it
//! names, so it cannot point at another server's, and it survives a new checkout, another
//! working directory or a container's throwaway disk, where a file would be lost and the
//! demo's databases left behind for good. Names are recorded before they are created: a
//! crash in between leaves a name whose drop finds nothing, never an unrecorded database.
//! Touches only that table.

use sqlx::PgPool;

/// The kinds of thing a demo creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    Database,
    Queue,
    Topic,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Database => "database",
            Kind::Queue => "queue",
            Kind::Topic => "topic",
        }
    }

    fn parse(text: &str) -> Option<Kind> {
        [Kind::Database, Kind::Queue, Kind::Topic]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One thing a demo created (or was about to), by kind and exact name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Created {
    pub kind: Kind,
    pub name: String,
}

const TABLE: &str = "CREATE TABLE IF NOT EXISTS fulfil_demo_namespaces (
    scope text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('database', 'queue', 'topic')),
    name text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, kind, name))";

/// Creates the table if this server has none yet.
pub(super) async fn ensure(admin: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(TABLE).execute(admin).await.map(|_| ())
}

/// Records `created` under `scope` (`demo` for `fulfil-demo`).
pub(super) async fn record(
    admin: &PgPool,
    scope: &str,
    created: &[Created],
) -> Result<(), sqlx::Error> {
    let kinds: Vec<&str> = created.iter().map(|c| c.kind.as_str()).collect();
    let names: Vec<&str> = created.iter().map(|c| c.name.as_str()).collect();
    sqlx::query(
        "INSERT INTO fulfil_demo_namespaces (scope, kind, name)
         SELECT $1, kind, name FROM unnest($2::text[], $3::text[]) AS t(kind, name)
         ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(kinds)
    .bind(names)
    .execute(admin)
    .await
    .map(|_| ())
}

/// Everything recorded under `scope`, databases first.
pub(super) async fn recorded(admin: &PgPool, scope: &str) -> Result<Vec<Created>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, name FROM fulfil_demo_namespaces WHERE scope = $1")
            .bind(scope)
            .fetch_all(admin)
            .await?;
    let mut created: Vec<Created> = rows
        .into_iter()
        .filter_map(|(kind, name)| {
            Some(Created {
                kind: Kind::parse(&kind)?,
                name,
            })
        })
        .collect();
    created.sort();
    Ok(created)
}

/// Forgets one record, once what it names is gone.
pub(super) async fn forget(admin: &PgPool, scope: &str, gone: &Created) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM fulfil_demo_namespaces WHERE scope = $1 AND kind = $2 AND name = $3")
        .bind(scope)
        .bind(gone.kind.as_str())
        .bind(&gone.name)
        .execute(admin)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_back_as_itself_and_nothing_else_is_a_kind() {
        for kind in [Kind::Database, Kind::Queue, Kind::Topic] {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("Database"), None);
        assert_eq!(Kind::parse(""), None);
    }
}
