//! `fulfil run`: every role in one process (the local default). It declares no flag of its
//! own: it flattens the worker's arguments whole and each other role's tuning group, the
//! same groups `fulfil relay`, `fulfil projector` and `fulfil api` flatten, spelled
//! [`InRun`] where a name would collide. So a role here gets every setting it gets alone.

use std::process::ExitCode;

use clap::Args;

use super::api::ApiTuning;
use super::projector::ProjectorTuning;
use super::relay::RelayTuning;
use super::shared::{InRun, ReadDbArgs};
use super::worker::WorkerArgs;
use crate::config::ConfigError;
use crate::run::all::AllRunSettings;
use crate::run::worker::WorkerRunSettings;

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The worker's arguments; their services (AWS, topology, write database) serve the
    /// relay and the projector too.
    #[command(flatten)]
    pub worker: WorkerArgs,
    #[command(flatten)]
    pub read_db: ReadDbArgs,
    #[command(flatten, next_help_heading = "Relay")]
    pub relay: RelayTuning<InRun>,
    #[command(flatten, next_help_heading = "Projector")]
    pub projector: ProjectorTuning<InRun>,
    #[command(flatten, next_help_heading = "API")]
    pub api: ApiTuning<InRun>,
}

impl TryFrom<&RunArgs> for AllRunSettings {
    type Error = ConfigError;

    fn try_from(args: &RunArgs) -> Result<Self, ConfigError> {
        let w = &args.worker;
        Ok(AllRunSettings {
            worker: WorkerRunSettings::try_from(w)?,
            relay: args.relay.settings(&w.aws, &w.topology, &w.write_db)?,
            projector: args
                .projector
                .settings(&w.aws, &w.topology, &args.read_db)?,
            api: args.api.settings(&args.read_db)?,
        })
    }
}

