//! `fulfil relay`: the outbox to the events topic. Its tuning ([`RelayTuning`]) is one group,
//! flattened by `fulfil relay` and by `fulfil run`, each spelling the flags its own way.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::prune::RetentionArgs;
use super::shared::WriteDbArgs;
use super::shared::{flag, positive, within, Alone, AwsArgs, Flag, InRun, TopologyArgs};
use crate::config::{self, ConfigError};
use crate::run::prune::PruneSettings;
use crate::run::relay::RelayRunSettings;

/// Relay steps side by side by default: enough to keep calls in flight while another step
/// claims or marks, few enough that they seldom hold each other's aggregates back.
pub const DEFAULT_RELAY_STEPS: usize = 3;

/// How one command line spells the relay's flags whose names differ between subcommands.
pub trait RelayFlags: Debug + Clone + Send + Sync + 'static {
    const POLL: Flag;
    const STEPS: Flag;
    const BATCH: Flag;
    const OPS_ADDR: Flag;
}

impl RelayFlags for Alone {
    const POLL: Flag = flag!("FULFIL_RELAY_POLL_MS", "poll-interval-ms");
    const STEPS: Flag = flag!("FULFIL_RELAY_STEPS", "steps-in-flight");
    const BATCH: Flag = flag!("FULFIL_RELAY_BATCH", "batch-size");
    const OPS_ADDR: Flag = flag!("FULFIL_RELAY_OPS_ADDR", "ops-addr");
}

impl RelayFlags for InRun {
    const POLL: Flag = flag!("FULFIL_RELAY_POLL_MS", "relay-poll-ms");
    const STEPS: Flag = flag!("FULFIL_RELAY_STEPS", "relay-steps");
    const BATCH: Flag = flag!("FULFIL_RELAY_BATCH", "relay-batch");
    const OPS_ADDR: Flag = flag!("FULFIL_RELAY_OPS_ADDR", "relay-ops-addr");
}

/// The relay's own settings, whichever subcommand runs it; `N` spells the flags.
#[derive(Debug, Clone, Args)]
pub struct RelayTuning<N: RelayFlags> {
    /// The events topic's ARN; looked up by name (needs sns:ListTopics) when absent.
    #[arg(long, env = "FULFIL_EVENTS_TOPIC_ARN")]
    pub events_topic_arn: Option<String>,
    /// Milliseconds between looks at the outbox when no NOTIFY arrives (one can be lost).
    #[arg(id = N::POLL.long, long = N::POLL.long, env = N::POLL.env, value_name = "MS",
        default_value_t = 500)]
    pub poll_interval_ms: u64,
    /// Most outbox rows one relay step claims and publishes.
    #[arg(id = N::BATCH.long, long = N::BATCH.long, env = N::BATCH.env, value_name = "ROWS",
        default_value_t = 100)]
    pub batch_size: i64,
    /// Relay steps running side by side, each with its own claim and its lanes of
    /// `PublishBatch` calls (per-aggregate order holds across them).
    #[arg(id = N::STEPS.long, long = N::STEPS.long, env = N::STEPS.env, value_name = "STEPS",
        default_value_t = DEFAULT_RELAY_STEPS)]
    pub steps_in_flight: usize,
    /// Address of the relay's /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(id = N::OPS_ADDR.long, long = N::OPS_ADDR.long, env = N::OPS_ADDR.env,
        value_name = "ADDR", default_value = "127.0.0.1:9465")]
    pub ops_addr: String,
    #[command(flatten)]
    pub prune: PruneArgs,
    #[arg(skip)]
    flags: PhantomData<N>,
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
    /// What each pass deletes and how often; `None` when the relay never prunes.
    fn background(&self) -> Option<(PruneSettings, Duration)> {
        let settings = PruneSettings {
            retention: Duration::from_secs(self.retention.retention_secs),
            batch: crate::run::prune::DEFAULT_BATCH,
        };
        let every = Duration::from_secs(self.prune_every_secs);
        (self.prune_every_secs > 0).then_some((settings, every))
    }
}

impl<N: RelayFlags> RelayTuning<N> {
    /// The relay's settings on these services, an error naming the flag as `N` spells it.
    pub fn settings(
        &self,
        aws: &AwsArgs,
        topology: &TopologyArgs,
        write_db: &WriteDbArgs,
    ) -> Result<RelayRunSettings, ConfigError> {
        positive(N::POLL.label, self.poll_interval_ms)?;
        within(N::STEPS.label, self.steps_in_flight, 1..=64)?;
        within(N::BATCH.label, self.batch_size, 1..=10_000)?;
        Ok(RelayRunSettings {
            events_topic_arn: self.events_topic_arn.clone().filter(|a| !a.is_empty()),
            aws: aws.try_into()?,
            topology: topology.try_into()?,
            write_database_url: write_db.try_into()?,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            batch_size: self.batch_size,
            steps_in_flight: self.steps_in_flight,
            ops_addr: config::validate_socket_addr(N::OPS_ADDR.label, &self.ops_addr)?,
            prune: self.prune.background(),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub topology: TopologyArgs,
    #[command(flatten)]
    pub write_db: WriteDbArgs,
    #[command(flatten)]
    pub tuning: RelayTuning<Alone>,
}

impl TryFrom<&RelayArgs> for RelayRunSettings {
    type Error = ConfigError;

    fn try_from(args: &RelayArgs) -> Result<Self, ConfigError> {
        args.tuning
            .settings(&args.aws, &args.topology, &args.write_db)
    }
}

impl RelayArgs {
    /// Validates, then relays until SIGTERM.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = RelayRunSettings::try_from(&self)?;
        super::role::until_signalled("relay", |shutdown| {
            crate::run::relay::run(settings, shutdown)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::testing::{label, parse};

    fn relay(extra: &[&str]) -> Result<RelayRunSettings, ConfigError> {
        let mut argv = vec!["--write-database-url", "postgres://h/w"];
        argv.extend(extra);
        RelayRunSettings::try_from(&parse::<RelayArgs>(&argv))
    }

    #[test]
    fn fulfil_relay_takes_its_tuning_under_its_own_flags() {
        let arn = "arn:aws:sns:us-east-1:000000000000:fulfil-order-events.fifo";
        let flags = [
            "--poll-interval-ms",
            "250",
            "--batch-size",
            "7",
            "--steps-in-flight",
            "5",
            "--ops-addr",
            "127.0.0.1:1002",
            "--events-topic-arn",
            arn,
        ];
        let r = relay(&flags).unwrap();
        let got = (r.poll_interval, r.batch_size, r.steps_in_flight);
        assert_eq!(got, (Duration::from_millis(250), 7, 5));
        assert_eq!(r.ops_addr.to_string(), "127.0.0.1:1002");
        assert_eq!(r.events_topic_arn.as_deref(), Some(arn));
    }

    #[test]
    fn a_bad_value_in_fulfil_relay_is_reported_under_its_own_flag() {
        let bad = [
            ("poll-interval-ms", "0"),
            ("batch-size", "10001"),
            ("steps-in-flight", "0"),
            ("ops-addr", "nope"),
        ];
        for (long, value) in bad {
            let err = relay(&[&format!("--{long}"), value]).unwrap_err();
            assert_eq!(
                err.setting,
                label::<RelayArgs>(long),
                "--{long} {value}: {err}"
            );
        }
        let err = relay(&["--poll-interval-ms", "0"]).unwrap_err();
        assert_eq!(err.setting, "FULFIL_RELAY_POLL_MS (--poll-interval-ms)");
    }
}
