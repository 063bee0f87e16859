//! Wakes the relay loop as soon as events commit: a `LISTEN` on the channel the outbox
//! trigger notifies. A NOTIFY sent while the listener is disconnected is lost, so the loop
//! polls as well; this only makes it prompt. Touches one write-database connection.

use std::sync::Arc;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Backoff;

/// The channel `notify_outbox()` (write migration 0001) sends on.
pub const CHANNEL: &str = "fulfil_outbox";

/// Starts the listener task; the returned `Notify` is signalled on each notification and
/// after each reconnect (what was notified meanwhile is lost). Stops at `shutdown`.
pub fn spawn(pool: PgPool, shutdown: CancellationToken) -> Arc<Notify> {
    let notify = Arc::new(Notify::new());
    tokio::spawn(listen(pool, Arc::clone(&notify), shutdown));
    notify
}

/// Listens until shutdown, reconnecting with backoff; logs once per lost connection.
async fn listen(pool: PgPool, notify: Arc<Notify>, shutdown: CancellationToken) {
    let mut backoff = Backoff::default();
    let mut lost = false;
    loop {
        let ended = tokio::select! {
            () = shutdown.cancelled() => return,
            ended = session(&pool, &notify, &mut backoff, &mut lost) => ended,
        };
        if !lost {
            tracing::warn!(reason = %ended, "relay: NOTIFY listener lost; polling until it is back");
            lost = true;
        }
        notify.notify_one();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff.next_delay()) => {}
        }
    }
}

/// One connection's life: connect, LISTEN, forward notifications; returns why it ended.
async fn session(pool: &PgPool, notify: &Notify, backoff: &mut Backoff, lost: &mut bool) -> String {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => return format!("cannot connect: {e}"),
    };
    if let Err(e) = listener.listen(CHANNEL).await {
        return format!("LISTEN {CHANNEL} failed: {e}");
    }
    if std::mem::take(lost) {
        tracing::info!("relay: NOTIFY listener back");
    }
    backoff.reset();
    notify.notify_one();
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => notify.notify_one(),
            Ok(None) => return "connection lost".to_owned(),
            Err(e) => return e.to_string(),
        }
    }
}