impl RunArgs {
    /// Validates every role's settings, then runs them all until SIGTERM.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = AllRunSettings::try_from(&self)?;
        super::role::until_signalled("fulfil run", |shutdown| {
            crate::run::all::run(settings, shutdown)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;
    use crate::cli::api::ApiArgs;
    use crate::cli::projector::ProjectorArgs;
    use crate::cli::relay::RelayArgs;
    use crate::cli::testing::{envs, label, longs, parse};

    const ARN: &str = "arn:aws:sns:eu-west-3:000000000000:t-fulfil-order-events";

    /// Every flag of `fulfil run`, each with a valid value other than its default.
    const EVERY_FLAG: &[&[&str]] = &[
        &["--aws-region", "eu-west-3"],
        &["--aws-endpoint-url", "http://127.0.0.1:4566"],
        &["--prefix", "t-"],
        &["--standard"],
        &["--max-receive-count", "7"],
        &["--visibility-timeout", "45"],
        &["--write-database-url", "postgres://u@w:5432/write"],
        &["--redis-url", "redis://r:6379/1"],
        &["--redis-key-prefix", "k:"],
        &["--concurrency", "6"],
        &["--max-in-flight", "60"],
        &["--lock-lease-ms", "9000"],
        &["--lock-wait-ms", "1500"],
        &["--group-units", "3"],
        &["--group-max-commands", "64"],
        &["--db-lock-timeout-ms", "1000"],
        &["--db-statement-timeout-ms", "2000"],
        &["--db-idle-in-transaction-ms", "3000"],
        &["--processing-deadline-ms", "60000"],
        &["--delete-linger-ms", "70"],
        &["--receive-window-ms", "30"],
        &["--ops-addr", "127.0.0.1:1001"],
        &["--read-database-url", "postgres://u@r:5432/read"],
        &["--events-topic-arn", ARN],
        &["--relay-poll-ms", "250"],
        &["--relay-batch", "7"],
        &["--relay-steps", "5"],
        &["--relay-ops-addr", "127.0.0.1:1002"],
        &["--retention-secs", "3600"],
        &["--prune-every-secs", "60"],
        &["--projector-concurrency", "2"],
        &["--projector-ops-addr", "127.0.0.1:1003"],
        &["--api-listen", "127.0.0.1:1004"],
        &["--api-request-timeout-ms", "1234"],
        &["--api-max-in-flight", "17"],
    ];

    /// `fulfil run` with every flag, then `extra` (a flag given again keeps its last value).
    fn run(extra: &[&str]) -> Result<AllRunSettings, ConfigError> {
        let mut argv: Vec<&str> = EVERY_FLAG.iter().flat_map(|f| f.iter().copied()).collect();
        argv.extend(extra);
        AllRunSettings::try_from(&parse::<RunArgs>(&argv))
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn every_flag_of_fulfil_run_is_given_by_these_tests() {
        let given: BTreeSet<String> = EVERY_FLAG
            .iter()
            .map(|f| f[0].trim_start_matches("--").to_owned())
            .collect();
        assert_eq!(given, longs::<RunArgs>());
    }

    #[test]
    fn fulfil_run_reads_every_variable_the_roles_read_alone() {
        let mut alone = envs::<WorkerArgs>();
        alone.extend(envs::<RelayArgs>());
        alone.extend(envs::<ProjectorArgs>());
        alone.extend(envs::<ApiArgs>());
        assert_eq!(envs::<RunArgs>(), alone);
    }

    #[test]
    fn fulfil_run_gives_the_worker_every_worker_flag() {
        let w = run(&[]).unwrap().worker;
        assert_eq!(
            (w.aws.region.as_str(), w.aws.endpoint_url.as_deref()),
            ("eu-west-3", Some("http://127.0.0.1:4566"))
        );
        assert_eq!((w.topology.prefix.as_str(), w.topology.fifo), ("t-", false));
        assert_eq!(
            (w.topology.max_receive_count, w.topology.visibility_timeout),
            (7, Duration::from_secs(45))
        );
        assert_eq!(w.write_database_url.expose(), "postgres://u@w:5432/write");
        assert_eq!(w.redis_url.expose(), "redis://r:6379/1");
        assert_eq!(
            (w.redis_key_prefix.as_str(), w.lock.key_prefix.as_str()),
            ("k:", "k:")
        );
        assert_eq!((w.concurrency, w.max_in_flight), (6, 60));
        assert_eq!((w.lock.lease, w.lock.acquire_timeout), (ms(9000), ms(1500)));
        assert_eq!((w.groups.max_units, w.groups.max_commands), (3, 64));
        let db = w.db_limits;
        assert_eq!(
            (
                db.lock_timeout,
                db.statement_timeout,
                db.idle_in_transaction
            ),
            (ms(1000), ms(2000), ms(3000))
        );
        assert_eq!(w.processing_deadline, ms(60_000));
        assert_eq!((w.delete_linger, w.receive_window), (ms(70), ms(30)));
        assert_eq!(w.ops_addr.to_string(), "127.0.0.1:1001");
    }

    #[test]
    fn fulfil_run_gives_the_relay_every_relay_flag() {
        let all = run(&[]).unwrap();
        let r = all.relay;
        assert_eq!(r.events_topic_arn.as_deref(), Some(ARN));
        assert_eq!(
            (r.poll_interval, r.batch_size, r.steps_in_flight),
            (ms(250), 7, 5)
        );
        assert_eq!(r.ops_addr.to_string(), "127.0.0.1:1002");
        let (prune, every) = r.prune.expect("the relay prunes");
        assert_eq!(
            (prune.retention, every),
            (Duration::from_secs(3600), Duration::from_secs(60))
        );
        assert_eq!(
            (&r.aws, &r.topology),
            (&all.worker.aws, &all.worker.topology)
        );
        assert_eq!(r.write_database_url, all.worker.write_database_url);
    }

    #[test]
    fn fulfil_run_gives_the_projector_and_the_api_their_flags() {
        let all = run(&[]).unwrap();
        let (p, api) = (all.projector, all.api);
        assert_eq!(
            (p.concurrency, p.ops_addr.to_string()),
            (2, "127.0.0.1:1003".to_owned())
        );
        assert_eq!(
            (&p.aws, &p.topology),
            (&all.worker.aws, &all.worker.topology)
        );
        assert_eq!(p.read_database_url.expose(), "postgres://u@r:5432/read");
        assert_eq!(api.listen.to_string(), "127.0.0.1:1004");
        assert_eq!(
            (api.limits.request_timeout, api.limits.max_in_flight),
            (ms(1234), 17)
        );
        assert_eq!(api.read_database_url, p.read_database_url);
    }

    #[test]
    fn fulfil_run_without_relay_pruning_prunes_nothing() {
        assert!(run(&["--prune-every-secs", "0"])
            .unwrap()
            .relay
            .prune
            .is_none());
    }

    #[test]
    fn a_bad_value_in_fulfil_run_is_reported_under_the_flag_and_variable_of_fulfil_run() {
        let bad = [
            ("aws-region", "Not A Region"),
            ("aws-endpoint-url", "ftp://x"),
            ("prefix", "no spaces"),
            ("max-receive-count", "0"),
            ("visibility-timeout", "0"),
            ("write-database-url", "mysql://w/db"),
            ("redis-url", "http://r"),
            ("concurrency", "0"),
            ("max-in-flight", "9"),
            ("lock-lease-ms", "0"),
            ("lock-wait-ms", "0"),
            ("group-units", "0"),
            ("group-max-commands", "0"),
            ("db-lock-timeout-ms", "9000"),
            ("db-statement-timeout-ms", "0"),
            ("db-idle-in-transaction-ms", "99999"),
            ("processing-deadline-ms", "10"),
            ("delete-linger-ms", "1001"),
            ("receive-window-ms", "1001"),
            ("ops-addr", "nope"),
            ("read-database-url", "mysql://r/db"),
            ("relay-poll-ms", "0"),
            ("relay-batch", "0"),
            ("relay-steps", "65"),
            ("relay-ops-addr", "nope"),
            ("projector-concurrency", "0"),
            ("projector-ops-addr", "nope"),
            ("api-listen", "nope"),
            ("api-request-timeout-ms", "0"),
            ("api-max-in-flight", "0"),
        ];
        for (long, value) in bad {
            let err = run(&[&format!("--{long}"), value]).map(|_| ()).unwrap_err();
            assert_eq!(
                err.setting,
                label::<RunArgs>(long),
                "--{long} {value}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_relay_poll_in_fulfil_run_names_fulfil_runs_flag() {
        let err = run(&["--relay-poll-ms", "0"]).map(|_| ()).unwrap_err();
        assert_eq!(err.setting, "FULFIL_RELAY_POLL_MS (--relay-poll-ms)");
    }
}
