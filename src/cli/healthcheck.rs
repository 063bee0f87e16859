//! `fulfil healthcheck`: exit 0 if a role's /healthz answers (for container health checks).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config;

#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    #[arg(long, env = "FULFIL_OPS_ADDR", default_value = "127.0.0.1:9464")]
    pub ops_addr: String,
    /// A full URL instead (e.g. the API's own http://127.0.0.1:8080/healthz).
    #[arg(long, env = "FULFIL_HEALTHCHECK_URL")]
    pub url: Option<String>,
}

impl HealthcheckArgs {
    /// `healthy` on stdout, or an error saying why not.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let (addr, path) = match self.url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => config::validate_http_target("FULFIL_HEALTHCHECK_URL (--url)", url)?,
            None => (
                config::validate_socket_addr("FULFIL_OPS_ADDR (--ops-addr)", &self.ops_addr)?,
                "/healthz".to_owned(),
            ),
        };
        if let Err(why) = crate::ops::fetch(addr, &path, Duration::from_secs(3)).await {
            anyhow::bail!("unhealthy: {why}");
        }
        println!("healthy");
        Ok(ExitCode::SUCCESS)
    }
}
