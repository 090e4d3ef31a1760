//! Connect and read timeouts for one request, which reqwest only offers per client. A
//! connector layer ([`PhaseLayer`]) bounds the connection (DNS, TCP and TLS) by the
//! request's connect timeout and notes when it was made; [`within`] bounds the rest of the
//! exchange by the read timeout, counted from the connection (or from the start, when a
//! pooled connection was reused). The request's values travel in a task-local, set for
//! the time the request is polled.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

tokio::task_local! {
    static PHASE: Arc<Phase>;
}

/// Where a request's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No connection was started: a pooled one is in use (or none yet).
    Idle,
    Connecting,
    Connected(Instant),
}

struct Phase {
    connect_timeout: Duration,
    state: watch::Sender<State>,
}

/// The connection was not made within the request's connect timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no connection within {} ms", .0.as_millis())]
pub struct ConnectTimedOut(pub Duration);

/// The answer did not come within the read timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTimedOut;

/// Runs one exchange with `connect` bounding its connection and `read` the rest.
pub async fn within<F: Future>(
    connect: Duration,
    read: Duration,
    exchange: F,
) -> Result<F::Output, ReadTimedOut> {
    let (tx, mut rx) = watch::channel(State::Idle);
    let phase = Arc::new(Phase {
        connect_timeout: connect,
        state: tx,
    });
    let started = Instant::now();
    let exchange = PHASE.scope(phase.clone(), exchange);
    tokio::pin!(exchange);
    loop {
        let state = *rx.borrow_and_update();
        // While connecting, the layer's own timeout bounds the wait.
        let deadline = match state {
            State::Idle => Some(started + read),
            State::Connecting => None,
            State::Connected(at) => Some(at + read),
        };
        tokio::select! {
            biased;
            out = &mut exchange => return Ok(out),
            changed = rx.changed() => {
                if changed.is_err() {
                    // The sender lives in `phase`, held here: cannot happen; wait it out.
                    return Ok(exchange.await);
                }
            }
            _ = sleep_until(deadline) => return Err(ReadTimedOut),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The connector layer of every client (see [`within`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseLayer;

impl<S> tower_layer::Layer<S> for PhaseLayer {
    type Service = PhaseService<S>;
    fn layer(&self, inner: S) -> PhaseService<S> {
        PhaseService(inner)
    }
}

#[derive(Debug, Clone)]
pub struct PhaseService<S>(S);

impl<S, R> tower_service::Service<R> for PhaseService<S>
where
    S: tower_service::Service<R, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let phase = PHASE.try_with(Arc::clone).ok();
        let connecting = self.0.call(req);
        Box::pin(async move {
            // A connection made outside `within` (an upload, a CDR) is bounded by its
            // request's own timeout only.
            let Some(phase) = phase else {
                return connecting.await;
            };
            phase.state.send_replace(State::Connecting);
            match tokio::time::timeout(phase.connect_timeout, connecting).await {
                Ok(Ok(conn)) => {
                    phase.state.send_replace(State::Connected(Instant::now()));
                    Ok(conn)
                }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(Box::new(ConnectTimedOut(phase.connect_timeout)) as BoxError),
            }
        })
    }
}
