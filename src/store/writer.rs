//! The writer thread and its two handles: [`DebugSink`] (many, on call tasks: never blocks,
//! never fails) and [`StoreWriter`] (one, for flush and shutdown). Owns the queue bounds and
//! the loss counters; the SQL itself lives in `batch.rs`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;

use super::batch;
use super::record::{unix_ms, DebugRecord, Entry};
use super::StoreError;

/// How often the writer purges expired records (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// At most one "records lost" log line per this long, per cause.
const LOG_EVERY: Duration = Duration::from_secs(10);
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
    written: AtomicU64,
    dropped_full: AtomicU64,
    dropped_failed: AtomicU64,
    queued_bytes: AtomicUsize,
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
    fn snapshot(&self) -> SinkStats {
        SinkStats {
            written: self.written.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_full.load(Ordering::Relaxed),
            dropped_db_error: self.dropped_failed.load(Ordering::Relaxed),
        }
    }
}

/// Owns the writer thread. `shutdown` flushes the queue and joins; dropping it without
/// `shutdown` still asks the thread to flush and stop, without waiting.
pub struct StoreWriter {
    tx: SyncSender<Msg>,
    handle: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl StoreWriter {
    /// Blocks until every record queued before this call is committed (or counted lost).
    /// Blocking: from async code, call it in `spawn_blocking`.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = mpsc::channel();
        self.tx
            .send(Msg::Flush(done))
            .map_err(|_| StoreError::WriterGone)?;
        wait.recv().map_err(|_| StoreError::WriterGone)
    }

    /// Runs the retention purge now (it also runs at start and hourly); returns the
    /// number of records deleted. Blocking, like `flush`.
    pub fn purge_expired(&self) -> Result<usize, StoreError> {
        let (done, wait) = mpsc::channel();
        self.tx
            .send(Msg::Purge(done))
            .map_err(|_| StoreError::WriterGone)?;
        wait.recv().map_err(|_| StoreError::WriterGone)?
    }

    pub fn stats(&self) -> SinkStats {
        self.counters.snapshot()
    }

    /// Writes what is queued, then stops and joins the thread. Blocking: from async code,
    /// call it in `spawn_blocking`. Records sent after this are dropped and counted.
    pub fn shutdown(mut self) {
        // `send` waits for room when the queue is full; the thread is draining it.
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(handle) = self.handle.take() {
            if handle.join().is_err() {
                tracing::error!("debug writer thread panicked");
            }
        }
        let s = self.counters.snapshot();
        tracing::info!(
            written = s.written,
            dropped_queue_full = s.dropped_queue_full,
            dropped_db_error = s.dropped_db_error,
            "debug writer stopped"
        );
    }

    #[cfg(test)]
    pub(crate) fn exec(&self, f: impl FnOnce(&Connection) + Send + 'static) {
        let _ = self.tx.send(Msg::Exec(Box::new(f)));
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.tx.try_send(Msg::Shutdown);
        }
    }
}

/// Starts the writer thread on a migrated connection.
pub(crate) fn start(
    conn: Connection,
    queue_capacity: usize,
    batch_max: usize,
    retention_days: u32,
) -> Result<(DebugSink, StoreWriter), StoreError> {
    let capacity = queue_capacity.max(1);
    let (tx, rx) = mpsc::sync_channel(capacity);
    let counters = Arc::new(Counters {
        written: AtomicU64::new(0),
        dropped_full: AtomicU64::new(0),
        dropped_failed: AtomicU64::new(0),
        queued_bytes: AtomicUsize::new(0),
        start: Instant::now(),
        next_full_log_ms: AtomicU64::new(0),
    });
    let thread = Thread {
        conn,
        rx,
        counters: counters.clone(),
        capacity,
        batch_max: batch_max.max(1),
        retention_days,
        failures_unlogged: 0,
        last_failure_log: None,
    };
    let handle = std::thread::Builder::new()
        .name("pivot-debug-writer".into())
        .spawn(move || thread.run())
        .map_err(StoreError::Thread)?;
    let sink = DebugSink {
        tx: tx.clone(),
        counters: counters.clone(),
    };
    let writer = StoreWriter {
        tx,
        handle: Some(handle),
        counters,
    };
    Ok((sink, writer))
}

