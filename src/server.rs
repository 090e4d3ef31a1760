//! The event socket accept loop: one task per FreeSWITCH connection, a cap on concurrent
//! calls, and shutdown (stop accepting, let calls finish until a deadline, then end them).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::{run_call, Engine};

/// Handles for stopping a running server.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Stop accepting new calls.
    pub stop_accepting: CancellationToken,
    /// Hang up the calls still running.
    pub hangup_calls: CancellationToken,
}

/// Accepts calls until `shutdown.stop_accepting` fires, then waits for the calls in flight:
/// up to `grace`, after which the rest are hung up (and given `grace_after_kill` to finish).
pub async fn run(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: Shutdown,
    grace: Duration,
) -> std::io::Result<()> {
    let tracker = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(engine.config.esl.max_calls));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.stop_accepting.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max_calls = engine.config.esl.max_calls, "call refused: too many calls");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let engine = engine.clone();
        let kill = shutdown.hangup_calls.child_token();
        let observer = engine.observer.as_ref().map(|make| make());
        tracker.spawn(async move {
            run_call(stream, engine, kill, observer).await;
            drop(permit);
        });
    }
    drop(listener);
    tracker.close();
    let active = tracker.len();
    if active > 0 {
        tracing::info!(
            active,
            grace_ms = grace.as_millis() as u64,
            "waiting for calls in flight"
        );
    }
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            active = tracker.len(),
            "shutdown deadline passed: hanging up the calls left"
        );
        shutdown.hangup_calls.cancel();
        let after_kill = engine.config.esl.hangup_wait + Duration::from_secs(2);
        if tokio::time::timeout(after_kill, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                active = tracker.len(),
                "calls did not end after hangup; closing"
            );
        }
    }
    Ok(())
}
