//! How every long-running role starts, alone or in `fulfil run`: its settings are validated
//! first (by the caller, before any connection), then metrics, signal handling, and its loop
//! until SIGTERM/SIGINT.

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::run::RunError;

/// Runs `role` until a signal cancels its token; an error says which role failed.
pub(super) async fn until_signalled<F, Fut>(name: &str, role: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), RunError>>,
{
    crate::telemetry::install_metrics();
    let shutdown = crate::shutdown::on_signals();
    role(shutdown)
        .await
        .with_context(|| format!("{name} failed"))?;
    Ok(ExitCode::SUCCESS)
}
