//! The database file: opening it, checking whose it is, and migrating it to the current
//! schema. Knows nothing of threads or queues.
//!
//! Version 1 held the records only; version 2 added `debug_calls`, one summary row per call,
//! so listing calls newest first is an index walk instead of a scan of every record;
//! version 3 added the `node` that wrote each record and call, and `api_tokens` (REST API
//! sessions that survive a restart); version 4 added `debug_timelines`, one row per debug
//! call: its steps as JSON.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use super::StoreError;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 4;

const VERSION_TABLE: &str = "pivot_schema_version";

/// `MIGRATIONS[n]` takes a file from version `n` to `n + 1`.
const MIGRATIONS: [&str; 4] = [V1, V2, V3, V4];

const V1: &str = "
CREATE TABLE pivot_schema_version (version INTEGER NOT NULL);
INSERT INTO pivot_schema_version (version) VALUES (0);
CREATE TABLE debug_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('request', 'response_body', 'response_head', 'error')),
    method TEXT, uri TEXT, req_headers TEXT, req_body TEXT,
    resp_body TEXT,
    resp_status_code TEXT, resp_headers TEXT,
    error_kind TEXT, error_message TEXT
);
CREATE INDEX debug_records_by_call ON debug_records (account_id, call_id, id);
CREATE INDEX debug_records_by_created ON debug_records (created_ms);
";

const V2: &str = "
CREATE TABLE debug_calls (
    account_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    iterations INTEGER NOT NULL,
    uri TEXT,
    status_code TEXT,
    PRIMARY KEY (account_id, call_id)
) WITHOUT ROWID;
CREATE INDEX debug_calls_newest ON debug_calls (account_id, created_ms DESC, call_id DESC);
CREATE INDEX debug_calls_by_last ON debug_calls (last_ms);
INSERT INTO debug_calls (account_id, call_id, created_ms, last_ms, iterations, uri, status_code)
SELECT r.account_id, r.call_id, MIN(r.created_ms), MAX(r.created_ms), MAX(r.iteration),
    (SELECT q.uri FROM debug_records q WHERE q.account_id = r.account_id
        AND q.call_id = r.call_id AND q.kind = 'request' ORDER BY q.id LIMIT 1),
    (SELECT h.resp_status_code FROM debug_records h WHERE h.account_id = r.account_id
        AND h.call_id = r.call_id AND h.kind = 'response_head' ORDER BY h.id DESC LIMIT 1)
FROM debug_records r GROUP BY r.account_id, r.call_id;
";

const V3: &str = "
ALTER TABLE debug_records ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE debug_calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX api_tokens_by_account ON api_tokens (account_id, id);
CREATE INDEX api_tokens_by_expiry ON api_tokens (expires_ms);
";

const V4: &str = "
CREATE TABLE debug_timelines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    node TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    timeline TEXT NOT NULL
);
CREATE INDEX debug_timelines_by_call ON debug_timelines (account_id, call_id, id);
CREATE INDEX debug_timelines_by_created ON debug_timelines (created_ms);
";

/// Opens (creating if needed) the writer's connection and brings the file to
/// [`SCHEMA_VERSION`], refusing files that are not ours or are newer than us.
pub fn open_and_migrate(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|source| open_error(path, source))?;
    conn.busy_timeout(Duration::from_secs(2))
        .map_err(|source| open_error(path, source))?;
    // Look before touching: the first read is where a non-SQLite file shows itself, and a
    // foreign or newer file must be refused before WAL mode rewrites its header.
    refuse_if_newer(current_version(&conn, path)?, path)?;
    let mode = wal_mode(&conn).map_err(|source| open_error(path, source))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), %mode, "debug database is not in WAL mode");
    }
    // The writer's connection: a 16 MiB page cache, and a WAL that grows to about 16 MiB
    // before it is checkpointed, so a page written by many batches (an index page, a busy
    // call's row) goes back into the file once per checkpoint instead of once per batch.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 4000",
    )
    .map_err(|source| open_error(path, source))?;
    migrate(&conn, path, SCHEMA_VERSION)?;
    Ok(conn)
}

/// Switches the file to WAL mode. SQLite takes the exclusive lock this needs without
/// calling the busy handler, so a second node opening the same file at the same moment
/// (`tests/it/nodes.rs`) gets SQLITE_BUSY at once: retried here for as long as the busy
/// timeout would have waited.
fn wal_mode(conn: &Connection) -> rusqlite::Result<String> {
    let give_up = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < give_up =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

/// A connection on a file `open_and_migrate` has prepared: for reads only unless
/// `writable` (the token table's writes).
pub fn open_reader(path: &Path, writable: bool) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|source| open_error(path, source))?;
    conn.busy_timeout(Duration::from_secs(2))?;
    if !writable {
        conn.execute_batch("PRAGMA query_only = 1")?;
    }
    Ok(conn)
}

/// Which file a path names right now, so a connection can tell that its file was deleted
/// or replaced under it (SQLite in WAL mode would go on writing to the orphan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId(u64, u64);

pub fn file_id(path: &Path) -> Option<FileId> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(FileId(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Some(FileId(0, 0))
    }
}

