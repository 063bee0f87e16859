//! The operations endpoints every long-running role serves: `/healthz` (the process runs),
//! `/readyz` (it can do its job: dependencies reachable, not shutting down) and `/metrics`
//! (Prometheus text). The query API mounts the same routes next to its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::telemetry;

/// Whether the role is ready; the role flips it (outage, shutdown).
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(|| async { telemetry::render_metrics() }))
        .with_state(readiness)
}

async fn ready(State(readiness): State<Readiness>) -> (StatusCode, &'static str) {
    match readiness.get() {
        true => (StatusCode::OK, "ready\n"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for health and metrics: {source}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Binds first (so a taken port fails at start, naming it), then serves until `shutdown`.
/// Returns the bound address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> Result<SocketAddr, BindError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| BindError { addr, source })?;
    tracing::info!(addr = %local, "serving /healthz /readyz /metrics");
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "health/metrics server stopped");
        }
    });
    Ok(local)
}

/// `fulfil healthcheck`: asks a running role's `/healthz` on `addr` (the container health
/// check; no curl in the image).
pub async fn probe(addr: SocketAddr, timeout: std::time::Duration) -> Result<(), String> {
    fetch(addr, "/healthz", timeout).await.map(|_| ())
}

/// GETs `path` from a role's ops endpoint: the body on 200, else why not. A tiny HTTP/1.1
/// client is all these local probes need.
pub async fn fetch(
    addr: SocketAddr,
    path: &str,
    timeout: std::time::Duration,
) -> Result<String, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.split_whitespace().nth(1).unwrap_or("").to_owned();
        match (status.as_str(), response.split_once("\r\n\r\n")) {
            ("200", Some((_, body))) => Ok(body.to_owned()),
            (other, _) => Err(format!("http://{addr}{path} answered {other:?}")),
        }
    };
    let late = || {
        Err(format!(
            "http://{addr}{path} did not answer within {timeout:?}"
        ))
    };
    tokio::time::timeout(timeout, ask)
        .await
        .unwrap_or_else(|_| late())
}
