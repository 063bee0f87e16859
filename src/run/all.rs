//! `fulfil run`: worker, relay, projector and API in one process (the local default), each
//! the same loop it is when run alone, sharing one shutdown token. If one role fails, the
//! others are stopped and the first error is returned.

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::api::ApiRunSettings;
use super::projector::ProjectorRunSettings;
use super::relay::RelayRunSettings;
use super::worker::WorkerRunSettings;
use super::RunError;

#[derive(Debug, Clone)]
pub struct AllRunSettings {
    pub worker: WorkerRunSettings,
    pub relay: RelayRunSettings,
    pub projector: ProjectorRunSettings,
    pub api: ApiRunSettings,
}

pub async fn run(settings: AllRunSettings, shutdown: CancellationToken) -> Result<(), RunError> {
    let mut roles = JoinSet::new();
    roles.spawn(super::worker::run(settings.worker, shutdown.clone()));
    roles.spawn(super::relay::run(settings.relay, shutdown.clone()));
    roles.spawn(super::projector::run(settings.projector, shutdown.clone()));
    roles.spawn(super::api::run(settings.api, shutdown.clone()));
    tracing::info!("all roles started: worker, relay, projector, api");
    let mut first_error = None;
    while let Some(ended) = roles.join_next().await {
        let result = ended.unwrap_or_else(|e| Err(RunError::Panicked(e.to_string())));
        if let Err(err) = result {
            tracing::error!(error = %err, "a role failed: stopping the others");
            shutdown.cancel();
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}
