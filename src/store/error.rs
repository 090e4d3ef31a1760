//! The store's one error type. Messages name the file and say what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open debug database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path} is not a SQLite database; refusing to use it for the debug log (move it away or choose another debug database path)")]
    NotSqlite { path: PathBuf },
    #[error("{path} is a SQLite database of some other program (it has table `{table}` and no pivot schema); refusing to touch it (choose another debug database path)")]
    Foreign { path: PathBuf, table: String },
    #[error("{path} has pivot debug schema version {found}, newer than this pivot knows ({supported}); refusing to use it (upgrade pivot or choose another debug database path)")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot migrate debug database {path} to schema version {version}: {source}")]
    Migrate {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    #[error("debug database query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("malformed start_key")]
    BadStartKey,
    #[error("cannot start the debug writer thread: {0}")]
    Thread(std::io::Error),
    #[error("the debug database file is unavailable (see the earlier log lines)")]
    Unavailable,
    #[error("the debug writer thread has stopped")]
    WriterGone,
    #[error("debug database read task failed: {0}")]
    Join(String),
}
