//! A whole stack of the bench's own for the scenarios that run processes: a topology under a
//! unique prefix (`fulfil::setup::run`), fresh write and read databases, a Redis key prefix,
//! and the environment a role process needs to use them. Removed (best effort) afterwards.

use sqlx::PgPool;

use super::env::{create_database, drop_database, short_id, Services};
use super::BenchError;
use fulfil::config::Topology;
use fulfil::db::{self, Database};
use fulfil::queue::topology::Provisioned;
use fulfil::queue::AwsClients;
use fulfil::setup::{self, SetupSettings};

pub(super) struct Stack {
    pub services: Services,
    pub settings: SetupSettings,
    pub provisioned: Provisioned,
    pub aws: AwsClients,
    pub write: PgPool,
    pub key_prefix: String,
    names: [String; 2],
}

impl Stack {
    /// FIFO topics and queues (the production shape) named `b<id>-…`.
    pub(super) async fn create(services: &Services) -> Result<Self, BenchError> {
        Self::create_with(services, true).await
    }

    /// FIFO or standard topics and queues named `b<id>-…`.
    pub(super) async fn create_with(services: &Services, fifo: bool) -> Result<Self, BenchError> {
        let id = short_id();
        let names = [format!("bench_w_{id}"), format!("bench_r_{id}")];
        let settings = SetupSettings {
            aws: services.aws.clone(),
            topology: Topology::validate(&format!("b{id}-"), fifo, 5, 30)?,
            write_database_url: create_database(&services.write_database_url, &names[0]).await?,
            read_database_url: create_database(&services.read_database_url, &names[1]).await?,
        };
        let report = setup::run(&settings).await?;
        let write = db::connect(Database::Write, &settings.write_database_url, 4).await?;
        Ok(Self {
            services: services.clone(),
            aws: AwsClients::connect(&services.aws).await,
            provisioned: report.provisioned,
            write,
            key_prefix: format!("b{id}:"),
            settings,
            names,
        })
    }

    /// What every role process of this stack gets in its environment.
    pub(super) fn role_env(&self) -> Vec<(&'static str, String)> {
        let s = &self.settings;
        vec![
            (
                "FULFIL_WRITE_DATABASE_URL",
                s.write_database_url.expose().to_owned(),
            ),
            (
                "FULFIL_READ_DATABASE_URL",
                s.read_database_url.expose().to_owned(),
            ),
            (
                "FULFIL_REDIS_URL",
                self.services.redis_url.expose().to_owned(),
            ),
            ("FULFIL_REDIS_KEY_PREFIX", self.key_prefix.clone()),
            ("AWS_REGION", s.aws.region.clone()),
            (
                "AWS_ENDPOINT_URL",
                s.aws.endpoint_url.clone().unwrap_or_default(),
            ),
            ("FULFIL_QUEUE_PREFIX", s.topology.prefix.clone()),
            ("FULFIL_STANDARD_QUEUES", (!s.topology.fifo).to_string()),
            (
                "FULFIL_VISIBILITY_TIMEOUT",
                s.topology.visibility_timeout.as_secs().to_string(),
            ),
            ("FULFIL_OPS_ADDR", "127.0.0.1:0".to_owned()),
            ("FULFIL_RELAY_OPS_ADDR", "127.0.0.1:0".to_owned()),
            ("FULFIL_PROJECTOR_OPS_ADDR", "127.0.0.1:0".to_owned()),
            ("FULFIL_LOG_FORMAT", "text".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
    }

    /// Rows of the write database's inbox: commands decided so far.
    pub(super) async fn decided(&self) -> Result<i64, BenchError> {
        sqlx::query_scalar("SELECT count(*) FROM inbox")
            .fetch_one(&self.write)
            .await
            .map_err(BenchError::db("count the inbox"))
    }

    /// Deletes the queues, topics, databases and Redis keys; failures are only logged.
    pub(super) async fn remove(self, redis: Option<&redis::aio::ConnectionManager>) {
        self.write.close().await;
        let p = &self.provisioned;
        for queue in [
            &p.commands_queue,
            &p.commands_dlq,
            &p.projector_queue,
            &p.projector_dlq,
        ] {
            let _ = self
                .aws
                .sqs
                .delete_queue()
                .queue_url(&queue.url)
                .send()
                .await;
        }
        for topic in [&p.commands_topic_arn, &p.events_topic_arn] {
            let _ = self.aws.sns.delete_topic().topic_arn(topic).send().await;
        }
        let servers = [
            &self.services.write_database_url,
            &self.services.read_database_url,
        ];
        for (server, name) in servers.into_iter().zip(&self.names) {
            if let Err(e) = drop_database(server, name).await {
                tracing::warn!(error = %e, database = %name, "bench database left behind");
            }
        }
        if let Some(redis) = redis {
            let _ = super::env::delete_keys(redis, &self.key_prefix).await;
        }
    }
}
