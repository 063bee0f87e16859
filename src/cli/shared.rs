//! The argument groups several subcommands flatten (the AWS connection, the topology, the
//! databases, Redis), how a flag is named in an error, and the range checks every role uses.

use std::fmt::Display;
use std::ops::RangeInclusive;

use clap::{Args, ValueEnum};

use crate::config::{self, AwsSettings, ConfigError, RedisUrls, SecretUrl, Topology};

/// How one command line spells one setting: its variable, its flag, and the two as an error
/// names them. A role's tuning flags are spelled differently by the role's own subcommand and
/// by `fulfil run` (see [`Alone`] and [`InRun`]); the variable is the same in both.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub env: &'static str,
    pub long: &'static str,
    /// `ENV (--long)`, as [`ConfigError::setting`] shows it.
    pub label: &'static str,
}

/// A [`Flag`] whose label is spelled from its variable and flag at compile time, so the three
/// cannot disagree.
macro_rules! flag {
    ($env:literal, $long:literal) => {
        $crate::cli::shared::Flag {
            env: $env,
            long: $long,
            label: concat!($env, " (--", $long, ")"),
        }
    };
}
pub(crate) use flag;

/// A role's tuning as its own subcommand (`fulfil relay`, `fulfil api`, ...) spells it.
#[derive(Debug, Clone)]
pub struct Alone;

/// A role's tuning as `fulfil run` spells it: prefixed by the role where the role's own name
/// would collide with another role's (`--relay-ops-addr`, `--api-max-in-flight`).
#[derive(Debug, Clone)]
pub struct InRun;

/// How a listing is printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `value` when it is at least 1.
pub(crate) fn positive(setting: &'static str, value: u64) -> Result<u64, ConfigError> {
    match value {
        0 => Err(ConfigError::new(setting, "0", "must be at least 1")),
        v => Ok(v),
    }
}

/// `value` when it lies in `range`.
pub(crate) fn within<T>(
    setting: &'static str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: PartialOrd + Display,
{
    if range.contains(&value) {
        return Ok(value);
    }
    let reason = format!("must be between {} and {}", range.start(), range.end());
    Err(ConfigError::new(setting, &value.to_string(), reason))
}

#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// AWS region.
    #[arg(long = "aws-region", env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Endpoint override, e.g. LocalStack's http://127.0.0.1:62669; unset on AWS.
    #[arg(long = "aws-endpoint-url", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

impl TryFrom<&AwsArgs> for AwsSettings {
    type Error = ConfigError;

    fn try_from(args: &AwsArgs) -> Result<Self, ConfigError> {
        AwsSettings::validate(&args.region, args.endpoint_url.as_deref())
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

impl TryFrom<&TopologyArgs> for Topology {
    type Error = ConfigError;

    fn try_from(args: &TopologyArgs) -> Result<Self, ConfigError> {
        Topology::validate(
            &args.prefix,
            !args.standard,
            args.max_receive_count,
            args.visibility_timeout,
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

impl TryFrom<&WriteDbArgs> for SecretUrl {
    type Error = ConfigError;

    fn try_from(args: &WriteDbArgs) -> Result<Self, ConfigError> {
        config::validate_postgres_url(
            "FULFIL_WRITE_DATABASE_URL (--write-database-url)",
            &args.write_database_url,
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

impl TryFrom<&ReadDbArgs> for SecretUrl {
    type Error = ConfigError;

    fn try_from(args: &ReadDbArgs) -> Result<Self, ConfigError> {
        config::validate_postgres_url(
            "FULFIL_READ_DATABASE_URL (--read-database-url)",
            &args.read_database_url,
        )
    }
}

#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis: stock locks and the stock cache. Several URLs, comma-separated, are the seed
    /// nodes of a Redis Cluster.
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

impl TryFrom<&RedisArgs> for RedisUrls {
    type Error = ConfigError;

    fn try_from(args: &RedisArgs) -> Result<Self, ConfigError> {
        let prefix = &args.key_prefix;
        if prefix.contains(['{', '}']) {
            let why = "must not contain { or }: Redis Cluster would read them as a hash tag";
            return Err(ConfigError::new(
                "FULFIL_REDIS_KEY_PREFIX (--redis-key-prefix)",
                prefix,
                why,
            ));
        }
        config::validate_redis_urls("FULFIL_REDIS_URL (--redis-url)", &args.redis_url)
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

/// The two databases' URLs, validated.
#[derive(Debug, Clone)]
pub struct BothDbs {
    pub write: SecretUrl,
    pub read: SecretUrl,
}

impl TryFrom<&BothDbArgs> for BothDbs {
    type Error = ConfigError;

    fn try_from(args: &BothDbArgs) -> Result<Self, ConfigError> {
        Ok(BothDbs {
            write: (&args.write_db).try_into()?,
            read: (&args.read_db).try_into()?,
        })
    }
}
