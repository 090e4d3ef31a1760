//! Queries on PostgreSQL for the REST API (the listing, one call's records) and the API
//! tokens, over a small deadpool-postgres pool with bounded waits, so an unreachable
//! database makes a request fail fast (503) instead of hanging it.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use super::PgTarget;
use crate::store::paging::encode_start_key;
use crate::store::record::{DebugCall, Page, StoredRecord, StoredTimeline};
use crate::store::rows::StoredColumns;
use crate::store::sessions::NewToken;
use crate::store::StoreError;

/// The longest a request waits for a pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(5);

pub(crate) fn pool(target: &PgTarget, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        target.config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let connect = target
        .config
        .get_connect_timeout()
        .copied()
        .unwrap_or(POOL_WAIT);
    Ok(Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(connect))
        .recycle_timeout(Some(POOL_WAIT))
        .build()?)
}

/// Reads the debug log. Cheap to clone.
#[derive(Clone)]
pub(crate) struct PgReader {
    pool: Pool,
}

impl PgReader {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub(crate) async fn list_calls(
        &self,
        account: &str,
        limit: usize,
        start: Option<(i64, String)>,
    ) -> Result<Page, StoreError> {
        const COLS: &str =
            "SELECT call_id, node, created_ms, iterations, uri, status_code FROM debug_calls";
        let client = self.pool.get().await?;
        let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        let rows = match start {
            None => {
                let sql = format!(
                    "{COLS} WHERE account_id = $1 ORDER BY created_ms DESC, call_id DESC LIMIT $2"
                );
                let stmt = client.prepare_cached(&sql).await?;
                client.query(&stmt, &[&account, &fetch]).await?
            }
            Some((ms, call_id)) => {
                let sql = format!(
                    "{COLS} WHERE account_id = $1 AND (created_ms, call_id) < ($2, $3)
                     ORDER BY created_ms DESC, call_id DESC LIMIT $4"
                );
                let stmt = client.prepare_cached(&sql).await?;
                client
                    .query(&stmt, &[&account, &ms, &call_id, &fetch])
                    .await?
            }
        };
        let mut calls = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
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

    pub(crate) async fn call_records(
        &self,
        account: &str,
        call_id: &str,
        max: usize,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        if call_id.contains('\0') {
            // No stored call id has one (PostgreSQL text cannot), and the query would fail.
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, call_id, account_id, node, created_ms, iteration, kind, method, uri,
                        req_headers, req_body, resp_body, resp_status_code, resp_headers,
                        error_kind, error_message
                 FROM debug_records WHERE account_id = $1 AND call_id = $2 ORDER BY id LIMIT $3",
            )
            .await?;
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = client.query(&stmt, &[&account, &call_id, &max]).await?;
        rows.iter().map(stored).collect()
    }
}

impl PgReader {
    pub(crate) async fn call_timeline(
        &self,
        account: &str,
        call_id: &str,
    ) -> Result<Option<StoredTimeline>, StoreError> {
        if call_id.contains('\0') {
            return Ok(None);
        }
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT call_id, account_id, node, created_ms, timeline FROM debug_timelines
                 WHERE account_id = $1 AND call_id = $2 ORDER BY id DESC LIMIT 1",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&account, &call_id]).await? else {
            return Ok(None);
        };
        Ok(Some(StoredTimeline {
            call_id: row.try_get(0)?,
            account_id: row.try_get(1)?,
            node: row.try_get(2)?,
            created_ms: row.try_get(3)?,
            json: row.try_get(4)?,
        }))
    }
}

fn summary(row: &Row) -> Result<DebugCall, StoreError> {
    Ok(DebugCall {
        call_id: row.try_get(0)?,
        node: row.try_get(1)?,
        created_ms: row.try_get(2)?,
        iterations: u32::try_from(row.try_get::<_, i32>(3)?).unwrap_or(0),
        uri: row.try_get(4)?,
        status_code: row.try_get(5)?,
    })
}

fn stored(row: &Row) -> Result<StoredRecord, StoreError> {
    let columns = StoredColumns {
        kind: row.try_get(6)?,
        method: row.try_get(7)?,
        uri: row.try_get(8)?,
        req_headers: row.try_get(9)?,
        req_body: row.try_get(10)?,
        resp_body: row.try_get(11)?,
        resp_status_code: row.try_get(12)?,
        resp_headers: row.try_get(13)?,
        error_kind: row.try_get(14)?,
        error_message: row.try_get(15)?,
    };
    Ok(StoredRecord {
        id: row.try_get(0)?,
        call_id: row.try_get(1)?,
        account_id: row.try_get(2)?,
        node: row.try_get(3)?,
        created_ms: row.try_get(4)?,
        iteration: u32::try_from(row.try_get::<_, i32>(5)?).unwrap_or(0),
        entry: columns.into_entry(),
    })
}

/// The REST API's tokens, shared by every node on the database.
#[derive(Clone)]
pub(crate) struct PgSessions {
    pool: Pool,
}

impl PgSessions {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Stores the token, then forgets the account's expired tokens and its oldest beyond
    /// the cap, under a per-account lock so two nodes cannot both go over it; returns how
    /// many live tokens the cap evicted.
    pub(crate) async fn create(&self, t: NewToken) -> Result<usize, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Two-key advisory locks are their own key space: no clash with the migrations'.
        tx.execute(
            "SELECT pg_advisory_xact_lock(1886807668, hashtext($1))",
            &[&t.account_id],
        )
        .await?;
        tx.execute(
            "INSERT INTO api_tokens (token_hash, account_id, created_ms, expires_ms)
             VALUES ($1, $2, $3, $4)",
            &[&t.hash, &t.account_id, &t.created_ms, &t.expires_ms],
        )
        .await?;
        tx.execute(
            "DELETE FROM api_tokens WHERE account_id = $1 AND expires_ms <= $2",
            &[&t.account_id, &t.created_ms],
        )
        .await?;
        let cap = i64::try_from(t.max_per_account).unwrap_or(i64::MAX);
        let evicted = tx
            .execute(
                "DELETE FROM api_tokens WHERE account_id = $1 AND id NOT IN
                    (SELECT id FROM api_tokens WHERE account_id = $1 ORDER BY id DESC LIMIT $2)",
                &[&t.account_id, &cap],
            )
            .await?;
        tx.commit().await?;
        Ok(usize::try_from(evicted).unwrap_or(usize::MAX))
    }

    pub(crate) async fn account_of(
        &self,
        hash: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        let stmt = client
            .prepare_cached(
                "SELECT account_id FROM api_tokens WHERE token_hash = $1 AND expires_ms > $2",
            )
            .await?;
        let row = client.query_opt(&stmt, &[&hash, &now_ms]).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    pub(crate) async fn revoke(&self, hash: &str) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let n = client
            .execute("DELETE FROM api_tokens WHERE token_hash = $1", &[&hash])
            .await?;
        Ok(n > 0)
    }
}
