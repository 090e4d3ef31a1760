//! The writer loop, the same for both databases (its handle is `handle.rs`). It gathers
//! records from the queue into batches (group commit: after the first record it waits up
//! to [`LINGER`] for more, so a busy node commits a few hundred records at once instead of
//! one), writes each batch all or nothing through a [`Backend`], runs retention, and counts
//! what is lost. While the database cannot be reached it leaves records in the (bounded)
//! queue and retries the connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backend::{Backend, Batch, Settled, Wrote};
use super::record::unix_ms;
use super::sink::{msg_bytes, Counters, Msg, LOG_EVERY};
use super::StoreError;

/// How often the writer purges expired records and tokens (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// How long a batch waits for more records after its first one.
pub(crate) const LINGER: Duration = Duration::from_millis(50);
/// The first wait before reconnecting to a database that went away; doubled up to
/// [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// The loop's settings.
pub(crate) struct LoopConfig {
    pub capacity: usize,
    pub batch_max: usize,
    pub retention_days: u32,
}

pub(crate) struct WriterLoop<B> {
    pub backend: B,
    pub rx: mpsc::Receiver<Msg>,
    pub counters: Arc<Counters>,
    pub stop: CancellationToken,
    pub config: LoopConfig,
    /// For log lines: which database this is (never with a password).
    pub target: String,
    /// For "batch lost" lines.
    pub log: LogLimiter,
    /// For "database unreachable" lines.
    pub down_log: LogLimiter,
}

