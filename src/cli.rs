//! Command-line and environment arguments, grouped so each role takes only what it needs.
//!
//! Every flag also reads an environment variable (shown in `--help`); `into_settings`
//! validates once, at start, into the typed settings of `config`.

use clap::{Args, ValueEnum};

use crate::config::{self, AwsSettings, ConfigError, SecretUrl, Topology};
use crate::setup::SetupSettings;

mod dlq;
mod prune;

pub use dlq::DlqCommand;
pub use prune::PruneOnceArgs;

/// How a listing is printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// AWS region.
    #[arg(long = "aws-region", env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Endpoint override, e.g. LocalStack's http://127.0.0.1:45669; unset on AWS.
    #[arg(long = "aws-endpoint-url", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    pub fn into_settings(&self) -> Result<AwsSettings, ConfigError> {
        AwsSettings::validate(&self.region, self.endpoint_url.as_deref())
    }
}

#[derive(Debug, Clone, Args)]
pub struct TopologyArgs {
    /// Prefix for every topic and queue name, to run several stacks in one account.
    #[arg(long = "prefix", env = "FULFIL_QUEUE_PREFIX", default_value = "")]
    pub prefix: String,
    /// Standard topics and queues instead of FIFO ones.
    #[arg(long = "standard", env = "FULFIL_STANDARD_QUEUES")]
    pub standard: bool,
    /// Receives of one message before SQS moves it to the dead-letter queue.
    #[arg(
        long = "max-receive-count",
        env = "FULFIL_MAX_RECEIVE_COUNT",
        default_value_t = 5
    )]
    pub max_receive_count: u32,
    /// Seconds a received message stays invisible to other consumers.
    #[arg(
        long = "visibility-timeout",
        env = "FULFIL_VISIBILITY_TIMEOUT",
        default_value_t = 30
    )]
    pub visibility_timeout: u64,
}

impl TopologyArgs {
    pub fn into_settings(&self) -> Result<Topology, ConfigError> {
        Topology::validate(
            &self.prefix,
            !self.standard,
            self.max_receive_count,
            self.visibility_timeout,
        )
    }
}

#[derive(Debug, Clone, Args)]
pub struct WriteDbArgs {
    /// The write database (PostgreSQL): orders, stock, inbox, outbox.
    #[arg(
        long = "write-database-url",
        env = "FULFIL_WRITE_DATABASE_URL",
        hide_env_values = true
    )]
    pub write_database_url: String,
}

impl WriteDbArgs {
    pub fn into_settings(&self) -> Result<SecretUrl, ConfigError> {
        config::validate_postgres_url(
            "FULFIL_WRITE_DATABASE_URL (--write-database-url)",
            &self.write_database_url,
        )
    }
}

#[derive(Debug, Clone, Args)]
pub struct ReadDbArgs {
    /// The read database (PostgreSQL): the projections the query API serves.
    #[arg(
        long = "read-database-url",
        env = "FULFIL_READ_DATABASE_URL",
        hide_env_values = true
    )]
    pub read_database_url: String,
}

impl ReadDbArgs {
    pub fn into_settings(&self) -> Result<SecretUrl, ConfigError> {
        config::validate_postgres_url(
            "FULFIL_READ_DATABASE_URL (--read-database-url)",
            &self.read_database_url,
        )
    }
}

#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis: stock locks and the stock cache.
    #[arg(long = "redis-url", env = "FULFIL_REDIS_URL", hide_env_values = true)]
    pub redis_url: String,
    /// Prefix of every Redis key we write.
    #[arg(
        long = "redis-key-prefix",
        env = "FULFIL_REDIS_KEY_PREFIX",
        default_value = "fulfil:"
    )]
    pub key_prefix: String,
}

impl RedisArgs {
    pub fn into_settings(&self) -> Result<SecretUrl, ConfigError> {
        config::validate_redis_url("FULFIL_REDIS_URL (--redis-url)", &self.redis_url)
    }
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
}

