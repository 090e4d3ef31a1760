//! The queue's sending side: [`DebugSink`] (cloned into every call: never blocks, never
//! fails), the queue bounds (count and bytes) and the loss counters. The thread that
//! empties the queue is in `writer.rs`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(test)]
use rusqlite::Connection;

use super::record::{DebugRecord, Entry};
use super::StoreError;

/// At most one "records lost" log line per this long, per cause.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);
/// Bytes of record text the queue may hold, whatever its length: bodies can be 1 MiB each.
pub const QUEUE_MAX_BYTES: usize = 64 * 1024 * 1024;

pub(crate) enum Msg {
    Record(DebugRecord),
    Flush(mpsc::Sender<()>),
    Purge(mpsc::Sender<Result<usize, StoreError>>),
    Shutdown,
    #[cfg(test)]
    Exec(Box<dyn FnOnce(&Connection) + Send>),
}

/// Loss and progress counters, shared by every handle and the thread.
pub(crate) struct Counters {
    pub(crate) written: AtomicU64,
    dropped_full: AtomicU64,
    pub(crate) dropped_failed: AtomicU64,
    /// Text bytes of the records in the queue; the thread subtracts what it takes.
    pub(crate) queued_bytes: AtomicUsize,
    start: Instant,
    next_full_log_ms: AtomicU64,
}

/// A snapshot of the counters, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// Records committed to the database.
    pub written: u64,
    /// Records refused because the queue was full (by count or by bytes) or closed.
    pub dropped_queue_full: u64,
    /// Records lost because the database refused a batch (locked, read-only, full, gone).
    pub dropped_db_error: u64,
}

/// Hands records to the writer thread. Clone one into every call.
#[derive(Clone)]
pub struct DebugSink {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
}

impl DebugSink {
    pub(crate) fn new(tx: SyncSender<Msg>, counters: Arc<Counters>) -> Self {
        Self { tx, counters }
    }

    /// Queues `rec`. Never blocks and never fails: when the queue is full or the writer has
    /// stopped, the record is dropped and counted.
    pub fn record(&self, rec: DebugRecord) {
        let size = record_bytes(&rec);
        let c = &self.counters;
        if c.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > QUEUE_MAX_BYTES {
            c.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.lost("debug queue over its byte budget; dropping debug records");
            return;
        }
        match self.tx.try_send(Msg::Record(rec)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                c.queued_bytes.fetch_sub(size, Ordering::Relaxed);
                self.lost("debug queue full; dropping debug records");
            }
            Err(TrySendError::Disconnected(_)) => {
                c.queued_bytes.fetch_sub(size, Ordering::Relaxed);
                self.lost("debug writer stopped; dropping debug records");
            }
        }
    }

    fn lost(&self, why: &'static str) {
        let c = &self.counters;
        let total = c.dropped_full.fetch_add(1, Ordering::Relaxed) + 1;
        let now_ms = u64::try_from(c.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = c.next_full_log_ms.load(Ordering::Relaxed);
        let later = now_ms.saturating_add(LOG_EVERY.as_millis() as u64);
        if now_ms >= next
            && c.next_full_log_ms
                .compare_exchange(next, later, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(dropped_total = total, "{why}");
        }
    }

    /// Records lost so far, for any reason.
    pub fn dropped(&self) -> u64 {
        let s = self.stats();
        s.dropped_queue_full + s.dropped_db_error
    }

    /// Records committed so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> SinkStats {
        self.counters.snapshot()
    }
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            written: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            dropped_failed: AtomicU64::new(0),
            queued_bytes: AtomicUsize::new(0),
            start: Instant::now(),
            next_full_log_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn snapshot(&self) -> SinkStats {
        SinkStats {
            written: self.written.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_full.load(Ordering::Relaxed),
            dropped_db_error: self.dropped_failed.load(Ordering::Relaxed),
        }
    }
}

/// The text a queued record holds, for the byte budget.
pub(crate) fn record_bytes(rec: &DebugRecord) -> usize {
    let headers = |h: &[(String, String)]| h.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
    let entry = match &rec.entry {
        Entry::Request {
            method,
            uri,
            req_headers,
            req_body,
        } => method.len() + uri.len() + headers(req_headers) + req_body.len(),
        Entry::ResponseBody { resp_body } => resp_body.len(),
        Entry::ResponseHead { headers: h, .. } => headers(h),
        Entry::Error { kind, message } => kind.len() + message.len(),
    };
    rec.call_id.len() + rec.account_id.len() + entry
}
