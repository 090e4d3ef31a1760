//! Queries on the SQLite file for the REST API, run on tokio's blocking pool over a few
//! pooled connections, so SQLite never blocks the async runtime. The debug log is only
//! read here; the token table's writes (`sessions.rs`) use a pool of writable connections.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, Row};

use super::schema::{self, FileId};
use crate::store::paging::encode_start_key;
use crate::store::record::{DebugCall, Page, StoredRecord, StoredTimeline};
use crate::store::rows::StoredColumns;
use crate::store::StoreError;

/// Idle connections kept for reuse.
const POOL_IDLE_MAX: usize = 4;

/// Reads the debug log. Cheap to clone.
#[derive(Clone)]
pub(crate) struct SqliteReader {
    pool: Arc<Pool>,
}

impl SqliteReader {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            pool: Arc::new(Pool::new(path, false)),
        }
    }

    pub(crate) async fn list_calls(
        &self,
        account: &str,
        limit: usize,
        start: Option<(i64, String)>,
    ) -> Result<Page, StoreError> {
        let account = account.to_owned();
        self.pool
            .run(move |conn| list_page(conn, &account, limit, start))
            .await
    }

    pub(crate) async fn call_records(
        &self,
        account: &str,
        call_id: &str,
        max: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let (account, call_id) = (account.to_owned(), call_id.to_owned());
        self.pool
            .run(move |conn| records(conn, &account, &call_id, max))
            .await
    }
}

impl SqliteReader {
    pub(crate) async fn call_timeline(
        &self,
        account: &str,
        call_id: &str,
    ) -> Result<Option<StoredTimeline>, StoreError> {
        let (account, call_id) = (account.to_owned(), call_id.to_owned());
        self.pool
            .run(move |conn| timeline(conn, &account, &call_id))
            .await
    }
}

/// The call's latest timeline (a call has one; a call id seen twice keeps the last).
fn timeline(
    conn: &Connection,
    account: &str,
    call_id: &str,
) -> Result<Option<StoredTimeline>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT call_id, account_id, node, created_ms, timeline FROM debug_timelines
         WHERE account_id = ?1 AND call_id = ?2 ORDER BY id DESC LIMIT 1",
    )?;
    let mut rows = stmt.query_map(params![account, call_id], |row| {
        Ok(StoredTimeline {
            call_id: row.get(0)?,
            account_id: row.get(1)?,
            node: row.get(2)?,
            created_ms: row.get(3)?,
            json: row.get(4)?,
        })
    })?;
    Ok(rows.next().transpose()?)
}

/// A few connections to one file, used on tokio's blocking pool.
pub(crate) struct Pool {
    path: PathBuf,
    writable: bool,
    /// Each with the file it has open, so one left on a deleted file is not reused.
    idle: Mutex<Vec<(Connection, Option<FileId>)>>,
}

impl Pool {
    pub(crate) fn new(path: PathBuf, writable: bool) -> Self {
        Self {
            path,
            writable,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a pooled connection, off the async runtime.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.with_conn(f))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let file = schema::file_id(&self.path);
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|(_, id)| *id == file);
            idle.pop()
        };
        let conn = match idle {
            Some((conn, _)) => conn,
            None => schema::open_reader(&self.path, self.writable)?,
        };
        let out = f(&conn);
        // A connection that just failed may be broken (file gone): do not keep it.
        if out.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < POOL_IDLE_MAX {
                idle.push((conn, file));
            }
        }
        out
    }
}

fn list_page(
    conn: &Connection,
    account: &str,
    limit: usize,
    start: Option<(i64, String)>,
) -> Result<Page, StoreError> {
    const COLS: &str =
        "SELECT call_id, node, created_ms, iterations, uri, status_code FROM debug_calls";
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let mut calls = match start {
        None => {
            let sql = format!(
                "{COLS} WHERE account_id = ?1 ORDER BY created_ms DESC, call_id DESC LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![account, fetch], summary)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
        Some((ms, call_id)) => {
            let sql = format!(
                "{COLS} WHERE account_id = ?1 AND (created_ms, call_id) < (?2, ?3)
                 ORDER BY created_ms DESC, call_id DESC LIMIT ?4"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![account, ms, call_id, fetch], summary)?;
            rows.collect::<Result<Vec<_>, _>>()?
        }
    };
    let next_start_key = if calls.len() > limit {
        calls.truncate(limit);
        calls
            .last()
            .map(|c| encode_start_key(c.created_ms, &c.call_id))
    } else {
        None
    };
    Ok(Page {
        calls,
        next_start_key,
    })
}

fn summary(row: &Row<'_>) -> rusqlite::Result<DebugCall> {
    Ok(DebugCall {
        call_id: row.get(0)?,
        node: row.get(1)?,
        created_ms: row.get(2)?,
        iterations: row.get(3)?,
        uri: row.get(4)?,
        status_code: row.get(5)?,
    })
}

fn records(
    conn: &Connection,
    account: &str,
    call_id: &str,
    max: usize,
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, call_id, account_id, node, created_ms, iteration, kind, method, uri,
                req_headers, req_body, resp_body, resp_status_code, resp_headers, error_kind,
                error_message
         FROM debug_records WHERE account_id = ?1 AND call_id = ?2 ORDER BY id LIMIT ?3",
    )?;
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![account, call_id, max], stored)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn stored(row: &Row<'_>) -> rusqlite::Result<StoredRecord> {
    let columns = StoredColumns {
        kind: row.get(6)?,
        method: row.get(7)?,
        uri: row.get(8)?,
        req_headers: row.get(9)?,
        req_body: row.get(10)?,
        resp_body: row.get(11)?,
        resp_status_code: row.get(12)?,
        resp_headers: row.get(13)?,
        error_kind: row.get(14)?,
        error_message: row.get(15)?,
    };
    Ok(StoredRecord {
        id: row.get(0)?,
        call_id: row.get(1)?,
        account_id: row.get(2)?,
        node: row.get(3)?,
        created_ms: row.get(4)?,
        iteration: row.get(5)?,
        entry: columns.into_entry(),
    })
}
