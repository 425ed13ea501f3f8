//! The one way the harness learns it should stop: the first Ctrl-C or
//! SIGTERM. Every long-running command (run, up, fault, load, mock) waits on
//! it, so teardown paths are the same whatever the command.

use tokio_util::sync::CancellationToken;

/// Resolves on the first Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

/// A token cancelled on the first Ctrl-C or SIGTERM, after printing
/// `message` (when given) to stderr.
pub fn cancel_on_signal(message: Option<&'static str>) -> CancellationToken {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        if let Some(m) = message {
            eprintln!("{m}");
        }
        c.cancel();
    });
    cancel
}
