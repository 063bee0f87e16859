//! The query API (`fulfil api`): JSON views of the read database under `/v1`, next to the
//! operations endpoints `/healthz`, `/readyz` and `/metrics`.
//!
//! It reads only the read database the projector writes (`read_orders`, `read_products`,
//! `projection_state`) and never writes anything. Every failure is a JSON `{"error": ...}`
//! naming the parameter or dependency at fault; a read database that is down or slow is a
//! 503 within a bounded time, never a hang.

mod error;
mod handlers;
mod limits;
mod metrics;
mod openapi;
mod params;
mod read;

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ops::{self, Readiness};

pub use error::ApiError;
pub use limits::ApiLimits;
pub use openapi::document as openapi_document;
pub use params::{Cursor, DEFAULT_LIMIT, ID_PATTERN, MAX_LIMIT};
pub use read::{OrderCounts, OrderPage, Stats};

/// The whole HTTP surface, with no socket: tests drive it in-process. `limits` bound the
/// `/v1` routes only.
pub fn router(pool: PgPool, readiness: Readiness, limits: ApiLimits) -> Router {
    let routes = Router::new()
        .route("/v1/orders/{order_id}", get(handlers::order))
        .route("/v1/users/{user_id}/orders", get(handlers::user_orders))
        .route("/v1/products/{product_id}", get(handlers::product))
        .route("/v1/stats", get(handlers::stats))
        .route("/v1/openapi.json", get(openapi::serve))
        .fallback(handlers::no_route);
    limits
        .apply(routes)
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(pool)
        .merge(ops::router(readiness))
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr} for the query API: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the query API server failed: {source}")]
    Serve { source: std::io::Error },
}

/// Binds first, so a taken port fails at start naming it; returns the bound address too
/// (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServeError> {
    let err = |source| ServeError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

/// Serves `app` until `shutdown`, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|source| ServeError::Serve { source })
}

/// Keeps `readiness` true while the read database answers and no shutdown was asked for.
pub async fn watch_readiness(pool: PgPool, readiness: Readiness, shutdown: CancellationToken) {
    loop {
        let answers = read::ping(&pool).await;
        readiness.set(answers && !shutdown.is_cancelled());
        tokio::select! {
            () = shutdown.cancelled() => { readiness.set(false); return; }
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
