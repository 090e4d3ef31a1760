//! PostgreSQL's schema and its versioned migrations. Each migration runs in its own
//! transaction under a transaction-scoped advisory lock, so when several nodes start at
//! once one migrates and the others wait, then find the work done. A database whose
//! version is newer than this build knows is refused.

use tokio_postgres::Client;

use crate::store::StoreError;

/// The schema version this build writes.
pub const PG_SCHEMA_VERSION: i64 = 2;

/// The advisory lock every migration takes (an arbitrary constant: "pivot" and 1).
const MIGRATION_LOCK: i64 = 0x7069_766f_7400_0001;

/// `MIGRATIONS[n]` takes a database from version `n` to `n + 1`.
const MIGRATIONS: [&str; 2] = [V1, V2];

/// Call ids compare byte by byte (`COLLATE "C"`), as in SQLite, so paging ties break the
/// same way whatever the database's locale.
const V1: &str = r#"
CREATE TABLE pivot_schema_version (version INTEGER NOT NULL);
INSERT INTO pivot_schema_version (version) VALUES (0);
CREATE TABLE debug_records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT NOT NULL,
    call_id TEXT COLLATE "C" NOT NULL,
    node TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    created_ms BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('request', 'response_body', 'response_head', 'error')),
    method TEXT, uri TEXT, req_headers TEXT, req_body TEXT,
    resp_body TEXT,
    resp_status_code TEXT, resp_headers TEXT,
    error_kind TEXT, error_message TEXT
);
CREATE INDEX debug_records_by_call ON debug_records (account_id, call_id, id);
CREATE INDEX debug_records_by_created ON debug_records (created_ms);
CREATE TABLE debug_calls (
    account_id TEXT NOT NULL,
    call_id TEXT COLLATE "C" NOT NULL,
    node TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    iterations INTEGER NOT NULL,
    uri TEXT,
    status_code TEXT,
    PRIMARY KEY (account_id, call_id)
);
CREATE INDEX debug_calls_newest ON debug_calls (account_id, created_ms DESC, call_id DESC);
CREATE INDEX debug_calls_by_last ON debug_calls (last_ms);
CREATE TABLE api_tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX api_tokens_by_account ON api_tokens (account_id, id);
CREATE INDEX api_tokens_by_expiry ON api_tokens (expires_ms);
"#;

/// Version 2: one timeline per debug call, its steps as JSON text (served as they are).
const V2: &str = r#"
CREATE TABLE debug_timelines (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id TEXT NOT NULL,
    call_id TEXT COLLATE "C" NOT NULL,
    node TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    entries INTEGER NOT NULL,
    timeline TEXT NOT NULL
);
CREATE INDEX debug_timelines_by_call ON debug_timelines (account_id, call_id, id);
CREATE INDEX debug_timelines_by_created ON debug_timelines (created_ms);
"#;

/// Brings the database (the first schema of the connection's `search_path`) to
/// [`PG_SCHEMA_VERSION`], one migration per transaction.
pub(crate) async fn migrate(client: &mut Client, target: &str) -> Result<(), StoreError> {
    migrate_to(client, target, PG_SCHEMA_VERSION).await
}

pub(crate) async fn migrate_to(
    client: &mut Client,
    target: &str,
    version: i64,
) -> Result<(), StoreError> {
    // A long migration must not be cancelled by pivot's own statement timeout.
    client.batch_execute("SET statement_timeout = 0").await?;
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let current = current_version(&tx).await?;
        if current > PG_SCHEMA_VERSION {
            return Err(StoreError::PgTooNew {
                target: target.into(),
                found: current,
                supported: PG_SCHEMA_VERSION,
            });
        }
        if current >= version {
            tx.commit().await?;
            break;
        }
        let next = current + 1;
        let step = usize::try_from(current)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
            .ok_or(StoreError::Unavailable)?;
        let migrate_err = |source| StoreError::PgMigrate {
            target: target.to_owned(),
            version: next,
            source,
        };
        tx.batch_execute(step).await.map_err(migrate_err)?;
        tx.execute(
            "UPDATE pivot_schema_version SET version = $1",
            &[&i32::try_from(next).unwrap_or(i32::MAX)],
        )
        .await
        .map_err(migrate_err)?;
        tx.commit().await.map_err(migrate_err)?;
        tracing::info!(target_db = %target, from = current, to = next, "migrated the PostgreSQL debug schema");
    }
    client.batch_execute("RESET statement_timeout").await?;
    Ok(())
}

/// 0 when the schema has no version table yet.
async fn current_version(tx: &tokio_postgres::Transaction<'_>) -> Result<i64, StoreError> {
    let exists: bool = tx
        .query_one(
            "SELECT to_regclass('pivot_schema_version') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> = tx
        .query_one("SELECT MAX(version) FROM pivot_schema_version", &[])
        .await?
        .get(0);
    Ok(i64::from(version.unwrap_or(0)))
}