struct Thread {
    conn: Connection,
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    capacity: usize,
    batch_max: usize,
    retention_days: u32,
    failures_unlogged: u64,
    last_failure_log: Option<Instant>,
}

impl Thread {
    fn run(mut self) {
        self.purge_logged();
        let mut next_purge = Instant::now() + RETENTION_EVERY;
        let mut batch = Vec::with_capacity(self.batch_max);
        loop {
            let wait = next_purge.saturating_duration_since(Instant::now());
            let msg = match self.rx.recv_timeout(wait) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    self.purge_logged();
                    next_purge = Instant::now() + RETENTION_EVERY;
                    continue;
                }
                // Every handle is gone, StoreWriter included: nothing left to do.
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Take what else is waiting, up to a batch, so one transaction covers many.
            let mut next = Some(msg);
            while let Some(Msg::Record(rec)) = next {
                self.take_bytes(&rec);
                batch.push(rec);
                next = if batch.len() < self.batch_max {
                    self.rx.try_recv().ok()
                } else {
                    None
                };
            }
            self.write(&mut batch);
            match next {
                Some(Msg::Shutdown) => return self.drain(),
                Some(other) => self.control(other),
                None => {}
            }
        }
    }

    /// Handles everything but records and shutdown.
    fn control(&mut self, msg: Msg) {
        match msg {
            Msg::Flush(done) => {
                let _ = done.send(());
            }
            Msg::Purge(done) => {
                let _ = done.send(self.purge());
            }
            #[cfg(test)]
            Msg::Exec(f) => f(&self.conn),
            Msg::Record(_) | Msg::Shutdown => {}
        }
    }

    /// After shutdown: writes what was queued before it. Bounded by the queue's capacity,
    /// so senders that keep going cannot hold shutdown forever.
    fn drain(mut self) {
        let mut batch = Vec::with_capacity(self.batch_max);
        for _ in 0..self.capacity {
            match self.rx.try_recv() {
                Ok(Msg::Record(rec)) => {
                    self.take_bytes(&rec);
                    batch.push(rec);
                    if batch.len() >= self.batch_max {
                        self.write(&mut batch);
                    }
                }
                Ok(other) => self.control(other),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        self.write(&mut batch);
    }

    fn take_bytes(&self, rec: &DebugRecord) {
        self.counters
            .queued_bytes
            .fetch_sub(record_bytes(rec), Ordering::Relaxed);
    }

    fn write(&mut self, batch: &mut Vec<DebugRecord>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        match batch::write_batch(&mut self.conn, batch) {
            Ok(()) => {
                self.counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.dropped_failed.fetch_add(n, Ordering::Relaxed);
                self.failures_unlogged += n;
                let due = match self.last_failure_log {
                    Some(t) => t.elapsed() >= LOG_EVERY,
                    None => true,
                };
                if due {
                    tracing::warn!(
                        error = %e,
                        lost = self.failures_unlogged,
                        "debug database refused a batch; debug records lost"
                    );
                    self.failures_unlogged = 0;
                    self.last_failure_log = Some(Instant::now());
                }
            }
        }
        batch.clear();
    }

    fn purge(&mut self) -> Result<usize, StoreError> {
        if self.retention_days == 0 {
            return Ok(0);
        }
        let keep = Duration::from_secs(u64::from(self.retention_days) * 86_400);
        let cutoff = SystemTime::now()
            .checked_sub(keep)
            .map(unix_ms)
            .unwrap_or(0);
        Ok(batch::purge_before(&self.conn, cutoff)?)
    }

    fn purge_logged(&mut self) {
        match self.purge() {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired debug records purged"),
            Err(e) => tracing::warn!(error = %e, "debug retention purge failed"),
        }
    }
}

/// The text a queued record holds, for the byte budget.
fn record_bytes(rec: &DebugRecord) -> usize {
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