/// Brings the file to `target`, one migration per transaction. `BEGIN IMMEDIATE` makes a
/// second pivot starting on the same file wait, then see the finished work.
pub(crate) fn migrate(conn: &Connection, path: &Path, target: i64) -> Result<(), StoreError> {
    loop {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(|source| open_error(path, source))?;
        let current = current_version(&tx, path)?;
        refuse_if_newer(current, path)?;
        if current >= target {
            return Ok(());
        }
        let next = current + 1;
        let step = usize::try_from(current)
            .ok()
            .and_then(|i| MIGRATIONS.get(i))
            .ok_or(StoreError::TooNew {
                path: path.to_owned(),
                found: current,
                supported: SCHEMA_VERSION,
            })?;
        let migrate_err = |source| StoreError::Migrate {
            path: path.to_owned(),
            version: next,
            source,
        };
        tx.execute_batch(step).map_err(migrate_err)?;
        tx.execute("UPDATE pivot_schema_version SET version = ?1", [next])
            .map_err(migrate_err)?;
        tx.commit().map_err(migrate_err)?;
        if current > 0 {
            tracing::info!(path = %path.display(), from = current, to = next, "migrated debug database");
        }
    }
}

fn refuse_if_newer(found: i64, path: &Path) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// 0 for an empty file; the recorded version for ours; an error for anyone else's.
fn current_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let tables = user_tables(conn).map_err(|source| open_error(path, source))?;
    if tables.is_empty() {
        return Ok(0);
    }
    if !tables.iter().any(|t| t == VERSION_TABLE) {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
            table: tables.into_iter().next().unwrap_or_default(),
        });
    }
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM pivot_schema_version", [], |row| {
            row.get(0)
        })
        .map_err(|source| open_error(path, source))?;
    Ok(version.unwrap_or(0))
}

fn user_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = stmt.query_map([], |row| row.get(0))?;
    names.collect()
}

fn open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    if source.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
        StoreError::NotSqlite {
            path: path.to_owned(),
        }
    } else {
        StoreError::Open {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("SELECT version FROM pivot_schema_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn fresh_file_gets_current_version_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debug.db");
        let conn = open_and_migrate(&path).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        // Opening again is a no-op, not a second migration.
        let conn = open_and_migrate(&path).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
    }

    #[test]
    fn version_one_file_is_migrated_and_calls_backfilled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            migrate(&conn, &path, 1).unwrap();
            assert_eq!(version(&conn), 1);
            conn.execute_batch(
                "INSERT INTO debug_records (account_id, call_id, iteration, created_ms, kind, method, uri)
                     VALUES ('acc', 'c1', 1, 1000, 'request', 'GET', 'http://a/first');
                 INSERT INTO debug_records (account_id, call_id, iteration, created_ms, kind, resp_status_code)
                     VALUES ('acc', 'c1', 1, 1100, 'response_head', '500');
                 INSERT INTO debug_records (account_id, call_id, iteration, created_ms, kind, method, uri)
                     VALUES ('acc', 'c1', 2, 2000, 'request', 'GET', 'http://a/second');
                 INSERT INTO debug_records (account_id, call_id, iteration, created_ms, kind, resp_status_code)
                     VALUES ('acc', 'c1', 2, 2100, 'response_head', '200');",
            )
            .unwrap();
        }
        let conn = open_and_migrate(&path).unwrap();
        assert_eq!(version(&conn), SCHEMA_VERSION);
        let row: (i64, i64, i64, String, String) = conn
            .query_row(
                "SELECT created_ms, last_ms, iterations, uri, status_code FROM debug_calls
                 WHERE account_id = 'acc' AND call_id = 'c1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(row, (1000, 2100, 2, "http://a/first".into(), "200".into()));
        let node: String = conn
            .query_row("SELECT node FROM debug_records LIMIT 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(node, "", "records from before nodes have an empty node");
    }

    #[test]
    fn newer_version_is_refused_with_versions_in_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        drop(open_and_migrate(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE pivot_schema_version SET version = 99", [])
            .unwrap();
        drop(conn);
        let err = open_and_migrate(&path).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::TooNew {
                    found: 99,
                    supported: SCHEMA_VERSION,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("99") && msg.contains("newer"), "{msg}");
    }

    #[test]
    fn foreign_sqlite_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('x');")
            .unwrap();
        drop(conn);
        let err = open_and_migrate(&path).unwrap_err();
        assert!(
            matches!(&err, StoreError::Foreign { table, .. } if table == "users"),
            "{err:?}"
        );
        assert!(err.to_string().contains("other program"), "{err}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_tables(&conn).unwrap(), vec!["users".to_string()]);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "refused before being switched to WAL");
    }

    #[test]
    fn non_sqlite_file_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let text = "these are my notes, not a database\n".repeat(20);
        std::fs::write(&path, &text).unwrap();
        let err = open_and_migrate(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotSqlite { .. }), "{err:?}");
        assert!(err.to_string().contains("not a SQLite database"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn missing_directory_is_an_open_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/debug.db");
        let err = open_and_migrate(&path).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        assert!(err.to_string().contains("no/such/dir"), "{err}");
    }
}
