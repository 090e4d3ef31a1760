//! [`Sessions`]: the REST API's auth tokens, kept in the database (SQLite file or
//! PostgreSQL) so a restart logs nobody out, every node sharing the database accepts a
//! token any of them issued, and a logout holds everywhere. Only a hash of each token is
//! stored. Expired tokens are deleted by the writer's hourly purge.

use super::postgres::PgSessions;
use super::sqlite::SqliteSessions;
use super::StoreError;

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token's hash (the token itself is never stored).
    pub hash: String,
    pub account_id: String,
    /// Unix milliseconds.
    pub created_ms: i64,
    pub expires_ms: i64,
    /// Live tokens the account may hold: its oldest beyond this are deleted. Other
    /// accounts' tokens are never touched.
    pub max_per_account: usize,
}

/// The token table. Cheap to clone.
#[derive(Clone)]
pub struct Sessions(pub(crate) Inner);

#[derive(Clone)]
pub(crate) enum Inner {
    Sqlite(SqliteSessions),
    Postgres(PgSessions),
}

impl Sessions {
    /// Stores `token`; returns how many of the account's older tokens the cap evicted.
    pub async fn create(&self, token: NewToken) -> Result<usize, StoreError> {
        match &self.0 {
            Inner::Sqlite(s) => s.create(token).await,
            Inner::Postgres(s) => s.create(token).await,
        }
    }

    /// The account of a live (stored, unexpired at `now_ms`) token.
    pub async fn account_of(&self, hash: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        match &self.0 {
            Inner::Sqlite(s) => s.account_of(hash, now_ms).await,
            Inner::Postgres(s) => s.account_of(hash, now_ms).await,
        }
    }

    /// Deletes the token; false when it was not stored.
    pub async fn revoke(&self, hash: &str) -> Result<bool, StoreError> {
        match &self.0 {
            Inner::Sqlite(s) => s.revoke(hash).await,
            Inner::Postgres(s) => s.revoke(hash).await,
        }
    }
}
