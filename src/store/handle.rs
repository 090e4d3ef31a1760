//! [`StoreWriter`], the handle on the writer loop: flush, purge, shutdown.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::sink::{Counters, Msg, SinkStats};
use super::StoreError;

/// Owns the writer. `shutdown` writes what is queued and waits for the loop to end;
/// dropping it without `shutdown` still asks the loop to write out and stop.
pub struct StoreWriter {
    tx: mpsc::Sender<Msg>,
    stop: CancellationToken,
    done: Option<Done>,
    counters: Arc<Counters>,
}

/// How the loop runs: SQLite's on its own thread, PostgreSQL's as a task.
pub(crate) enum Done {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

impl StoreWriter {
    pub(crate) fn new(
        tx: mpsc::Sender<Msg>,
        stop: CancellationToken,
        done: Done,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            tx,
            stop,
            done: Some(done),
            counters,
        }
    }

    /// Waits until every record queued before this call is committed (or counted lost).
    /// While the database is unreachable this waits for it to come back.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Flush(done))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        wait.await.map_err(|_| StoreError::WriterGone)
    }

    /// Runs the retention purge now (it also runs at start and hourly); returns the
    /// number of records deleted.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Purge(done))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        wait.await.map_err(|_| StoreError::WriterGone)?
    }

    pub fn stats(&self) -> SinkStats {
        self.counters.snapshot()
    }

    /// Writes what is queued (bounded by the queue's capacity), then stops. Records sent
    /// after this are dropped and counted.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let panicked = match self.done.take() {
            Some(Done::Thread(handle)) => {
                let joined = tokio::task::spawn_blocking(move || handle.join()).await;
                !matches!(joined, Ok(Ok(())))
            }
            Some(Done::Task(task)) => task.await.is_err(),
            None => false,
        };
        if panicked {
            tracing::error!("debug writer panicked");
        }
        let s = self.counters.snapshot();
        tracing::info!(
            written = s.written,
            dropped_queue_full = s.dropped_queue_full,
            dropped_db_error = s.dropped_db_error,
            "debug writer stopped"
        );
    }

    /// Parks the loop until the returned sender is used or dropped.
    #[cfg(test)]
    pub(crate) async fn stall(&self) -> oneshot::Sender<()> {
        let (started, started_rx) = oneshot::channel();
        let (release_tx, release) = oneshot::channel();
        let _ = self.tx.send(Msg::Stall { started, release }).await;
        let _ = started_rx.await;
        release_tx
    }

    /// Runs `f` on the writer with its backend, after what is queued before it.
    #[cfg(test)]
    pub(crate) async fn exec(&self, f: impl FnOnce(&mut dyn std::any::Any) + Send + 'static) {
        let _ = self.tx.send(Msg::Exec(Box::new(f))).await;
        let _ = self.flush().await;
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
