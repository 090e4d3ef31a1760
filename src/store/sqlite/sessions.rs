//! The REST API's tokens in the SQLite file, so a restart logs nobody out (and two nodes on
//! one host that share the file share their sessions).

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::reader::Pool;
use crate::store::sessions::NewToken;
use crate::store::StoreError;

#[derive(Clone)]
pub(crate) struct SqliteSessions {
    pool: Arc<Pool>,
}

impl SqliteSessions {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            pool: Arc::new(Pool::new(path, true)),
        }
    }

    /// Stores the token, then forgets the account's expired tokens and its oldest beyond
    /// the cap; returns how many live tokens the cap evicted.
    pub(crate) async fn create(&self, t: NewToken) -> Result<usize, StoreError> {
        self.pool
            .run(move |conn| {
                let tx =
                    rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
                tx.execute(
                    "INSERT INTO api_tokens (token_hash, account_id, created_ms, expires_ms)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![t.hash, t.account_id, t.created_ms, t.expires_ms],
                )?;
                tx.execute(
                    "DELETE FROM api_tokens WHERE account_id = ?1 AND expires_ms <= ?2",
                    params![t.account_id, t.created_ms],
                )?;
                let cap = i64::try_from(t.max_per_account).unwrap_or(i64::MAX);
                let evicted = tx.execute(
                    "DELETE FROM api_tokens WHERE account_id = ?1 AND id NOT IN
                        (SELECT id FROM api_tokens WHERE account_id = ?1 ORDER BY id DESC LIMIT ?2)",
                    params![t.account_id, cap],
                )?;
                tx.commit()?;
                Ok(evicted)
            })
            .await
    }

    pub(crate) async fn account_of(
        &self,
        hash: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let hash = hash.to_owned();
        self.pool
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT account_id FROM api_tokens WHERE token_hash = ?1 AND expires_ms > ?2",
                )?;
                Ok(stmt
                    .query_row(params![hash, now_ms], |r| r.get(0))
                    .optional()?)
            })
            .await
    }

    pub(crate) async fn revoke(&self, hash: &str) -> Result<bool, StoreError> {
        let hash = hash.to_owned();
        self.pool
            .run(move |conn| {
                let n = conn.execute("DELETE FROM api_tokens WHERE token_hash = ?1", [hash])?;
                Ok(n > 0)
            })
            .await
    }
}
