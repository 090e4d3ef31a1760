//! The writer's SQL: one transaction per batch of records, and the retention purge.
//! Runs only on the writer thread; knows nothing of channels or counters.

use rusqlite::{params, Connection};

use super::record::{unix_ms, DebugRecord, Entry};

const INSERT_RECORD: &str = "
INSERT INTO debug_records (account_id, call_id, iteration, created_ms, kind, method, uri,
    req_headers, req_body, resp_body, resp_status_code, resp_headers, error_kind, error_message)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

const UPSERT_CALL: &str = "
INSERT INTO debug_calls (account_id, call_id, created_ms, last_ms, iterations, uri, status_code)
VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)
ON CONFLICT (account_id, call_id) DO UPDATE SET
    created_ms = MIN(created_ms, excluded.created_ms),
    last_ms = MAX(last_ms, excluded.last_ms),
    iterations = MAX(iterations, excluded.iterations),
    uri = COALESCE(uri, excluded.uri),
    status_code = COALESCE(excluded.status_code, status_code)";

/// Rows deleted per purge statement, so one purge never holds a huge transaction.
const PURGE_CHUNK: i64 = 5000;

/// The columns one entry fills; the rest stay NULL.
#[derive(Default)]
struct Columns<'a> {
    kind: &'a str,
    method: Option<&'a str>,
    uri: Option<&'a str>,
    req_headers: Option<String>,
    req_body: Option<&'a str>,
    resp_body: Option<&'a str>,
    resp_status_code: Option<String>,
    resp_headers: Option<String>,
    error_kind: Option<&'a str>,
    error_message: Option<&'a str>,
}

fn columns(entry: &Entry) -> Columns<'_> {
    match entry {
        Entry::Request {
            method,
            uri,
            req_headers,
            req_body,
        } => Columns {
            kind: "request",
            method: Some(method),
            uri: Some(uri),
            req_headers: Some(headers_json(req_headers.iter().cloned())),
            req_body: Some(req_body),
            ..Columns::default()
        },
        Entry::ResponseBody { resp_body } => Columns {
            kind: "response_body",
            resp_body: Some(resp_body),
            ..Columns::default()
        },
        Entry::ResponseHead {
            status_code,
            headers,
        } => Columns {
            kind: "response_head",
            resp_status_code: Some(status_code.to_string()),
            resp_headers: Some(headers_json(
                headers
                    .iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone())),
            )),
            ..Columns::default()
        },
        Entry::Error { kind, message } => Columns {
            kind: "error",
            error_kind: Some(kind),
            error_message: Some(message),
            ..Columns::default()
        },
    }
}

/// Headers are stored as a JSON array of `[name, value]` pairs, keeping order and repeats.
fn headers_json(headers: impl Iterator<Item = (String, String)>) -> String {
    let pairs: Vec<(String, String)> = headers.collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

/// Writes all of `batch` in one transaction, or none of it.
pub fn write_batch(conn: &mut Connection, batch: &[DebugRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(INSERT_RECORD)?;
        let mut upsert = tx.prepare_cached(UPSERT_CALL)?;
        for rec in batch {
            let c = columns(&rec.entry);
            let created = unix_ms(rec.created);
            insert.execute(params![
                rec.account_id,
                rec.call_id,
                rec.iteration,
                created,
                c.kind,
                c.method,
                c.uri,
                c.req_headers,
                c.req_body,
                c.resp_body,
                c.resp_status_code,
                c.resp_headers,
                c.error_kind,
                c.error_message,
            ])?;
            upsert.execute(params![
                rec.account_id,
                rec.call_id,
                created,
                rec.iteration,
                c.uri,
                c.resp_status_code,
            ])?;
        }
    }
    tx.commit()
}

/// Deletes records created before `cutoff_ms` and calls whose last record is older;
/// returns how many records went.
pub fn purge_before(conn: &Connection, cutoff_ms: i64) -> rusqlite::Result<usize> {
    let mut deleted = 0;
    loop {
        let n = conn.execute(
            "DELETE FROM debug_records WHERE id IN
                (SELECT id FROM debug_records WHERE created_ms < ?1 LIMIT ?2)",
            params![cutoff_ms, PURGE_CHUNK],
        )?;
        deleted += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < PURGE_CHUNK {
            break;
        }
    }
    conn.execute(
        "DELETE FROM debug_calls WHERE last_ms < ?1",
        params![cutoff_ms],
    )?;
    Ok(deleted)
}
