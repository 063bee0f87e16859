//! `fulfil projector`: change events into the read database. Its tuning
//! ([`ProjectorTuning`]) is one group, flattened by `fulfil projector` and by `fulfil run`.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::process::ExitCode;

use clap::Args;

use super::shared::{flag, positive, Alone, AwsArgs, Flag, InRun, ReadDbArgs, TopologyArgs};
use crate::config::{self, ConfigError};
use crate::run::projector::ProjectorRunSettings;

/// How one command line spells the projector's flags.
pub trait ProjectorFlags: Debug + Clone + Send + Sync + 'static {
    const CONCURRENCY: Flag;
    const OPS_ADDR: Flag;
}

impl ProjectorFlags for Alone {
    const CONCURRENCY: Flag = flag!("FULFIL_PROJECTOR_CONCURRENCY", "concurrency");
    const OPS_ADDR: Flag = flag!("FULFIL_PROJECTOR_OPS_ADDR", "ops-addr");
}

impl ProjectorFlags for InRun {
    const CONCURRENCY: Flag = flag!("FULFIL_PROJECTOR_CONCURRENCY", "projector-concurrency");
    const OPS_ADDR: Flag = flag!("FULFIL_PROJECTOR_OPS_ADDR", "projector-ops-addr");
}

/// The projector's own settings, whichever subcommand runs it; `N` spells the flags.
#[derive(Debug, Clone, Args)]
pub struct ProjectorTuning<N: ProjectorFlags> {
    /// Concurrent long polls on the projector queue (each holds up to 10 events).
    #[arg(id = N::CONCURRENCY.long, long = N::CONCURRENCY.long, env = N::CONCURRENCY.env,
        value_name = "POLLS", default_value_t = 4)]
    pub concurrency: usize,
    /// Address of the projector's /healthz, /readyz and /metrics (port 0 picks a free port).
    #[arg(id = N::OPS_ADDR.long, long = N::OPS_ADDR.long, env = N::OPS_ADDR.env,
        value_name = "ADDR", default_value = "127.0.0.1:9466")]
    pub ops_addr: String,
    #[arg(skip)]
    flags: PhantomData<N>,
}

impl<N: ProjectorFlags> ProjectorTuning<N> {
    /// The projector's settings on these services, an error naming the flag as `N` spells it.
    pub fn settings(
        &self,
        aws: &AwsArgs,
        topology: &TopologyArgs,
        read_db: &ReadDbArgs,
    ) -> Result<ProjectorRunSettings, ConfigError> {
        positive(N::CONCURRENCY.label, self.concurrency as u64)?;
        Ok(ProjectorRunSettings {
            aws: aws.try_into()?,
            topology: topology.try_into()?,
            read_database_url: read_db.try_into()?,
            concurrency: self.concurrency,
            ops_addr: config::validate_socket_addr(N::OPS_ADDR.label, &self.ops_addr)?,
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
    #[command(flatten)]
    pub tuning: ProjectorTuning<Alone>,
}

impl TryFrom<&ProjectorArgs> for ProjectorRunSettings {
    type Error = ConfigError;

    fn try_from(args: &ProjectorArgs) -> Result<Self, ConfigError> {
        args.tuning
            .settings(&args.aws, &args.topology, &args.read_db)
    }
}

impl ProjectorArgs {
    /// Validates, then projects until SIGTERM.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = ProjectorRunSettings::try_from(&self)?;
        super::role::until_signalled("projector", |shutdown| {
            crate::run::projector::run(settings, shutdown)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::testing::{label, parse};

    fn projector(extra: &[&str]) -> Result<ProjectorRunSettings, ConfigError> {
        let mut argv = vec!["--read-database-url", "postgres://h/r"];
        argv.extend(extra);
        ProjectorRunSettings::try_from(&parse::<ProjectorArgs>(&argv))
    }

    #[test]
    fn fulfil_projector_takes_its_tuning_under_its_own_flags() {
        let p = projector(&["--concurrency", "2", "--ops-addr", "127.0.0.1:1003"]).unwrap();
        assert_eq!(
            (p.concurrency, p.ops_addr.to_string()),
            (2, "127.0.0.1:1003".into())
        );
    }

    #[test]
    fn a_bad_value_in_fulfil_projector_is_reported_under_its_own_flag() {
        for (long, value) in [("concurrency", "0"), ("ops-addr", "nope")] {
            let err = projector(&[&format!("--{long}"), value]).unwrap_err();
            assert_eq!(
                err.setting,
                label::<ProjectorArgs>(long),
                "--{long} {value}: {err}"
            );
        }
    }
}
