//! The demo's namespace: fresh databases `demo<time>_write` and `demo<time>_read`, topics and
//! queues under `demo<time>-`, Redis keys under `demo<time>:`. What the previous demo
//! created is removed first (left behind, each demo's queues would add to LocalStack's work
//! for as long as it runs), by the exact names it recorded ([`registry`]) and nothing else:
//! a database or queue whose name merely starts with `demo` is someone else's. The last
//! run's stay for exploring until the next run.

use sqlx::PgPool;

use super::registry::{self, Created, Kind};
use super::DemoSettings;
use fulfil::config::{SecretUrl, Topology};
use fulfil::db::{self, Database};
use fulfil::queue::AwsClients;
use fulfil::setup::SetupSettings;

/// The scope of `fulfil-demo`'s records, and the start of its names.
pub const SCOPE: &str = "demo";

/// Everything the demo created, so it can say where to look afterwards.
pub struct Namespace {
    pub tag: String,
    pub setup: SetupSettings,
    pub redis_prefix: String,
}

/// Drops what the last demo of `scope` recorded, then records and creates a fresh namespace
/// (its databases; its queues and topics are for setup to create). `scope` is [`SCOPE`],
/// or a test's own so it never touches a real demo.
pub async fn create(settings: &DemoSettings, scope: &str) -> anyhow::Result<Namespace> {
    let scope = checked_scope(scope)?;
    let tag = format!("{scope}{}", chrono::Utc::now().format("%m%d%H%M%S%3f"));
    let admin = admin_pool(settings).await?;
    registry::ensure(&admin).await?;
    drop_recorded_with(&admin, &AwsClients::connect(&settings.aws).await, scope).await?;
    let setup = SetupSettings {
        aws: settings.aws.clone(),
        topology: Topology::validate(&format!("{tag}-"), true, 5, 30)?,
        write_database_url: with_database(&settings.write_database_url, &format!("{tag}_write"))?,
        read_database_url: with_database(&settings.write_database_url, &format!("{tag}_read"))?,
    };
    let created = names(&tag, &setup.topology);
    registry::record(&admin, scope, &created).await?;
    for database in created.iter().filter(|c| c.kind == Kind::Database) {
        let sql = format!("CREATE DATABASE {}", quoted(&database.name));
        sqlx::query(&sql).execute(&admin).await?;
    }
    Ok(Namespace {
        redis_prefix: format!("{tag}:"),
        tag,
        setup,
    })
}

/// Drops everything recorded under `scope` and forgets it.
pub async fn drop_recorded(settings: &DemoSettings, scope: &str) -> anyhow::Result<()> {
    let admin = admin_pool(settings).await?;
    registry::ensure(&admin).await?;
    let aws = AwsClients::connect(&settings.aws).await;
    drop_recorded_with(&admin, &aws, checked_scope(scope)?).await
}

/// Every name a namespace `tag` creates: its two databases, four queues and two topics.
fn names(tag: &str, topology: &Topology) -> Vec<Created> {
    let named = |kind, name: String| Created { kind, name };
    vec![
        named(Kind::Database, format!("{tag}_write")),
        named(Kind::Database, format!("{tag}_read")),
        named(Kind::Queue, topology.commands_queue()),
        named(Kind::Queue, topology.commands_dlq()),
        named(Kind::Queue, topology.projector_queue()),
        named(Kind::Queue, topology.projector_dlq()),
        named(Kind::Topic, topology.commands_topic()),
        named(Kind::Topic, topology.events_topic()),
    ]
}