impl<B: Backend> WriterLoop<B> {
    pub(crate) async fn run(mut self) {
        self.purge_logged().await;
        let mut next_purge = Instant::now() + RETENTION_EVERY;
        let mut batch = Batch::default();
        loop {
            if !self.backend.ready() {
                if self.wait_for_database().await {
                    continue;
                }
                return self.drain().await;
            }
            let msg = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return self.drain().await,
                _ = tokio::time::sleep_until(next_purge) => {
                    self.purge_logged().await;
                    next_purge = Instant::now() + RETENTION_EVERY;
                    continue;
                }
                msg = self.rx.recv() => msg,
            };
            // Every sender is gone, StoreWriter included: nothing left to do.
            let Some(msg) = msg else { return };
            let next = self.gather(msg, &mut batch).await;
            self.write(&mut batch).await;
            if let Some(other) = next {
                self.control(other).await;
            }
        }
    }

    /// Adds `first` and what follows to `batch`, until it is full or [`LINGER`] has passed
    /// since `first`; returns the message that ended it, if it was not a record.
    ///
    /// The linger is a sleep, not a wait on the queue: a call that queues a record while
    /// the writer lingers does not wake it (no thread wake-up per record), and one wake-up
    /// then takes the whole batch.
    async fn gather(&mut self, first: Msg, batch: &mut Batch) -> Option<Msg> {
        let deadline = Instant::now() + LINGER;
        let mut msg = first;
        let mut slept = false;
        loop {
            if let Some(other) = self.take(msg, batch) {
                return Some(other);
            }
            if batch.len() >= self.config.batch_max {
                return None;
            }
            msg = match self.rx.try_recv() {
                Ok(m) => m,
                Err(mpsc::error::TryRecvError::Empty) if !slept => {
                    slept = true;
                    tokio::select! {
                        biased;
                        _ = self.stop.cancelled() => return None,
                        _ = tokio::time::sleep_until(deadline) => {}
                    }
                    match self.rx.try_recv() {
                        Ok(m) => m,
                        Err(_) => return None,
                    }
                }
                Err(_) => return None,
            };
        }
    }

    /// Adds a record or a timeline to `batch`; hands back any other message.
    fn take(&self, msg: Msg, batch: &mut Batch) -> Option<Msg> {
        let size = msg_bytes(&msg);
        match msg {
            Msg::Record(rec) => batch.records.push(rec),
            Msg::Timeline(t) => batch.timelines.push(t),
            other => return Some(other),
        }
        self.counters
            .queued_bytes
            .fetch_sub(size, Ordering::Relaxed);
        None
    }

    async fn control(&mut self, msg: Msg) {
        match msg {
            Msg::Flush(done) => {
                let _ = done.send(());
            }
            Msg::Purge(done) => {
                let _ = done.send(self.purge().await);
            }
            #[cfg(test)]
            Msg::Stall { started, release } => {
                let _ = started.send(());
                let _ = release.await;
            }
            #[cfg(test)]
            Msg::Exec(f) => f(self.backend.as_any()),
            Msg::Record(_) | Msg::Timeline(_) => {}
        }
    }

    /// The database went away: retry with backoff, leaving records in the queue. Returns
    /// true once it is back, false when shutdown was asked for meanwhile.
    async fn wait_for_database(&mut self) -> bool {
        let mut wait = RECONNECT_FIRST;
        let started = Instant::now();
        let lost_before = self.counters.snapshot();
        loop {
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => return false,
                _ = tokio::time::sleep(wait) => {}
            }
            match self.backend.reconnect().await {
                Ok(settled) => {
                    self.settle(settled);
                    self.counters.available.store(true, Ordering::Relaxed);
                    let now = self.counters.snapshot();
                    let lost = (now.dropped_queue_full + now.dropped_db_error)
                        - (lost_before.dropped_queue_full + lost_before.dropped_db_error);
                    tracing::warn!(
                        target_db = %self.target,
                        down_ms = started.elapsed().as_millis() as u64,
                        lost_while_down = lost,
                        "debug store reachable again; writing the queued debug records"
                    );
                    return true;
                }
                Err(e) => {
                    self.counters.available.store(false, Ordering::Relaxed);
                    if let Some(suppressed) = self.down_log.due() {
                        tracing::warn!(
                            target_db = %self.target,
                            error = %e,
                            suppressed,
                            queued_max = self.config.capacity,
                            "debug store unreachable; calls go on, debug records wait in the queue and are dropped (counted) when it is full; retrying"
                        );
                    }
                    wait = (wait * 2).min(RECONNECT_MAX);
                }
            }
        }
    }

    async fn write(&mut self, batch: &mut Batch) {
        if batch.is_empty() {
            return;
        }
        let tally = batch.tally();
        let n = batch.len() as u64;
        let result = self.backend.write(batch).await;
        batch.clear();
        match result {
            Ok(Wrote::Committed) => {
                self.counters.add_written(tally);
                self.counters.available.store(true, Ordering::Relaxed);
            }
            Ok(Wrote::InDoubt) => {
                self.counters.available.store(false, Ordering::Relaxed);
                tracing::warn!(
                    target_db = %self.target,
                    records = n,
                    "debug store connection lost during a commit; the batch is checked (and written again if it did not commit) on reconnect"
                );
            }
            Err(e) => {
                self.counters.add_lost(tally);
                self.counters.available.store(false, Ordering::Relaxed);
                self.log.lost += n;
                if let Some(suppressed) = self.log.due() {
                    tracing::warn!(
                        target_db = %self.target,
                        error = %e,
                        lost = self.log.lost,
                        suppressed,
                        "debug store refused a batch; debug records lost"
                    );
                    self.log.lost = 0;
                }
            }
        }
    }

    /// After shutdown: writes what was queued before it. Bounded by the queue's capacity,
    /// so senders that keep going cannot hold shutdown forever; when the database cannot
    /// be reached (one more try), the records are counted lost.
    async fn drain(mut self) {
        if !self.backend.ready() {
            match self.backend.reconnect().await {
                Ok(settled) => self.settle(settled),
                Err(_) => {
                    let abandoned = self.backend.abandon();
                    self.counters.add_lost(abandoned);
                    tracing::warn!(target_db = %self.target, "debug store unreachable at shutdown; queued debug records are lost");
                }
            }
        }
        let mut batch = Batch::default();
        for _ in 0..self.config.capacity {
            match self.rx.try_recv() {
                Ok(msg) => {
                    if let Some(other) = self.take(msg, &mut batch) {
                        self.control(other).await;
                    } else if batch.len() >= self.config.batch_max {
                        self.write_or_count(&mut batch).await;
                    }
                }
                Err(_) => break,
            }
        }
        self.write_or_count(&mut batch).await;
        self.rx.close();
    }

    fn settle(&self, settled: Settled) {
        self.counters.add_written(settled.written);
        self.counters.add_lost(settled.lost);
    }

    async fn write_or_count(&mut self, batch: &mut Batch) {
        if self.backend.ready() {
            self.write(batch).await;
        } else {
            self.counters.add_lost(batch.tally());
            batch.clear();
        }
    }

    async fn purge(&mut self) -> Result<usize, StoreError> {
        if !self.backend.ready() {
            return Err(StoreError::Unavailable);
        }
        let now = SystemTime::now();
        let cutoff = match self.config.retention_days {
            0 => None,
            days => {
                let keep = Duration::from_secs(u64::from(days) * 86_400);
                Some(now.checked_sub(keep).map(unix_ms).unwrap_or(0))
            }
        };
        self.backend.purge(cutoff, unix_ms(now)).await
    }

    async fn purge_logged(&mut self) {
        match self.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired debug records purged"),
            Err(e) => tracing::warn!(error = %e, "debug retention purge failed"),
        }
    }
}

/// At most one warning per [`LOG_EVERY`]; counts what it held back.
#[derive(Default)]
pub(crate) struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
    /// Records lost since the last line.
    pub lost: u64,
}

impl LogLimiter {
    /// `Some(lines held back since the last one)` when a line may be logged now.
    pub(crate) fn due(&mut self) -> Option<u64> {
        let due = self.last.is_none_or(|t| t.elapsed() >= LOG_EVERY);
        if due {
            self.last = Some(Instant::now());
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}
