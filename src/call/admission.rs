//! What a connection must pass, after the server let it in, before it is a call: its
//! handshake (the connect reply within a deadline, unless the server gives its place to a
//! newer connection), a free call slot, and a Unique-ID that no live call holds; and how a
//! connection that did not become a call is counted and logged. The server decides who
//! gets in (`crate::server`); this is the part the call's own task carries.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::session::SessionError;
use super::{CallSummary, Engine};
use crate::esl::EslError;
use crate::throttle::LogLimit;

/// What the server grants a new connection: a place among the handshaking connections,
/// from accept until its connect reply arrived, then (if one is free) a call slot. Its
/// handshake slot is freed when it is turned into a call slot or dropped: the token is
/// cancelled, which the server reads as "no longer handshaking" (done, timed out or
/// evicted alike). Idle connections therefore never hold a call slot.
#[derive(Debug)]
pub struct Admission {
    /// How long the connect reply may take.
    pub timeout: Duration,
    /// Cancelled by the server when a newer connection needs the handshake slot.
    give_up: CancellationToken,
    /// The call slots (`esl.max_calls`).
    slots: Arc<Semaphore>,
}

impl Admission {
    /// An admission and the token the server keeps to evict it (or to see it ended).
    pub fn new(timeout: Duration, slots: Arc<Semaphore>) -> (Admission, CancellationToken) {
        let token = CancellationToken::new();
        let admission = Admission {
            timeout,
            give_up: token.clone(),
            slots,
        };
        (admission, token)
    }

    pub fn give_up(&self) -> &CancellationToken {
        &self.give_up
    }

    /// Ends the handshake; the call's slot, or None when `esl.max_calls` calls are in
    /// progress. The slot is the call's until the permit is dropped.
    pub fn into_call_slot(self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.give_up.cancel();
    }
}

/// The Unique-IDs of the calls in progress: a second connection claiming one of them is
/// refused. At most one entry per call slot (`esl.max_calls`).
#[derive(Debug)]
pub struct LiveCalls {
    ids: Arc<Mutex<HashSet<String>>>,
    cap: usize,
}

/// A call's hold on its Unique-ID; released when dropped (the call task ended).
#[derive(Debug)]
pub struct Claim {
    ids: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl LiveCalls {
    pub fn new(cap: usize) -> Self {
        LiveCalls {
            ids: Arc::default(),
            cap,
        }
    }

    /// Claims `id` for this call; None when a live call holds it already (or, which the
    /// call cap rules out, the set is full).
    pub fn claim(&self, id: &str) -> Option<Claim> {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.len() >= self.cap || !ids.insert(id.to_string()) {
            return None;
        }
        Some(Claim {
            ids: self.ids.clone(),
            id: id.to_string(),
        })
    }

    pub fn len(&self) -> usize {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.remove(&self.id);
    }
}

/// The rate-limited warnings about connections that did not become calls (see
/// [`crate::throttle`]): one line per interval (and peer address for the allow list), with
/// the count. The exact totals are in the metrics.
#[derive(Debug, Default)]
pub struct ConnWarnings {
    /// Peers outside `esl.allow`.
    pub not_allowed: LogLimit<IpAddr>,
    /// Calls over `esl.max_calls`.
    pub over_cap: LogLimit,
    /// Handshaking connections evicted for newer ones (`esl.max_handshaking`).
    pub evicted: LogLimit,
    /// Connections that did not answer `connect` in time (`esl.handshake_timeout_ms`).
    pub handshake_timeouts: LogLimit,
    /// Connections that claimed a live call's Unique-ID.
    pub duplicates: LogLimit,
    /// Connections closed before they sent anything (health checks).
    pub probes: LogLimit,
}

/// Counts and logs how a connection ended.
pub(super) fn settle(
    engine: &Engine,
    result: Result<CallSummary, CallError>,
) -> Option<CallSummary> {
    let (stats, warn) = (&engine.stats, &engine.warnings);
    match result {
        Ok(summary) => {
            let cause = summary
                .hangup_cause
                .as_ref()
                .map_or("UNKNOWN", |c| c.as_str());
            stats.outcomes.inc(cause);
            return Some(summary);
        }
        Err(CallError::Probe) => {
            stats.probes.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = warn.probes.hit(()) {
                tracing::debug!(
                    count = n,
                    "connections closed before they sent anything (health checks?)"
                );
            }
        }
        Err(CallError::Handshake(e)) => {
            let evicted = matches!(e, SessionError::Evicted);
            let (counter, limit) = if evicted {
                (&stats.handshakes_evicted, &warn.evicted)
            } else {
                (&stats.handshake_timeouts, &warn.handshake_timeouts)
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = limit.hit(()) {
                tracing::warn!(count = n, error = %e, "connections closed before their connect reply");
            }
        }
        Err(CallError::OverCap) => {
            stats.calls_refused.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = warn.over_cap.hit(()) {
                let max_calls = engine.config.esl.max_calls;
                tracing::warn!(
                    max_calls,
                    count = n,
                    "calls refused: too many calls (esl.max_calls)"
                );
            }
        }
        Err(CallError::Duplicate(id)) => {
            stats.duplicate_calls.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = warn.duplicates.hit(()) {
                tracing::warn!(call_id = %id, count = n, "refused a second connection for a call in progress (same Unique-ID)");
            }
        }
        Err(CallError::Session(e)) => {
            stats.calls_failed.fetch_add(1, Ordering::Relaxed);
            if matches!(e, SessionError::Esl(_) | SessionError::NoChannelData) {
                stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            }
            if let SessionError::Esl(esl) = &e {
                if matches!(**esl, EslError::FrameTimeout { .. }) {
                    stats.frame_timeouts.fetch_add(1, Ordering::Relaxed);
                }
            }
            tracing::warn!(error = %e, "call ended on an event socket error");
        }
    }
    None
}

/// How a connection ended when it did not end as a call.
pub(super) enum CallError {
    /// Closed before it sent a byte: a TCP health check, not a call.
    Probe,
    /// No connect reply in time, or evicted for a newer connection: not a call either.
    Handshake(SessionError),
    /// `esl.max_calls` calls were in progress when it answered `connect`.
    OverCap,
    /// Its Unique-ID is a live call's: refused (it must not act on that call's behalf).
    Duplicate(String),
    Session(SessionError),
}

impl From<SessionError> for CallError {
    fn from(e: SessionError) -> Self {
        CallError::Session(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_id_is_claimed_once_and_freed_with_its_call() {
        let live = LiveCalls::new(2);
        let first = live.claim("a").expect("free");
        assert!(live.claim("a").is_none(), "a second session of a live call");
        let other = live.claim("b").expect("another call");
        assert!(live.claim("c").is_none(), "never more than the call slots");
        drop(first);
        assert!(
            live.claim("a").is_some(),
            "the call ended: its id is free again"
        );
        drop(other);
        assert!(live.is_empty());
    }

    #[test]
    fn an_admission_reads_as_ended_once_it_is_a_call_or_gone() {
        let slots = Arc::new(Semaphore::new(1));
        let (admitted, token) = Admission::new(Duration::from_secs(1), slots.clone());
        assert!(!token.is_cancelled());
        let slot = admitted.into_call_slot().expect("a free slot");
        assert!(token.is_cancelled(), "no longer handshaking");
        let (second, token) = Admission::new(Duration::from_secs(1), slots.clone());
        assert!(second.into_call_slot().is_none(), "the only slot is taken");
        assert!(token.is_cancelled());
        drop(slot);
        assert_eq!(slots.available_permits(), 1);
    }
}
