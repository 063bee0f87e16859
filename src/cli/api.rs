//! `fulfil api`: the query API on the read database. Its tuning ([`ApiTuning`]) is one group,
//! flattened by `fulfil api` and by `fulfil run`, each spelling the flags its own way.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::shared::{flag, within, Alone, Flag, InRun, ReadDbArgs};
use crate::api::ApiLimits;
use crate::config::{self, ConfigError};
use crate::run::api::ApiRunSettings;

/// How one command line spells the API's flags.
pub trait ApiFlags: Debug + Clone + Send + Sync + 'static {
    const LISTEN: Flag;
    const REQUEST_TIMEOUT: Flag;
    const MAX_IN_FLIGHT: Flag;
}

impl ApiFlags for Alone {
    const LISTEN: Flag = flag!("FULFIL_API_ADDR", "listen");
    const REQUEST_TIMEOUT: Flag = flag!("FULFIL_API_REQUEST_TIMEOUT_MS", "request-timeout-ms");
    const MAX_IN_FLIGHT: Flag = flag!("FULFIL_API_MAX_IN_FLIGHT", "max-in-flight");
}

impl ApiFlags for InRun {
    const LISTEN: Flag = flag!("FULFIL_API_ADDR", "api-listen");
    const REQUEST_TIMEOUT: Flag = flag!("FULFIL_API_REQUEST_TIMEOUT_MS", "api-request-timeout-ms");
    const MAX_IN_FLIGHT: Flag = flag!("FULFIL_API_MAX_IN_FLIGHT", "api-max-in-flight");
}

/// The API's own settings, whichever subcommand runs it; `N` spells the flags.
#[derive(Debug, Clone, Args)]
pub struct ApiTuning<N: ApiFlags> {
    /// Address of the query API and its /healthz /readyz /metrics (port 0 picks a free port).
    #[arg(id = N::LISTEN.long, long = N::LISTEN.long, env = N::LISTEN.env,
        value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Milliseconds a /v1 request may run before it is answered 503.
    #[arg(id = N::REQUEST_TIMEOUT.long, long = N::REQUEST_TIMEOUT.long,
        env = N::REQUEST_TIMEOUT.env, value_name = "MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Most /v1 requests served at once; more are answered 503 at once.
    #[arg(id = N::MAX_IN_FLIGHT.long, long = N::MAX_IN_FLIGHT.long, env = N::MAX_IN_FLIGHT.env,
        value_name = "REQUESTS", default_value_t = 256)]
    pub max_in_flight: usize,
    #[arg(skip)]
    flags: PhantomData<N>,
}

impl<N: ApiFlags> ApiTuning<N> {
    /// The API's settings on this database, an error naming the flag as `N` spells it.
    pub fn settings(&self, read_db: &ReadDbArgs) -> Result<ApiRunSettings, ConfigError> {
        Ok(ApiRunSettings {
            read_database_url: read_db.try_into()?,
            listen: config::validate_socket_addr(N::LISTEN.label, &self.listen)?,
            limits: self.limits()?,
        })
    }

    fn limits(&self) -> Result<ApiLimits, ConfigError> {
        let timeout_ms = within(
            N::REQUEST_TIMEOUT.label,
            self.request_timeout_ms,
            1..=3_600_000,
        )?;
        Ok(ApiLimits {
            request_timeout: Duration::from_millis(timeout_ms),
            max_in_flight: within(N::MAX_IN_FLIGHT.label, self.max_in_flight, 1..=100_000)?,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub read_db: ReadDbArgs,
    #[command(flatten)]
    pub tuning: ApiTuning<Alone>,
}

impl TryFrom<&ApiArgs> for ApiRunSettings {
    type Error = ConfigError;

    fn try_from(args: &ApiArgs) -> Result<Self, ConfigError> {
        args.tuning.settings(&args.read_db)
    }
}

impl ApiArgs {
    /// Validates, then serves until SIGTERM.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let settings = ApiRunSettings::try_from(&self)?;
        super::role::until_signalled("api", |shutdown| crate::run::api::run(settings, shutdown))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::testing::{label, parse};

    fn api(extra: &[&str]) -> Result<ApiRunSettings, ConfigError> {
        let mut argv = vec!["--read-database-url", "postgres://h/r"];
        argv.extend(extra);
        ApiRunSettings::try_from(&parse::<ApiArgs>(&argv))
    }

    #[test]
    fn fulfil_api_takes_its_tuning_under_its_own_flags() {
        let flags = [
            "--listen",
            "127.0.0.1:1004",
            "--request-timeout-ms",
            "1234",
            "--max-in-flight",
            "17",
        ];
        let a = api(&flags).unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:1004");
        let limits = (a.limits.request_timeout, a.limits.max_in_flight);
        assert_eq!(limits, (Duration::from_millis(1234), 17));
    }

    #[test]
    fn a_bad_value_in_fulfil_api_is_reported_under_its_own_flag() {
        let bad = [
            ("listen", "nope"),
            ("request-timeout-ms", "0"),
            ("max-in-flight", "100001"),
        ];
        for (long, value) in bad {
            let err = api(&[&format!("--{long}"), value]).unwrap_err();
            assert_eq!(
                err.setting,
                label::<ApiArgs>(long),
                "--{long} {value}: {err}"
            );
        }
    }
}
