//! The demo's namespace: fresh databases `demo<time>_write` and `demo<time>_read`, topics and
//! queues under `demo<time>-`, Redis keys under `demo<time>:`. Earlier demos' databases,
//! topics and queues are removed first (left behind, each demo's queues would add to
//! LocalStack's work for as long as it runs); the last run's stay for exploring.

use sqlx::PgPool;

use super::DemoSettings;
use crate::config::{SecretUrl, Topology};
use crate::db::{self, Database};
use crate::queue::AwsClients;
use crate::setup::SetupSettings;

/// Everything the demo created, so it can say where to look afterwards.
pub struct Namespace {
    pub tag: String,
    pub setup: SetupSettings,
    pub redis_prefix: String,
}

pub async fn create(settings: &DemoSettings) -> anyhow::Result<Namespace> {
    let tag = format!("demo{}", chrono::Utc::now().format("%m%d%H%M%S"));
    let admin = db::connect(
        Database::Write,
        &with_database(&settings.write_database_url, "postgres")?,
        1,
    )
    .await?;
    drop_old_demos(&admin).await?;
    drop_old_pipes(&crate::queue::AwsClients::connect(&settings.aws).await).await;
    for suffix in ["write", "read"] {
        sqlx::query(&format!("CREATE DATABASE {tag}_{suffix}"))
            .execute(&admin)
            .await?;
    }
    let setup = SetupSettings {
        aws: settings.aws.clone(),
        topology: Topology::validate(&format!("{tag}-"), true, 5, 30)?,
        write_database_url: with_database(&settings.write_database_url, &format!("{tag}_write"))?,
        read_database_url: with_database(&settings.write_database_url, &format!("{tag}_read"))?,
    };
    Ok(Namespace {
        redis_prefix: format!("{tag}:"),
        tag,
        setup,
    })
}

/// Earlier demos' databases go; the last run's stay for exploring until the next run.
async fn drop_old_demos(admin: &PgPool) -> anyhow::Result<()> {
    let old: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'demo%\\_write' OR datname LIKE 'demo%\\_read'").fetch_all(admin).await?;
    for name in old {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(admin)
            .await?;
    }
    Ok(())
}

fn with_database(url: &SecretUrl, name: &str) -> anyhow::Result<SecretUrl> {
    let mut parsed = url::Url::parse(url.expose())?;
    parsed.set_path(&format!("/{name}"));
    Ok(crate::config::validate_postgres_url(
        "demo database",
        parsed.as_str(),
    )?)
}

/// Earlier demos' queues and topics (names starting with `demo`); failures are ignored.
async fn drop_old_pipes(aws: &AwsClients) {
    let queues = aws
        .sqs
        .list_queues()
        .queue_name_prefix("demo")
        .max_results(1000)
        .send()
        .await;
    for url in queues
        .map(|q| q.queue_urls.unwrap_or_default())
        .unwrap_or_default()
    {
        let _ = aws.sqs.delete_queue().queue_url(url).send().await;
    }
    let mut next = None;
    loop {
        let Ok(page) = aws.sns.list_topics().set_next_token(next).send().await else {
            return;
        };
        for topic in page.topics() {
            let arn = topic.topic_arn().unwrap_or_default();
            if arn
                .rsplit(':')
                .next()
                .is_some_and(|name| name.starts_with("demo"))
            {
                let _ = aws.sns.delete_topic().topic_arn(arn).send().await;
            }
        }
        next = page.next_token;
        if next.is_none() {
            return;
        }
    }
}
