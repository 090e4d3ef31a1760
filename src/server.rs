//! The event socket accept loop: one task per FreeSWITCH connection, a cap on concurrent
//! calls, and shutdown (stop accepting, let calls finish until a deadline, then end them).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::{run_call, Engine};

/// Refusals answered at once; past that a refused connection is just closed.
const MAX_REFUSING: usize = 256;
/// How long a refused connection may take to say goodbye.
const REFUSE_WAIT: Duration = Duration::from_secs(2);

/// Ends a call pivot will not take so that FreeSWITCH goes on with the dialplan at once:
/// `connect` then `exit`. Closing the socket without a word leaves the channel parked
/// until something else ends it (seen on 1.10.12); with `socket_resume=true` in the
/// dialplan, `exit` makes its fallback run right away.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bye = async {
        stream.write_all(b"connect\n\nexit\n\n").await?;
        // Read (and drop) until FreeSWITCH closes: the channel data, the replies.
        let mut buf = [0u8; 4096];
        while stream.read(&mut buf).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSE_WAIT, bye).await;
}

/// A warning per refusal would flood the log under a flood of calls: one line per second
/// at most, with the count since the last one.
#[derive(Default)]
struct Refusals {
    last: Option<tokio::time::Instant>,
    since: u64,
}

impl Refusals {
    fn note(&mut self, peer: std::net::SocketAddr, max_calls: usize) {
        self.since += 1;
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            tracing::warn!(%peer, max_calls, refused = self.since, "calls refused: too many calls (esl.max_calls)");
            self.last = Some(now);
            self.since = 0;
        }
    }
}

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
    // Refusals are answered properly (see `refuse`), a bounded number at a time.
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut refused = Refusals::default();
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
            refused.note(peer, engine.config.esl.max_calls);
            if let Ok(p) = refusing.clone().try_acquire_owned() {
                tracker.spawn(async move {
                    refuse(stream).await;
                    drop(p);
                });
            }
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