/// A scope is the start of database names: lower-case letters and digits, a letter first,
/// short enough that names stay within PostgreSQL's and SQS's limits.
fn checked_scope(scope: &str) -> anyhow::Result<&str> {
    let mut chars = scope.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    match first_ok && rest_ok && scope.len() <= 16 {
        true => Ok(scope),
        false => anyhow::bail!("demo scope {scope:?}: must be 1-16 of a-z 0-9, a letter first"),
    }
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn admin_pool(settings: &DemoSettings) -> anyhow::Result<PgPool> {
    let url = with_database(&settings.write_database_url, "postgres")?;
    Ok(db::connect(Database::Write, &url, 1).await?)
}

/// Databases first: one that cannot be dropped stops the demo and keeps its record for the
/// next run. Queues and topics go best effort (an unreachable LocalStack is no reason to
/// stop), and their records stay until they are found gone.
async fn drop_recorded_with(admin: &PgPool, aws: &AwsClients, scope: &str) -> anyhow::Result<()> {
    let topics = pipes::topic_arns(aws).await;
    for created in registry::recorded(admin, scope).await? {
        let gone = match created.kind {
            Kind::Database => drop_database(admin, &created.name).await?,
            Kind::Queue => pipes::drop_queue(aws, &created.name).await,
            Kind::Topic => pipes::drop_topic(aws, topics.as_ref(), &created.name).await,
        };
        if gone {
            registry::forget(admin, scope, &created).await?;
        }
    }
    Ok(())
}

async fn drop_database(admin: &PgPool, name: &str) -> anyhow::Result<bool> {
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(name));
    sqlx::query(&sql).execute(admin).await?;
    Ok(true)
}

fn with_database(url: &SecretUrl, name: &str) -> anyhow::Result<SecretUrl> {
    let mut parsed = url::Url::parse(url.expose())?;
    parsed.set_path(&format!("/{name}"));
    Ok(fulfil::config::validate_postgres_url(
        "demo database",
        parsed.as_str(),
    )?)
}

/// Queues and topics by exact name.
mod pipes {
    use std::collections::HashMap;

    use fulfil::queue::AwsClients;

    /// Deletes the queue `name`; whether it is gone (deleted, or there was none).
    pub(super) async fn drop_queue(aws: &AwsClients, name: &str) -> bool {
        let url = match aws.sqs.get_queue_url().queue_name(name).send().await {
            Ok(out) => out.queue_url.unwrap_or_default(),
            Err(e) => {
                return e
                    .as_service_error()
                    .is_some_and(|e| e.is_queue_does_not_exist())
            }
        };
        aws.sqs.delete_queue().queue_url(url).send().await.is_ok()
    }

    /// Deletes the topic `name` found in `topics`; whether it is gone. Without a topic
    /// list (SNS did not answer) nothing is known to be gone.
    pub(super) async fn drop_topic(
        aws: &AwsClients,
        topics: Option<&HashMap<String, String>>,
        name: &str,
    ) -> bool {
        let Some(topics) = topics else {
            return false;
        };
        match topics.get(name) {
            Some(arn) => aws.sns.delete_topic().topic_arn(arn).send().await.is_ok(),
            None => true,
        }
    }

    /// Every topic's ARN by name; `None` when SNS does not answer.
    pub(super) async fn topic_arns(aws: &AwsClients) -> Option<HashMap<String, String>> {
        let mut arns = HashMap::new();
        let mut next = None;
        loop {
            let page = aws
                .sns
                .list_topics()
                .set_next_token(next)
                .send()
                .await
                .ok()?;
            for arn in page.topics().iter().filter_map(|t| t.topic_arn()) {
                let name = arn.rsplit(':').next().unwrap_or_default();
                arns.insert(name.to_owned(), arn.to_owned());
            }
            next = page.next_token;
            if next.is_none() {
                return Some(arns);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_names_exactly_its_databases_queues_and_topics() {
        let topology = Topology::validate("demo0102030405006-", true, 5, 30).unwrap();
        let created = names("demo0102030405006", &topology);
        let of = |kind| -> Vec<&str> {
            let names = created.iter().filter(|c| c.kind == kind);
            names.map(|c| c.name.as_str()).collect()
        };
        assert_eq!(
            of(Kind::Database),
            ["demo0102030405006_write", "demo0102030405006_read"]
        );
        assert_eq!(of(Kind::Queue).len(), 4);
        assert_eq!(of(Kind::Topic).len(), 2);
        assert!(created
            .iter()
            .all(|c| c.name.starts_with("demo0102030405006")));
    }

    #[test]
    fn a_scope_is_a_short_lower_case_name_starting_with_a_letter() {
        for good in ["demo", "t1a2b3c4demo"] {
            assert!(checked_scope(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Demo",
            "1demo",
            "demo-x",
            "demo_x",
            "a_very_long_scope_name",
        ] {
            assert!(checked_scope(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_with_a_quote_stays_one_identifier() {
        assert_eq!(quoted("demo1_write"), "\"demo1_write\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
