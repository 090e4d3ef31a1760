//! The embedded store: one SQLite file (`[store] path`), written by one thread that runs
//! the shared writer loop, read through a few pooled connections on tokio's blocking pool.
//! Notices when its file is deleted or replaced under it and starts a new one.

mod batch;
mod reader;
mod schema;
mod sessions;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;

use rusqlite::Connection;

pub(crate) use reader::SqliteReader;
pub use schema::SCHEMA_VERSION;
pub(crate) use sessions::SqliteSessions;

use super::backend::{Backend, Batch, Settled, Tally, Wrote};
use super::writer::LogLimiter;
use super::StoreError;
use schema::FileId;

/// Opens (creating or migrating) the file: the writer's backend, stamping `node` on what
/// it writes.
pub(crate) async fn open_file(path: PathBuf, node: String) -> Result<SqliteBackend, StoreError> {
    let (conn, path) = tokio::task::spawn_blocking(move || {
        let conn = schema::open_and_migrate(&path)?;
        Ok::<_, StoreError>((conn, path))
    })
    .await
    .map_err(|e| StoreError::Join(e.to_string()))??;
    Ok(SqliteBackend {
        file: schema::file_id(&path),
        conn: Some(conn),
        path,
        node,
        log: LogLimiter::default(),
    })
}

pub(crate) struct SqliteBackend {
    /// `None` after the file vanished and could not be recreated: batches are lost.
    conn: Option<Connection>,
    path: PathBuf,
    /// The file `conn` has open.
    file: Option<FileId>,
    node: String,
    log: LogLimiter,
}

impl SqliteBackend {
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn write_now(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if schema::file_id(&self.path) != self.file {
            self.reopen();
        }
        let conn = self.conn.as_mut().ok_or(StoreError::Unavailable)?;
        Ok(batch::write_batch(conn, &self.node, batch)?)
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
                if self.log.due().is_some() {
                    tracing::warn!(error = %e, "debug database file was deleted or replaced and cannot be recreated");
                }
            }
        }
    }

    fn purge_now(&mut self, cutoff: Option<i64>, now_ms: i64) -> Result<usize, StoreError> {
        let conn = self.conn.as_ref().ok_or(StoreError::Unavailable)?;
        Ok(batch::purge(conn, cutoff, now_ms)?)
    }

    /// The writer's connection, for tests that break or inspect the file.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }
}

/// SQLite's work is synchronous and runs on the writer's own thread, so each future is
/// ready at once.
impl Backend for SqliteBackend {
    fn write(&mut self, batch: &Batch) -> impl Future<Output = Result<Wrote, StoreError>> + Send {
        std::future::ready(self.write_now(batch).map(|()| Wrote::Committed))
    }

    fn purge(
        &mut self,
        records_before_ms: Option<i64>,
        now_ms: i64,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        std::future::ready(self.purge_now(records_before_ms, now_ms))
    }

    fn ready(&self) -> bool {
        true
    }

    fn reconnect(&mut self) -> impl Future<Output = Result<Settled, StoreError>> + Send {
        std::future::ready(Ok(Settled::default()))
    }

    fn abandon(&mut self) -> Tally {
        Tally::default()
    }

    #[cfg(test)]
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