impl SetupArgs {
    pub fn into_settings(&self) -> Result<SetupSettings, ConfigError> {
        Ok(SetupSettings {
            aws: self.aws.into_settings()?,
            topology: self.topology.into_settings()?,
            write_database_url: self.write_db.into_settings()?,
            read_database_url: self.read_db.into_settings()?,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub read_db: ReadDbArgs,
    /// Address of the query API and its /healthz /readyz /metrics (port 0 picks a free port).
    #[arg(long, env = "FULFIL_API_ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Milliseconds a /v1 request may run before it is answered 503.
    #[arg(long, env = "FULFIL_API_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Most /v1 requests served at once; more are answered 503 at once.
    #[arg(long, env = "FULFIL_API_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
}

/// What the API's settings are called on the command line that gave them (`fulfil api` or
/// `fulfil run`), so an error names the flag the user has.
pub struct ApiFlags {
    pub listen: &'static str,
    pub request_timeout: &'static str,
    pub max_in_flight: &'static str,
}

impl ApiFlags {
    pub const API: ApiFlags = ApiFlags {
        listen: "FULFIL_API_ADDR (--listen)",
        request_timeout: "FULFIL_API_REQUEST_TIMEOUT_MS (--request-timeout-ms)",
        max_in_flight: "FULFIL_API_MAX_IN_FLIGHT (--max-in-flight)",
    };
    pub const RUN: ApiFlags = ApiFlags {
        listen: "FULFIL_API_ADDR (--api-listen)",
        request_timeout: "FULFIL_API_REQUEST_TIMEOUT_MS (--api-request-timeout-ms)",
        max_in_flight: "FULFIL_API_MAX_IN_FLIGHT (--api-max-in-flight)",
    };
}

impl ApiArgs {
    pub fn into_settings(&self) -> Result<crate::run::api::ApiRunSettings, ConfigError> {
        self.settings_named(&ApiFlags::API)
    }

    /// The settings, each error naming the setting as `flags` call it.
    pub fn settings_named(
        &self,
        flags: &ApiFlags,
    ) -> Result<crate::run::api::ApiRunSettings, ConfigError> {
        Ok(crate::run::api::ApiRunSettings {
            read_database_url: self.read_db.into_settings()?,
            listen: config::validate_socket_addr(flags.listen, &self.listen)?,
            limits: self.limits(flags)?,
        })
    }

    fn limits(&self, flags: &ApiFlags) -> Result<crate::api::ApiLimits, ConfigError> {
        if !(1..=3_600_000).contains(&self.request_timeout_ms) {
            let value = self.request_timeout_ms.to_string();
            let reason = "must be between 1 and 3600000";
            return Err(ConfigError::new(flags.request_timeout, &value, reason));
        }
        if !(1..=100_000).contains(&self.max_in_flight) {
            let value = self.max_in_flight.to_string();
            let reason = "must be between 1 and 100000";
            return Err(ConfigError::new(flags.max_in_flight, &value, reason));
        }
        Ok(crate::api::ApiLimits {
            request_timeout: std::time::Duration::from_millis(self.request_timeout_ms),
            max_in_flight: self.max_in_flight,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Concurrent long polls on the commands queue (each holds up to 10 messages).
    #[arg(long, env = "FULFIL_WORKER_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Most messages held at once by this process.
    #[arg(long, env = "FULFIL_MAX_IN_FLIGHT", default_value_t = 100)]
    pub max_in_flight: usize,
    /// Lock lease in milliseconds: how long a dead worker's locks block others.
    #[arg(long, env = "FULFIL_LOCK_LEASE_MS", default_value_t = 5000)]
    pub lock_lease_ms: u64,
    /// How long one round of waiting for a contended product's lock lasts before it is
    /// logged and started again (contention never gives a message back to the queue).
    #[arg(long, env = "FULFIL_LOCK_WAIT_MS", default_value_t = 2000)]
    pub lock_wait_ms: u64,
    /// Groups (units of commands committed together) committing at once in this process;
    /// each holds one write-database connection.
    #[arg(long, env = "FULFIL_GROUP_UNITS", default_value_t = 4)]
    pub group_units: usize,
    /// Most commands committed in one transaction.
    #[arg(long, env = "FULFIL_GROUP_MAX_COMMANDS", default_value_t = 512)]
    pub group_max_commands: usize,
    /// Write database `lock_timeout` in milliseconds, below the lock lease [default: 40 %
    /// of the lease].
    #[arg(long, env = "FULFIL_DB_LOCK_TIMEOUT_MS")]
    pub db_lock_timeout_ms: Option<u64>,
    /// Write database `statement_timeout` in milliseconds, below the lock lease [default:
    /// 60 % of the lease].
    #[arg(long, env = "FULFIL_DB_STATEMENT_TIMEOUT_MS")]
    pub db_statement_timeout_ms: Option<u64>,
    /// Write database `idle_in_transaction_session_timeout` in milliseconds, below the lock
    /// lease [default: 80 % of the lease].
    #[arg(long, env = "FULFIL_DB_IDLE_IN_TRANSACTION_MS")]
    pub db_idle_in_transaction_ms: Option<u64>,
    /// Longest one received batch may be worked on, in milliseconds, before it is abandoned
    /// and its messages returned to the queue (counted in fulfil_messages_abandoned_total);
    /// above the lock lease. A hung batch is otherwise kept invisible forever.
    #[arg(long, env = "FULFIL_PROCESSING_DEADLINE_MS", default_value_t = 300_000)]
    pub processing_deadline_ms: u64,
    /// Address of /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(long, env = "FULFIL_OPS_ADDR", default_value = "127.0.0.1:9464")]
    pub ops_addr: String,
}

/// A setting that must be at least 1.
fn positive(setting: &'static str, value: u64) -> Result<u64, ConfigError> {
    match value {
        0 => Err(ConfigError {
            setting,
            value: "0".into(),
            reason: "must be at least 1".into(),
        }),
        v => Ok(v),
    }
}

/// A database wait that must end before the lock lease does, or a stuck session could
/// outlive the lock it was taken under.
/// Unset, it is `percent` of the lease.
fn below_lease(
    setting: &'static str,
    ms: Option<u64>,
    lease_ms: u64,
    percent: u64,
) -> Result<std::time::Duration, ConfigError> {
    let ms = positive(setting, ms.unwrap_or((lease_ms * percent / 100).max(1)))?;
    if ms >= lease_ms {
        return Err(ConfigError {
            setting,
            value: ms.to_string(),
            reason: format!("must be below the lock lease (FULFIL_LOCK_LEASE_MS = {lease_ms})"),
        });
    }
    Ok(std::time::Duration::from_millis(ms))
}

impl WorkerArgs {
    pub fn into_settings(&self) -> Result<crate::run::worker::WorkerRunSettings, ConfigError> {
        positive(
            "FULFIL_WORKER_CONCURRENCY (--concurrency)",
            self.concurrency as u64,
        )?;
        if self.max_in_flight < 10 {
            return Err(ConfigError {
                setting: "FULFIL_MAX_IN_FLIGHT (--max-in-flight)",
                value: self.max_in_flight.to_string(),
                reason: "must be at least 10 (one batch)".into(),
            });
        }
        let lease = positive("FULFIL_LOCK_LEASE_MS (--lock-lease-ms)", self.lock_lease_ms)?;
        let wait = positive("FULFIL_LOCK_WAIT_MS (--lock-wait-ms)", self.lock_wait_ms)?;
        let lock = crate::lock::LockConfig {
            key_prefix: self.redis.key_prefix.clone(),
            lease: std::time::Duration::from_millis(lease),
            acquire_timeout: std::time::Duration::from_millis(wait),
        };
        Ok(crate::run::worker::WorkerRunSettings {
            aws: self.aws.into_settings()?,
            topology: self.topology.into_settings()?,
            write_database_url: self.write_db.into_settings()?,
            redis_url: self.redis.into_settings()?,
            redis_key_prefix: self.redis.key_prefix.clone(),
            concurrency: self.concurrency,
            max_in_flight: self.max_in_flight,
            lock,
            groups: self.group_limits()?,
            db_limits: self.db_limits(lease)?,
            processing_deadline: config::validate_processing_deadline(
                "FULFIL_PROCESSING_DEADLINE_MS (--processing-deadline-ms)",
                self.processing_deadline_ms,
                lease,
            )?,
            ops_addr: config::validate_socket_addr("FULFIL_OPS_ADDR (--ops-addr)", &self.ops_addr)?,
        })
    }

    fn group_limits(&self) -> Result<crate::worker::GroupLimits, ConfigError> {
        let units = positive(
            "FULFIL_GROUP_UNITS (--group-units)",
            self.group_units as u64,
        )?;
        let commands = positive(
            "FULFIL_GROUP_MAX_COMMANDS (--group-max-commands)",
            self.group_max_commands as u64,
        )?;
        Ok(crate::worker::GroupLimits {
            max_units: units as usize,
            max_commands: commands as usize,
            ..crate::worker::GroupLimits::default()
        })
    }

    fn db_limits(&self, lease_ms: u64) -> Result<crate::db::SessionLimits, ConfigError> {
        Ok(crate::db::SessionLimits {
            lock_timeout: below_lease(
                "FULFIL_DB_LOCK_TIMEOUT_MS (--db-lock-timeout-ms)",
                self.db_lock_timeout_ms,
                lease_ms,
                40,
            )?,
            statement_timeout: below_lease(
                "FULFIL_DB_STATEMENT_TIMEOUT_MS (--db-statement-timeout-ms)",
                self.db_statement_timeout_ms,
                lease_ms,
                60,
            )?,
            idle_in_transaction: below_lease(
                "FULFIL_DB_IDLE_IN_TRANSACTION_MS (--db-idle-in-transaction-ms)",
                self.db_idle_in_transaction_ms,
                lease_ms,
                80,
            )?,
        })
    }
}

/// Relay steps side by side by default: enough to keep calls in flight while another step
/// claims or marks, few enough that they seldom hold each other's aggregates back.
pub const DEFAULT_RELAY_STEPS: usize = 3;

/// How long relayed events and kept records are kept (a week by default).
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Seconds a relayed event (once a newer event of its aggregate exists) and a kept
    /// invalid or conflicting command are kept before pruning deletes them.
    #[arg(long, env = "FULFIL_RETENTION_SECS", default_value_t = 604_800)]
    pub retention_secs: u64,
}

/// The relay's background pruning.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Seconds between the relay's pruning passes; 0: the relay never prunes.
    #[arg(long, env = "FULFIL_PRUNE_EVERY_SECS", default_value_t = 300)]
    pub prune_every_secs: u64,
}

impl PruneArgs {
    fn background(&self) -> Option<(crate::run::prune::PruneSettings, std::time::Duration)> {
        let settings = crate::run::prune::PruneSettings {
            retention: std::time::Duration::from_secs(self.retention.retention_secs),
            batch: crate::run::prune::DEFAULT_BATCH,
        };
        let every = std::time::Duration::from_secs(self.prune_every_secs);
        (self.prune_every_secs > 0).then_some((settings, every))
    }
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// The events topic's ARN; looked up by name (needs sns:ListTopics) when absent.
    #[arg(long, env = "FULFIL_EVENTS_TOPIC_ARN")]
    pub events_topic_arn: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    /// Milliseconds between looks at the outbox when no NOTIFY arrives (one can be lost).
    #[arg(long, env = "FULFIL_RELAY_POLL_MS", default_value_t = 500)]
    pub poll_interval_ms: u64,
    /// Most outbox rows one relay step claims and publishes.
    #[arg(long, env = "FULFIL_RELAY_BATCH", default_value_t = 100)]
    pub batch_size: i64,
    /// Relay steps running side by side, each with its own claim and its lanes of
    /// `PublishBatch` calls (per-aggregate order holds across them).
    #[arg(long, env = "FULFIL_RELAY_STEPS", default_value_t = DEFAULT_RELAY_STEPS)]
    pub steps_in_flight: usize,
    /// Address of /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(long, env = "FULFIL_RELAY_OPS_ADDR", default_value = "127.0.0.1:9465")]
    pub ops_addr: String,
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// What the relay's settings are called on the command line that gave them: `fulfil relay`
/// and `fulfil run` read the same variables under different flags, and an error names the
/// one the user actually used.
pub struct RelayFlags {
    pub poll: &'static str,
    pub steps: &'static str,
    pub batch: &'static str,
    pub ops_addr: &'static str,
}

impl RelayFlags {
    pub const RELAY: RelayFlags = RelayFlags {
        poll: "FULFIL_RELAY_POLL_MS (--poll-interval-ms)",
        steps: "FULFIL_RELAY_STEPS (--steps-in-flight)",
        batch: "FULFIL_RELAY_BATCH (--batch-size)",
        ops_addr: "FULFIL_RELAY_OPS_ADDR (--ops-addr)",
    };
    pub const RUN: RelayFlags = RelayFlags {
        poll: "FULFIL_RELAY_POLL_MS (--relay-poll-ms)",
        steps: "FULFIL_RELAY_STEPS (--relay-steps)",
        batch: "FULFIL_RELAY_BATCH (--relay-batch)",
        ops_addr: "FULFIL_RELAY_OPS_ADDR (--relay-ops-addr)",
    };
}

impl RelayArgs {
    pub fn into_settings(&self) -> Result<crate::run::relay::RelayRunSettings, ConfigError> {
        self.settings_named(&RelayFlags::RELAY)
    }

    /// The settings, each error naming the setting as `flags` call it.
    pub fn settings_named(
        &self,
        flags: &RelayFlags,
    ) -> Result<crate::run::relay::RelayRunSettings, ConfigError> {
        if self.poll_interval_ms == 0 {
            return Err(ConfigError {
                setting: flags.poll,
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if !(1..=64).contains(&self.steps_in_flight) {
            return Err(ConfigError {
                setting: flags.steps,
                value: self.steps_in_flight.to_string(),
                reason: "must be between 1 and 64".into(),
            });
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(ConfigError {
                setting: flags.batch,
                value: self.batch_size.to_string(),
                reason: "must be between 1 and 10000".into(),
            });
        }
        Ok(crate::run::relay::RelayRunSettings {
            events_topic_arn: self.events_topic_arn.clone().filter(|a| !a.is_empty()),
            aws: self.aws.into_settings()?,
            topology: self.topology.into_settings()?,
            write_database_url: self.write_db.into_settings()?,
            poll_interval: std::time::Duration::from_millis(self.poll_interval_ms),
            batch_size: self.batch_size,
            steps_in_flight: self.steps_in_flight,
            ops_addr: config::validate_socket_addr(flags.ops_addr, &self.ops_addr)?,
            prune: self.prune.background(),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ProjectorArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
    /// Concurrent long polls on the projector queue (each holds up to 10 events).
    #[arg(long, env = "FULFIL_PROJECTOR_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Address of /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(
        long,
        env = "FULFIL_PROJECTOR_OPS_ADDR",
        default_value = "127.0.0.1:9466"
    )]
    pub ops_addr: String,
}

/// What the projector's own settings are called on the command line that gave them.
pub struct ProjectorFlags {
    pub concurrency: &'static str,
    pub ops_addr: &'static str,
}

impl ProjectorFlags {
    pub const PROJECTOR: ProjectorFlags = ProjectorFlags {
        concurrency: "FULFIL_PROJECTOR_CONCURRENCY (--concurrency)",
        ops_addr: "FULFIL_PROJECTOR_OPS_ADDR (--ops-addr)",
    };
    pub const RUN: ProjectorFlags = ProjectorFlags {
        concurrency: "FULFIL_PROJECTOR_CONCURRENCY (--projector-concurrency)",
        ops_addr: "FULFIL_PROJECTOR_OPS_ADDR (--projector-ops-addr)",
    };
}

impl ProjectorArgs {
    pub fn into_settings(
        &self,
    ) -> Result<crate::run::projector::ProjectorRunSettings, ConfigError> {
        self.settings_named(&ProjectorFlags::PROJECTOR)
    }

    /// The settings, each error naming the setting as `flags` call it.
    pub fn settings_named(
        &self,
        flags: &ProjectorFlags,
    ) -> Result<crate::run::projector::ProjectorRunSettings, ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError {
                setting: flags.concurrency,
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(crate::run::projector::ProjectorRunSettings {
            aws: self.aws.into_settings()?,
            topology: self.topology.into_settings()?,
            read_database_url: self.read_db.into_settings()?,
            concurrency: self.concurrency,
            ops_addr: config::validate_socket_addr(flags.ops_addr, &self.ops_addr)?,
        })
    }
}

/// Both databases: `verify` and `rebuild` replay the write side's log into the read side.
#[derive(Debug, Clone, Args)]
pub struct BothDbArgs {
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
}

impl BothDbArgs {
    /// (write database, read database)
    pub fn into_settings(&self) -> Result<(SecretUrl, SecretUrl), ConfigError> {
        Ok((
            self.write_db.into_settings()?,
            self.read_db.into_settings()?,
        ))
    }
}

/// `fulfil run`: every role in one process; each role's own settings keep their names.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
    /// Relay: milliseconds between looks at the outbox when no NOTIFY arrives.
    #[arg(
        long = "relay-poll-ms",
        env = "FULFIL_RELAY_POLL_MS",
        default_value_t = 500
    )]
    pub relay_poll_ms: u64,
    /// Relay: steps side by side.
    #[arg(
        long = "relay-steps",
        env = "FULFIL_RELAY_STEPS",
        default_value_t = DEFAULT_RELAY_STEPS
    )]
    pub relay_steps: usize,
    /// Relay: most outbox rows one relay step claims and publishes.
    #[arg(
        long = "relay-batch",
        env = "FULFIL_RELAY_BATCH",
        default_value_t = 100
    )]
    pub relay_batch: i64,
    /// Relay: the events topic's ARN; looked up by name (needs sns:ListTopics) when absent.
    #[arg(long = "events-topic-arn", env = "FULFIL_EVENTS_TOPIC_ARN")]
    pub events_topic_arn: Option<String>,
    /// Relay: /healthz /readyz /metrics.
    #[arg(
        long = "relay-ops-addr",
        env = "FULFIL_RELAY_OPS_ADDR",
        default_value = "127.0.0.1:9465"
    )]
    pub relay_ops_addr: String,
    /// Relay: pruning of relayed events and kept records.
    #[command(flatten)]
    pub prune: PruneArgs,
    /// Projector: concurrent long polls on the projector queue.
    #[arg(
        long = "projector-concurrency",
        env = "FULFIL_PROJECTOR_CONCURRENCY",
        default_value_t = 4
    )]
    pub projector_concurrency: usize,
    /// Projector: /healthz /readyz /metrics.
    #[arg(
        long = "projector-ops-addr",
        env = "FULFIL_PROJECTOR_OPS_ADDR",
        default_value = "127.0.0.1:9466"
    )]
    pub projector_ops_addr: String,
    /// API: where it listens (with its own /healthz /readyz /metrics).
    #[arg(
        long = "api-listen",
        env = "FULFIL_API_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub api_listen: String,
    /// API: milliseconds a /v1 request may run before it is answered 503.
    #[arg(
        long = "api-request-timeout-ms",
        env = "FULFIL_API_REQUEST_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub api_request_timeout_ms: u64,
    /// API: most /v1 requests served at once; more are answered 503 at once.
    #[arg(
        long = "api-max-in-flight",
        env = "FULFIL_API_MAX_IN_FLIGHT",
        default_value_t = 256
    )]
    pub api_max_in_flight: usize,
}

