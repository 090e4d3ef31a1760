//! The writer thread and its handle [`StoreWriter`] (flush, purge, shutdown): batches
//! records from the queue into transactions, runs retention, counts database losses. The
//! SQL itself is in `batch.rs`; the sending side in `sink.rs`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use rusqlite::Connection;

use super::batch;
use super::record::{unix_ms, DebugRecord};
use super::schema::{self, FileId};
use super::sink::{record_bytes, Counters, DebugSink, Msg, SinkStats, LOG_EVERY};
use super::StoreError;

/// How often the writer purges expired records (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

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

/// Starts the writer thread on a migrated connection to `path`.
pub(crate) fn start(
    conn: Connection,
    path: PathBuf,
    queue_capacity: usize,
    batch_max: usize,
    retention_days: u32,
) -> Result<(DebugSink, StoreWriter), StoreError> {
    let capacity = queue_capacity.max(1);
    let (tx, rx) = mpsc::sync_channel(capacity);
    let counters = Arc::new(Counters::new());
    let thread = Thread {
        file: schema::file_id(&path),
        conn: Some(conn),
        path,
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
    let sink = DebugSink::new(tx.clone(), counters.clone());
    let writer = StoreWriter {
        tx,
        handle: Some(handle),
        counters,
    };
    Ok((sink, writer))
}

struct Thread {
    /// `None` after the file vanished and could not be recreated: batches are lost.
    conn: Option<Connection>,
    path: PathBuf,
    /// The file `conn` has open.
    file: Option<FileId>,
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
            Msg::Exec(f) => {
                if let Some(conn) = &self.conn {
                    f(conn)
                }
            }
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
        if schema::file_id(&self.path) != self.file {
            self.reopen();
        }
        let n = batch.len() as u64;
        let result = match self.conn.as_mut() {
            Some(conn) => batch::write_batch(conn, batch).map_err(StoreError::from),
            None => Err(StoreError::Unavailable),
        };
        batch.clear();
        match result {
            Ok(()) => {
                self.counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.dropped_failed.fetch_add(n, Ordering::Relaxed);
                self.failures_unlogged += n;
                if self.log_due() {
                    tracing::warn!(
                        error = %e,
                        lost = self.failures_unlogged,
                        "debug database refused a batch; debug records lost"
                    );
                    self.failures_unlogged = 0;
                }
            }
        }
    }

    /// The file was deleted or replaced: close the orphan and start a new file at the path
    /// (refusing a foreign one as at start), or stay without one until the next batch.
    fn reopen(&mut self) {
        if let Some(old) = self.conn.take() {
            // SQLite keeps the WAL of a moved file on close; a WAL left at the path would be
            // read as part of whatever file is there next. Empty it into the orphan first.
            if let Err(e) = old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "cannot empty the WAL of the vanished debug database");
            }
        }
        match schema::open_and_migrate(&self.path) {
            Ok(conn) => {
                self.conn = Some(conn);
                self.file = schema::file_id(&self.path);
                tracing::warn!(path = %self.path.display(), "debug database file was deleted or replaced; started a new one");
            }
            Err(e) => {
                self.file = None;
                if self.log_due() {
                    tracing::warn!(error = %e, "debug database file was deleted or replaced and cannot be recreated");
                }
            }
        }
    }

    fn log_due(&mut self) -> bool {
        let due = match self.last_failure_log {
            Some(t) => t.elapsed() >= LOG_EVERY,
            None => true,
        };
        if due {
            self.last_failure_log = Some(Instant::now());
        }
        due
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
        let conn = self.conn.as_ref().ok_or(StoreError::Unavailable)?;
        Ok(batch::purge_before(conn, cutoff)?)
    }

    fn purge_logged(&mut self) {
        match self.purge() {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired debug records purged"),
            Err(e) => tracing::warn!(error = %e, "debug retention purge failed"),
        }
    }
}
