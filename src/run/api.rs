//! `fulfil api`: the query API on the read database, until SIGTERM; then it stops accepting,
//! reports not ready, and lets requests in flight finish.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use super::RunError;
use crate::api;
use crate::config::SecretUrl;
use crate::db::{self, Database};
use crate::ops::Readiness;

#[derive(Debug, Clone)]
pub struct ApiRunSettings {
    pub read_database_url: SecretUrl,
    /// Where the API (and its /healthz /readyz /metrics) listens; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bounds on the `/v1` routes.
    pub limits: api::ApiLimits,
}

/// Read-only and short queries: a handful of connections serves many requests.
const POOL_SIZE: u32 = 16;

pub async fn run(settings: ApiRunSettings, shutdown: CancellationToken) -> Result<(), RunError> {
    let pool = db::connect(Database::Read, &settings.read_database_url, POOL_SIZE).await?;
    let readiness = Readiness::default();
    let (listener, addr) = api::bind(settings.listen).await?;
    let watcher = tokio::spawn(api::watch_readiness(
        pool.clone(),
        readiness.clone(),
        shutdown.clone(),
    ));
    // The address is logged in this exact form so scripts and tests can find a port-0 bind.
    tracing::info!(addr = %addr, read_db = %settings.read_database_url, "api started");
    let served = api::serve(
        listener,
        api::router(pool.clone(), readiness, settings.limits),
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    let _ = watcher.await;
    pool.close().await;
    served?;
    tracing::info!("api stopped");
    Ok(())
}
