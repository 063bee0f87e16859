//! `fulfil worker`: the consumer pool on the commands queue. `fulfil run` flattens the same
//! arguments, under the same names.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::shared::{positive, within, AwsArgs, RedisArgs, TopologyArgs, WriteDbArgs};
use crate::config::{self, ConfigError};
use crate::run::worker::WorkerRunSettings;

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
    /// Longest, in milliseconds, a done command's message waits for others to fill one
    /// DeleteMessageBatch of ten (at most 1000). The command is committed before; only its
    /// removal from the queue waits. Fewer delete calls per command when receives come
    /// back part full; 0 deletes each batch's messages at once.
    #[arg(long, env = "FULFIL_DELETE_LINGER_MS", default_value_t = 100)]
    pub delete_linger_ms: u64,
    /// While receives come back part full, the least time in milliseconds between the
    /// starts of two of this process's receives (at most 1000), so that what arrives
    /// meanwhile fills the next: fewer ReceiveMessage calls per command at a steady rate,
    /// each command received up to this much later. Receives that come back full (a
    /// backlog) are never spaced out. 0 receives again at once.
    #[arg(long, env = "FULFIL_RECEIVE_WINDOW_MS", default_value_t = 50)]
    pub receive_window_ms: u64,
    /// Address of /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(long, env = "FULFIL_OPS_ADDR", default_value = "127.0.0.1:9464")]
    pub ops_addr: String,
}

impl WorkerArgs {
    /// Validates, then consumes until SIGTERM.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = WorkerRunSettings::try_from(&self)?;
        super::role::until_signalled("worker", |shutdown| {
            crate::run::worker::run(settings, shutdown)
        })
        .await
    }

    fn lock(&self) -> Result<crate::lock::LockConfig, ConfigError> {
        let lease = positive("FULFIL_LOCK_LEASE_MS (--lock-lease-ms)", self.lock_lease_ms)?;
        let wait = positive("FULFIL_LOCK_WAIT_MS (--lock-wait-ms)", self.lock_wait_ms)?;
        Ok(crate::lock::LockConfig {
            key_prefix: self.redis.key_prefix.clone(),
            lease: Duration::from_millis(lease),
            acquire_timeout: Duration::from_millis(wait),
        })
    }

    fn in_flight(&self) -> Result<(usize, usize), ConfigError> {
        let label = "FULFIL_WORKER_CONCURRENCY (--concurrency)";
        positive(label, self.concurrency as u64)?;
        if self.max_in_flight < 10 {
            let value = self.max_in_flight.to_string();
            let label = "FULFIL_MAX_IN_FLIGHT (--max-in-flight)";
            return Err(ConfigError::new(
                label,
                &value,
                "must be at least 10 (one batch)",
            ));
        }
        Ok((self.concurrency, self.max_in_flight))
    }

    fn group_limits(&self) -> Result<crate::worker::GroupLimits, ConfigError> {
        let units = "FULFIL_GROUP_UNITS (--group-units)";
        let commands = "FULFIL_GROUP_MAX_COMMANDS (--group-max-commands)";
        Ok(crate::worker::GroupLimits {
            max_units: positive(units, self.group_units as u64)? as usize,
            max_commands: positive(commands, self.group_max_commands as u64)? as usize,
            ..crate::worker::GroupLimits::default()
        })
    }

    fn db_limits(&self, lease_ms: u64) -> Result<crate::db::SessionLimits, ConfigError> {
        let below = |setting, ms, percent| below_lease(setting, ms, lease_ms, percent);
        Ok(crate::db::SessionLimits {
            lock_timeout: below(
                "FULFIL_DB_LOCK_TIMEOUT_MS (--db-lock-timeout-ms)",
                self.db_lock_timeout_ms,
                40,
            )?,
            statement_timeout: below(
                "FULFIL_DB_STATEMENT_TIMEOUT_MS (--db-statement-timeout-ms)",
                self.db_statement_timeout_ms,
                60,
            )?,
            idle_in_transaction: below(
                "FULFIL_DB_IDLE_IN_TRANSACTION_MS (--db-idle-in-transaction-ms)",
                self.db_idle_in_transaction_ms,
                80,
            )?,
        })
    }
}

impl TryFrom<&WorkerArgs> for WorkerRunSettings {
    type Error = ConfigError;

    fn try_from(args: &WorkerArgs) -> Result<Self, ConfigError> {
        let (concurrency, max_in_flight) = args.in_flight()?;
        let lock = args.lock()?;
        let lease_ms = args.lock_lease_ms;
        Ok(WorkerRunSettings {
            aws: (&args.aws).try_into()?,
            topology: (&args.topology).try_into()?,
            write_database_url: (&args.write_db).try_into()?,
            redis_url: (&args.redis).try_into()?,
            redis_key_prefix: args.redis.key_prefix.clone(),
            concurrency,
            max_in_flight,
            groups: args.group_limits()?,
            db_limits: args.db_limits(lease_ms)?,
            processing_deadline: config::validate_processing_deadline(
                "FULFIL_PROCESSING_DEADLINE_MS (--processing-deadline-ms)",
                args.processing_deadline_ms,
                lease_ms,
            )?,
            delete_linger: Duration::from_millis(within(
                "FULFIL_DELETE_LINGER_MS (--delete-linger-ms)",
                args.delete_linger_ms,
                0..=crate::queue::consumer::MOST_DELETE_LINGER.as_millis() as u64,
            )?),
            receive_window: Duration::from_millis(within(
                "FULFIL_RECEIVE_WINDOW_MS (--receive-window-ms)",
                args.receive_window_ms,
                0..=crate::queue::consumer::MOST_RECEIVE_WINDOW.as_millis() as u64,
            )?),
            ops_addr: config::validate_socket_addr("FULFIL_OPS_ADDR (--ops-addr)", &args.ops_addr)?,
            lock,
        })
    }
}

/// A database wait that must end before the lock lease does, or a stuck session could
/// outlive the lock it was taken under. Unset, it is `percent` of the lease.
fn below_lease(
    setting: &'static str,
    ms: Option<u64>,
    lease_ms: u64,
    percent: u64,
) -> Result<Duration, ConfigError> {
    let ms = positive(setting, ms.unwrap_or((lease_ms * percent / 100).max(1)))?;
    if ms >= lease_ms {
        let reason = format!("must be below the lock lease (FULFIL_LOCK_LEASE_MS = {lease_ms})");
        return Err(ConfigError::new(setting, &ms.to_string(), reason));
    }
    Ok(Duration::from_millis(ms))
}
