//! The event socket accept loop: who may connect (`esl.allow`), a cap on calls and a
//! smaller one on connections still in their handshake, one task per connection, the
//! cleanup of leftover recordings, and shutdown (stop accepting, let calls finish until a
//! deadline, then end them).
//!
//! A connection goes through, in order: the allow list (a peer outside it is closed before
//! a byte is read or written); the call cap (pivot full: `connect` then `exit`); the
//! handshake cap (at `esl.max_handshaking`, the oldest handshaking connection gives its
//! place up). Its own task then waits for the connect reply within
//! `esl.handshake_timeout_ms`, takes a call slot (only now: an idle connection never holds
//! one) and refuses a Unique-ID that a live call holds (`crate::call`).

mod handshakes;
mod janitor;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::{run_call, Engine};
use crate::throttle::LogLimit;
use handshakes::Handshakes;

/// Refusals answered at once; past that a refused connection is just closed.
const MAX_REFUSING: usize = 256;
/// How long a refused connection may take to say goodbye.
const REFUSE_WAIT: Duration = Duration::from_secs(2);

/// Ends a call pivot will not take so that FreeSWITCH goes on with the dialplan at once:
/// `connect` then `exit`. Closing the socket without a word leaves the channel parked
/// until something else ends it (seen on 1.10.12); with `socket_resume=true` in the
/// dialplan, `exit` makes its fallback run right away.
async fn refuse(mut stream: TcpStream) {
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

/// Handles for stopping a running server.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Stop accepting new calls.
    pub stop_accepting: CancellationToken,
    /// Hang up the calls still running.
    pub hangup_calls: CancellationToken,
}

/// Decides what happens to each accepted connection.
struct Gate {
    engine: Arc<Engine>,
    /// One per call, from its connect reply to the end of its task (`esl.max_calls`).
    slots: Arc<Semaphore>,
    /// Refusals answered properly (see `refuse`), a bounded number at a time.
    refusing: Arc<Semaphore>,
    handshakes: Handshakes,
    accept_errors: LogLimit,
}

impl Gate {
    fn new(engine: Arc<Engine>) -> Gate {
        let esl = &engine.config.esl;
        let slots = Arc::new(Semaphore::new(esl.max_calls));
        Gate {
            handshakes: Handshakes::new(esl.max_handshaking, esl.handshake_timeout, slots.clone()),
            slots,
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
            accept_errors: LogLimit::new(Duration::from_secs(1)),
            engine,
        }
    }

    fn admit(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        tracker: &TaskTracker,
        kill: &CancellationToken,
    ) {
        let engine = &self.engine;
        let esl = &engine.config.esl;
        if !esl.allow.allows(peer.ip()) {
            // Not FreeSWITCH: closed before anything is read or written.
            drop(stream);
            engine.stats.peers_refused.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = engine.warnings.not_allowed.hit(peer.ip().to_canonical()) {
                tracing::warn!(%peer, count = n, allow = %esl.allow, "event socket connection closed: the peer is not in esl.allow");
            }
            return;
        }
        if self.slots.available_permits() == 0 {
            // Full already: refused before its handshake. (A call that finds pivot full
            // only once it answered `connect` is refused by its own task.)
            engine.stats.calls_refused.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = engine.warnings.over_cap.hit(()) {
                tracing::warn!(%peer, max_calls = esl.max_calls, count = n, "calls refused: too many calls (esl.max_calls)");
            }
            if let Ok(p) = self.refusing.clone().try_acquire_owned() {
                tracker.spawn(async move {
                    refuse(stream).await;
                    drop(p);
                });
            }
            return;
        }
        let admitted = self.handshakes.admit();
        let _ = stream.set_nodelay(true);
        let engine = engine.clone();
        let kill = kill.child_token();
        let observer = engine.observer.as_ref().map(|make| make());
        // The call's future itself, not wrapped in another `async` block that would hold
        // a second copy of its arguments for the whole call.
        tracker.spawn(run_call(stream, engine, admitted, kill, observer));
    }

    /// Out of file descriptors and the like: wait a little instead of spinning.
    async fn accept_failed(&self, e: std::io::Error) {
        if let Some(n) = self.accept_errors.hit(()) {
            tracing::warn!(error = %e, count = n, "accept failed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    janitor::spawn(&tracker, engine.clone(), shutdown.stop_accepting.clone());
    let mut gate = Gate::new(engine.clone());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.stop_accepting.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => gate.admit(stream, peer, &tracker, &shutdown.hangup_calls),
            Err(e) => gate.accept_failed(e).await,
        }
    }
    drop(listener);
    tracker.close();
    drain(&tracker, &engine, &shutdown, grace).await;
    Ok(())
}

/// Waits for the calls in flight, up to `grace`; then hangs up the rest.
async fn drain(tracker: &TaskTracker, engine: &Engine, shutdown: &Shutdown, grace: Duration) {
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
}
