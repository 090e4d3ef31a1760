//! The SQLite writer's SQL: one transaction per batch (each record, then one upsert per
//! call), and the retention purge in bounded chunks. Knows nothing of queues or counters.

use rusqlite::{params, Connection};

use crate::store::backend::Batch;
use crate::store::record::unix_ms;
use crate::store::rows::{call_updates, row};

const INSERT_RECORD: &str = "
INSERT INTO debug_records (account_id, call_id, node, iteration, created_ms, kind, method, uri,
    req_headers, req_body, resp_body, resp_status_code, resp_headers, error_kind, error_message)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

const UPSERT_CALL: &str = "
INSERT INTO debug_calls (account_id, call_id, node, created_ms, last_ms, iterations, uri, status_code)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (account_id, call_id) DO UPDATE SET
    created_ms = MIN(created_ms, excluded.created_ms),
    last_ms = MAX(last_ms, excluded.last_ms),
    iterations = MAX(iterations, excluded.iterations),
    uri = COALESCE(uri, excluded.uri),
    status_code = COALESCE(excluded.status_code, status_code)";

const INSERT_TIMELINE: &str = "
INSERT INTO debug_timelines (account_id, call_id, node, created_ms, entries, timeline)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Rows deleted per purge statement, so one purge never holds a huge transaction.
pub(crate) const PURGE_CHUNK: i64 = 5000;

/// Writes all of `batch` in one transaction, or none of it.
pub(crate) fn write_batch(
    conn: &mut Connection,
    node: &str,
    batch: &Batch,
) -> rusqlite::Result<()> {
    let rows: Vec<_> = batch.records.iter().map(row).collect();
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(INSERT_RECORD)?;
        for r in &rows {
            insert.execute(params![
                r.account_id,
                r.call_id,
                node,
                r.iteration,
                r.created_ms,
                r.kind,
                r.method,
                r.uri,
                r.req_headers,
                r.req_body,
                r.resp_body,
                r.resp_status_code,
                r.resp_headers,
                r.error_kind,
                r.error_message,
            ])?;
        }
        let mut upsert = tx.prepare_cached(UPSERT_CALL)?;
        for c in call_updates(&rows) {
            upsert.execute(params![
                c.account_id,
                c.call_id,
                node,
                c.created_ms,
                c.last_ms,
                c.iterations,
                c.uri,
                c.status_code,
            ])?;
        }
        let mut timeline = tx.prepare_cached(INSERT_TIMELINE)?;
        for t in &batch.timelines {
            timeline.execute(params![
                t.account_id,
                t.call_id,
                node,
                unix_ms(t.created),
                t.entries,
                t.json,
            ])?;
        }
    }
    tx.commit()
}

/// Deletes records created before `cutoff_ms` (when given) and calls whose last record is
/// older, then tokens expired at `now_ms`, each in chunks; returns how many records went.
pub(crate) fn purge(
    conn: &Connection,
    cutoff_ms: Option<i64>,
    now_ms: i64,
) -> rusqlite::Result<usize> {
    let mut deleted = 0;
    if let Some(cutoff) = cutoff_ms {
        deleted = chunked(
            conn,
            "DELETE FROM debug_records WHERE id IN
                (SELECT id FROM debug_records WHERE created_ms < ?1 LIMIT ?2)",
            cutoff,
        )?;
        chunked(
            conn,
            "DELETE FROM debug_calls WHERE (account_id, call_id) IN
                (SELECT account_id, call_id FROM debug_calls WHERE last_ms < ?1 LIMIT ?2)",
            cutoff,
        )?;
        chunked(
            conn,
            "DELETE FROM debug_timelines WHERE id IN
                (SELECT id FROM debug_timelines WHERE created_ms < ?1 LIMIT ?2)",
            cutoff,
        )?;
    }
    chunked(
        conn,
        "DELETE FROM api_tokens WHERE id IN
            (SELECT id FROM api_tokens WHERE expires_ms <= ?1 LIMIT ?2)",
        now_ms,
    )?;
    Ok(deleted)
}

/// Runs `sql` (a delete of at most `?2` rows older than `?1`) until it deletes fewer.
fn chunked(conn: &Connection, sql: &str, before: i64) -> rusqlite::Result<usize> {
    let mut deleted = 0;
    loop {
        let n = conn.execute(sql, params![before, PURGE_CHUNK])?;
        deleted += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < PURGE_CHUNK {
            return Ok(deleted);
        }
    }
}
