//! The soak's own pipeline on the stack its environment names (what `./dev env` exports):
//! fresh databases (those of earlier soaks dropped), a topology and a Redis key prefix named
//! after this run, and the environment every `fulfil` process of the soak gets. It refuses
//! the shared stack's ports: FLUSHALL and the rest are for a private stack only.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use fulfil::config::{self, AwsSettings, Topology};
use fulfil::db::{self, Database};
use fulfil::queue::publisher::CommandPublisher;
use fulfil::queue::topology::Provisioned;
use fulfil::queue::AwsClients;
use fulfil::setup::SetupSettings;
use fulfil_testkit::check::Sources;
use sqlx::PgPool;

use crate::procs::Launch;
use crate::services::Services;

/// The shared dev stack's ports, which the soak never touches.
const SHARED_PORTS: [u16; 3] = [62329, 63799, 62669];

pub struct Stack {
    tag: String,
    settings: SetupSettings,
    provisioned: Provisioned,
    aws: AwsClients,
    redis_url: String,
    pub write: PgPool,
    pub read: PgPool,
    pub services: Services,
}

fn setting(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: run the soak with ./dev chaos"))
}

fn refuse_shared(url: &str) -> anyhow::Result<()> {
    let port = url::Url::parse(url)?.port_or_known_default();
    if port.is_some_and(|p| SHARED_PORTS.contains(&p)) {
        anyhow::bail!(
            "{url} is the shared dev stack: the soak runs on a private one (./dev chaos)"
        );
    }
    Ok(())
}

impl Stack {
    pub async fn prepare(seed: u64, fifo: bool, dir: &Path) -> anyhow::Result<Stack> {
        let (write_base, redis_url) = (
            setting("FULFIL_WRITE_DATABASE_URL")?,
            setting("FULFIL_REDIS_URL")?,
        );
        let endpoint = setting("AWS_ENDPOINT_URL")?;
        for url in [&write_base, &redis_url, &endpoint] {
            refuse_shared(url)?;
        }
        let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let tag = format!("{:x}", secs % 0x100_0000);
        let (write_url, read_url) = fresh_databases(&write_base, &tag).await?;
        let settings = SetupSettings {
            aws: AwsSettings::validate(
                &setting("AWS_REGION").unwrap_or("us-east-1".into()),
                Some(&endpoint),
            )?,
            topology: Topology::validate(&format!("chaos{tag}-"), fifo, 5, 10)?,
            write_database_url: config::validate_postgres_url("write database", &write_url)?,
            read_database_url: config::validate_postgres_url("read database", &read_url)?,
        };
        let provisioned = fulfil::setup::run(&settings).await?.provisioned;
        std::fs::write(
            dir.join("run.txt"),
            format!("seed {seed}\ntag {tag}\nwrite {write_url}\nread {read_url}\n"),
        )?;
        Ok(Stack {
            write: db::connect(Database::Write, &settings.write_database_url, 4).await?,
            read: db::connect(Database::Read, &settings.read_database_url, 4).await?,
            aws: AwsClients::connect(&settings.aws).await,
            services: Services::new(
                setting("FULFIL_CHAOS_DEV_SCRIPT")?.into(),
                redis_url.clone(),
            ),
            tag,
            settings,
            provisioned,
            redis_url,
        })
    }

    /// How the soak's `fulfil` processes start: short visibility and lease, so a killed
    /// process's messages and locks come back within seconds.
    pub fn launch(&self, dir: &Path) -> anyhow::Result<Launch> {
        let s = &self.settings;
        let env = [
            (
                "FULFIL_WRITE_DATABASE_URL",
                s.write_database_url.expose().to_owned(),
            ),
            (
                "FULFIL_READ_DATABASE_URL",
                s.read_database_url.expose().to_owned(),
            ),
            ("FULFIL_REDIS_URL", self.redis_url.clone()),
            ("FULFIL_REDIS_KEY_PREFIX", format!("chaos:{}:", self.tag)),
            ("FULFIL_QUEUE_PREFIX", s.topology.prefix.clone()),
            ("FULFIL_STANDARD_QUEUES", (!s.topology.fifo).to_string()),
            ("FULFIL_VISIBILITY_TIMEOUT", "10".into()),
            ("FULFIL_LOCK_LEASE_MS", "2000".into()),
            ("RUST_LOG", "info".into()),
        ];
        let exe = fulfil_testkit::process::fulfil_binary()?;
        Ok(Launch {
            exe,
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            logs: dir.join("logs"),
        })
    }

    pub async fn publisher(&self) -> anyhow::Result<CommandPublisher> {
        Ok(fulfil::publish::publisher(&self.settings.aws, &self.settings.topology).await?)
    }

    pub fn sources(&self) -> Sources<'_> {
        let p = &self.provisioned;
        Sources {
            write: &self.write,
            read: &self.read,
            aws: &self.aws,
            commands_queue_url: &p.commands_queue.url,
            commands_dlq_url: &p.commands_dlq.url,
            projector_queue_url: &p.projector_queue.url,
            projector_dlq_url: &p.projector_dlq.url,
        }
    }
}

/// Drops the databases of earlier soaks and makes this one's pair; returns their URLs.
async fn fresh_databases(base: &str, tag: &str) -> anyhow::Result<(String, String)> {
    let with_db = |name: &str| -> anyhow::Result<String> {
        let mut url = url::Url::parse(base)?;
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
    };
    let admin = sqlx::PgPool::connect(&with_db("postgres")?).await?;
    let old: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'chaos\\_%'")
            .fetch_all(&admin)
            .await?;
    for name in old {
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    let (write, read) = (format!("chaos_w_{tag}"), format!("chaos_r_{tag}"));
    for name in [&write, &read] {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await?;
    }
    admin.close().await;
    Ok((with_db(&write)?, with_db(&read)?))
}
