//! The queue's sending side: [`DebugSink`] (cloned into every call: never blocks, never
//! fails), the queue bounds (count and bytes), the loss counters and whether the database
//! is reachable ([`StoreStatus`]). The loop that empties the queue is in `writer.rs`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::backend::Tally;
use super::record::{DebugRecord, Entry, TimelineRecord};
use super::StoreError;

/// At most one "records lost" log line per this long, per cause.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);
/// Bytes of record text the queue may hold, whatever its length: bodies can be 1 MiB each.
pub const QUEUE_MAX_BYTES: usize = 64 * 1024 * 1024;

pub(crate) enum Msg {
    Record(DebugRecord),
    Timeline(TimelineRecord),
    Flush(oneshot::Sender<()>),
    Purge(oneshot::Sender<Result<usize, StoreError>>),
    /// Parks the writer until `release` is used or dropped (tests fill the queue with it).
    #[cfg(test)]
    Stall {
        started: oneshot::Sender<()>,
        release: oneshot::Receiver<()>,
    },
    /// Runs on the writer with its backend (tests break or inspect the database with it).
    #[cfg(test)]
    Exec(ExecFn),
}

/// A test's hook, given the writer's backend.
#[cfg(test)]
pub(crate) type ExecFn = Box<dyn FnOnce(&mut dyn std::any::Any) + Send>;

/// Loss and progress counters, shared by every handle and the writer.
pub(crate) struct Counters {
    pub(crate) written: AtomicU64,
    dropped_full: AtomicU64,
    pub(crate) dropped_failed: AtomicU64,
    pub(crate) timelines_written: AtomicU64,
    /// Timelines lost, for any reason.
    pub(crate) timelines_dropped: AtomicU64,
    /// Text bytes of the records in the queue; the writer subtracts what it takes.
    pub(crate) queued_bytes: AtomicUsize,
    /// False from a failed write (or a lost connection) until the next success.
    pub(crate) available: AtomicBool,
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
    /// Records lost because the database refused a batch or could not be reached.
    pub dropped_db_error: u64,
    /// Call timelines committed.
    pub timelines_written: u64,
    /// Call timelines lost (queue full or closed, database error).
    pub timelines_dropped: u64,
}

/// Hands records to the writer. Clone one into every call.
#[derive(Clone)]
pub struct DebugSink {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

/// Whether the debug store is writable right now, and its counters; for `/health` and
/// `/metrics`. Cheap to clone.
#[derive(Clone)]
pub struct StoreStatus(pub(crate) Arc<Counters>);

impl StoreStatus {
    /// False after the database refused a write or could not be reached, until a write
    /// succeeds again. Calls go on either way; only debug records are lost.
    pub fn available(&self) -> bool {
        self.0.available.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> SinkStats {
        self.0.snapshot()
    }
}

impl DebugSink {
    pub(crate) fn new(tx: mpsc::Sender<Msg>, counters: Arc<Counters>) -> Self {
        Self { tx, counters }
    }

    /// Queues `rec`. Never blocks and never fails: when the queue is full or the writer has
    /// stopped, the record is dropped and counted.
    pub fn record(&self, rec: DebugRecord) {
        let size = record_bytes(&rec);
        self.send(Msg::Record(rec), size, &self.counters.dropped_full);
    }

    /// Queues a call's timeline, like [`DebugSink::record`] (losses are counted apart).
    pub fn timeline(&self, timeline: TimelineRecord) {
        let size = timeline_bytes(&timeline);
        self.send(
            Msg::Timeline(timeline),
            size,
            &self.counters.timelines_dropped,
        );
    }

    fn send(&self, msg: Msg, size: usize, lost: &AtomicU64) {
        let c = &self.counters;
        if c.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > QUEUE_MAX_BYTES {
            c.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            self.lost(
                lost,
                "debug queue over its byte budget; dropping debug records",
            );
            return;
        }
        let why = match self.tx.try_send(msg) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => "debug queue full; dropping debug records",
            Err(mpsc::error::TrySendError::Closed(_)) => {
                "debug writer stopped; dropping debug records"
            }
        };
        c.queued_bytes.fetch_sub(size, Ordering::Relaxed);
        self.lost(lost, why);
    }

    fn lost(&self, counter: &AtomicU64, why: &'static str) {
        let c = &self.counters;
        let total = counter.fetch_add(1, Ordering::Relaxed) + 1;
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

    pub fn status(&self) -> StoreStatus {
        StoreStatus(self.counters.clone())
    }
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            written: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            dropped_failed: AtomicU64::new(0),
            timelines_written: AtomicU64::new(0),
            timelines_dropped: AtomicU64::new(0),
            queued_bytes: AtomicUsize::new(0),
            available: AtomicBool::new(true),
            start: Instant::now(),
            next_full_log_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn snapshot(&self) -> SinkStats {
        SinkStats {
            written: self.written.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_full.load(Ordering::Relaxed),
            dropped_db_error: self.dropped_failed.load(Ordering::Relaxed),
            timelines_written: self.timelines_written.load(Ordering::Relaxed),
            timelines_dropped: self.timelines_dropped.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add_written(&self, t: Tally) {
        self.written.fetch_add(t.records, Ordering::Relaxed);
        self.timelines_written
            .fetch_add(t.timelines, Ordering::Relaxed);
    }

    pub(crate) fn add_lost(&self, t: Tally) {
        self.dropped_failed.fetch_add(t.records, Ordering::Relaxed);
        self.timelines_dropped
            .fetch_add(t.timelines, Ordering::Relaxed);
    }
}

/// The text a queued timeline holds, for the byte budget.
pub(crate) fn timeline_bytes(t: &TimelineRecord) -> usize {
    t.call_id.len() + t.account_id.len() + t.json.len()
}

/// The bytes a queued message holds.
pub(crate) fn msg_bytes(msg: &Msg) -> usize {
    match msg {
        Msg::Record(r) => record_bytes(r),
        Msg::Timeline(t) => timeline_bytes(t),
        _ => 0,
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
