//! Signals → one `CancellationToken` for the whole process. The first SIGTERM or SIGINT asks
//! every role to stop receiving, finish what it holds and return; a second one exits at once
//! (an operator who presses Ctrl-C twice means it).

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGTERM/SIGINT.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot listen for SIGTERM/SIGINT; shutdown only by kill -9");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping (finishing in-flight work)"),
            _ = int.recv() => tracing::info!("SIGINT: stopping (finishing in-flight work; again to exit now)"),
        }
        cancel.cancel();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    token
}