impl RunArgs {
    pub fn into_settings(&self) -> Result<crate::run::all::AllRunSettings, ConfigError> {
        let worker = self.worker.into_settings()?;
        let relay = RelayArgs {
            events_topic_arn: self.events_topic_arn.clone(),
            aws: self.worker.aws.clone(),
            topology: self.worker.topology.clone(),
            write_db: self.worker.write_db.clone(),
            poll_interval_ms: self.relay_poll_ms,
            batch_size: self.relay_batch,
            steps_in_flight: self.relay_steps,
            ops_addr: self.relay_ops_addr.clone(),
            prune: self.prune.clone(),
        };
        let projector = ProjectorArgs {
            aws: self.worker.aws.clone(),
            topology: self.worker.topology.clone(),
            read_db: self.read_db.clone(),
            concurrency: self.projector_concurrency,
            ops_addr: self.projector_ops_addr.clone(),
        };
        let api = ApiArgs {
            read_db: self.read_db.clone(),
            listen: self.api_listen.clone(),
            request_timeout_ms: self.api_request_timeout_ms,
            max_in_flight: self.api_max_in_flight,
        };
        Ok(crate::run::all::AllRunSettings {
            worker,
            relay: relay.settings_named(&RelayFlags::RUN)?,
            projector: projector.settings_named(&ProjectorFlags::RUN)?,
            api: api.settings_named(&ApiFlags::RUN)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::run::all::AllRunSettings;

    #[derive(Parser)]
    struct Run {
        #[command(flatten)]
        args: RunArgs,
    }

    /// `fulfil run` with its required URLs and `extra`; flags win over any environment.
    fn run(extra: &[&str]) -> Result<AllRunSettings, ConfigError> {
        let required = [
            "fulfil-run",
            "--write-database-url",
            "postgres://h/w",
            "--read-database-url",
            "postgres://h/r",
            "--redis-url",
            "redis://h",
        ];
        let args = required.iter().chain(extra);
        Run::try_parse_from(args)
            .expect("the flags parse")
            .args
            .into_settings()
    }

    #[test]
    fn fulfil_run_honours_the_relay_batch_and_the_events_topic() {
        let arn = "arn:aws:sns:us-east-1:000000000000:fulfil-events";
        let settings = run(&["--relay-batch", "7", "--events-topic-arn", arn]).unwrap();
        assert_eq!(settings.relay.batch_size, 7);
        assert_eq!(settings.relay.events_topic_arn.as_deref(), Some(arn));
    }

    #[test]
    fn a_bad_role_setting_in_fulfil_run_is_reported_under_the_flag_fulfil_run_has() {
        let cases = [
            (
                ["--relay-poll-ms", "0"],
                "FULFIL_RELAY_POLL_MS (--relay-poll-ms)",
            ),
            (["--relay-steps", "0"], "FULFIL_RELAY_STEPS (--relay-steps)"),
            (["--relay-batch", "0"], "FULFIL_RELAY_BATCH (--relay-batch)"),
            (
                ["--relay-ops-addr", "nope"],
                "FULFIL_RELAY_OPS_ADDR (--relay-ops-addr)",
            ),
            (
                ["--projector-concurrency", "0"],
                "FULFIL_PROJECTOR_CONCURRENCY (--projector-concurrency)",
            ),
            (["--api-listen", "nope"], "FULFIL_API_ADDR (--api-listen)"),
            (
                ["--api-request-timeout-ms", "0"],
                "FULFIL_API_REQUEST_TIMEOUT_MS (--api-request-timeout-ms)",
            ),
            (
                ["--api-max-in-flight", "0"],
                "FULFIL_API_MAX_IN_FLIGHT (--api-max-in-flight)",
            ),
        ];
        for (flags, named) in cases {
            let err = run(&flags).map(|_| ()).unwrap_err();
            assert_eq!(err.setting, named, "{flags:?}: {err}");
        }
    }
}
