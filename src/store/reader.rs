//! Read queries for the REST API, run on tokio's blocking pool over a few pooled read-only
//! connections, so SQLite never blocks the async runtime. Never writes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, Row};

use super::record::{DebugCall, Entry, Page, StoredRecord};
use super::schema::{self, FileId};
use super::StoreError;

/// Idle read connections kept for reuse.
const POOL_IDLE_MAX: usize = 4;
/// The largest page `list_calls` returns, whatever is asked.
pub const PAGE_SIZE_MAX: usize = 1000;
/// The most records `call_records` returns for one call (the oldest ones).
pub const CALL_RECORDS_MAX: usize = 10_000;
/// A longer `start_key` cannot be one we made.
const START_KEY_MAX: usize = 4096;

/// Reads the debug log. Cheap to clone.
#[derive(Clone)]
pub struct StoreReader {
    pool: Arc<Pool>,
}

struct Pool {
    path: PathBuf,
    /// Each with the file it has open, so one left on a deleted file is not reused.
    idle: Mutex<Vec<(Connection, Option<FileId>)>>,
}

impl StoreReader {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            pool: Arc::new(Pool {
                path,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The account's calls that have records, newest first (by first record, then call id
    /// descending). `page_size` is clamped to `1..=PAGE_SIZE_MAX`; `start_key` is a
    /// `next_start_key` from an earlier page.
    pub async fn list_calls(
        &self,
        account: &str,
        page_size: usize,
        start_key: Option<String>,
    ) -> Result<Page, StoreError> {
        let start = start_key.as_deref().map(decode_start_key).transpose()?;
        let limit = page_size.clamp(1, PAGE_SIZE_MAX);
        let account = account.to_owned();
        self.run(move |conn| list_page(conn, &account, limit, start))
            .await
    }

    /// The call's records, oldest first (at most `CALL_RECORDS_MAX`); empty when the
    /// account has no such call.
    pub async fn call_records(
        &self,
        account: &str,
        call_id: &str,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        let (account, call_id) = (account.to_owned(), call_id.to_owned());
        self.run(move |conn| records(conn, &account, &call_id))
            .await
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || pool.with_conn(f))
            .await
            .map_err(|e| StoreError::Join(e.to_string()))?
    }
}

impl Pool {
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
            None => schema::open_reader(&self.path)?,
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
    const COLS: &str = "SELECT call_id, created_ms, iterations, uri, status_code FROM debug_calls";
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
        created_ms: row.get(1)?,
        iterations: row.get(2)?,
        uri: row.get(3)?,
        status_code: row.get(4)?,
    })
}

fn records(
    conn: &Connection,
    account: &str,
    call_id: &str,
) -> Result<Vec<StoredRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, call_id, account_id, created_ms, iteration, kind, method, uri, req_headers,
                req_body, resp_body, resp_status_code, resp_headers, error_kind, error_message
         FROM debug_records WHERE account_id = ?1 AND call_id = ?2 ORDER BY id LIMIT ?3",
    )?;
    let max = i64::try_from(CALL_RECORDS_MAX).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![account, call_id, max], stored)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn stored(row: &Row<'_>) -> rusqlite::Result<StoredRecord> {
    let text = |i: usize| -> rusqlite::Result<String> {
        Ok(row.get::<_, Option<String>>(i)?.unwrap_or_default())
    };
    let headers = |i: usize| -> rusqlite::Result<Vec<(String, String)>> {
        Ok(serde_json::from_str(&text(i)?).unwrap_or_default())
    };
    let kind: String = row.get(5)?;
    let entry = match kind.as_str() {
        "request" => Entry::Request {
            method: text(6)?,
            uri: text(7)?,
            req_headers: headers(8)?,
            req_body: text(9)?,
        },
        "response_body" => Entry::ResponseBody {
            resp_body: text(10)?,
        },
        "response_head" => Entry::ResponseHead {
            status_code: text(11)?.parse().unwrap_or(0),
            headers: headers(12)?,
        },
        _ => Entry::Error {
            kind: text(13)?,
            message: text(14)?,
        },
    };
    Ok(StoredRecord {
        id: row.get(0)?,
        call_id: row.get(1)?,
        account_id: row.get(2)?,
        created_ms: row.get(3)?,
        iteration: row.get(4)?,
        entry,
    })
}

/// `<created_ms>-<call id in hex>`: opaque to clients, and safe in a URL as it is.
fn encode_start_key(created_ms: i64, call_id: &str) -> String {
    let mut key = format!("{created_ms}-");
    for b in call_id.bytes() {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

fn decode_start_key(key: &str) -> Result<(i64, String), StoreError> {
    if key.len() > START_KEY_MAX {
        return Err(StoreError::BadStartKey);
    }
    let (ms, hex) = key.split_once('-').ok_or(StoreError::BadStartKey)?;
    let ms: i64 = ms.parse().map_err(|_| StoreError::BadStartKey)?;
    if hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::BadStartKey);
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| StoreError::BadStartKey))
        .collect::<Result<Vec<u8>, _>>()?;
    let call_id = String::from_utf8(bytes).map_err(|_| StoreError::BadStartKey)?;
    Ok((ms, call_id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn start_key_round_trips_any_call_id() {
        for id in ["", "abc", "a/b@c%d", "x' OR '1'='1", "é-ü:-1"] {
            let key = encode_start_key(1_700_000_000_123, id);
            assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            assert_eq!(
                decode_start_key(&key).unwrap(),
                (1_700_000_000_123, id.to_string())
            );
        }
    }

    #[test]
    fn hostile_start_keys_are_refused() {
        for key in [
            "",
            "x",
            "12",
            "12-1",
            "12-zz",
            "abc-00",
            "1-ff",
            &"1-".repeat(3000),
        ] {
            assert!(
                matches!(decode_start_key(key), Err(StoreError::BadStartKey)),
                "{key:?}"
            );
        }
    }
}
