//! The store's one error type. Messages name the file or the database (never a password)
//! and say what to do about it.

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
    #[error("[store] url: {0}")]
    BadUrl(String),
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    PgConnect {
        target: String,
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL database {target} has pivot schema version {found}, newer than this pivot knows ({supported}); refusing to use it (upgrade pivot or point [store] url elsewhere)")]
    PgTooNew {
        target: String,
        found: i64,
        supported: i64,
    },
    #[error("cannot migrate PostgreSQL database {target} to schema version {version}: {source}")]
    PgMigrate {
        target: String,
        version: i64,
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no PostgreSQL connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("PostgreSQL pool: {0}")]
    PoolBuild(#[from] deadpool_postgres::BuildError),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("malformed start_key")]
    BadStartKey,
    #[error("cannot start the debug writer thread: {0}")]
    Thread(std::io::Error),
    #[error("the debug database is unavailable (see the earlier log lines)")]
    Unavailable,
    #[error("the debug writer has stopped")]
    WriterGone,
    #[error("debug database task failed: {0}")]
    Join(String),
}

impl StoreError {
    /// The database could not be reached (as opposed to refusing what was asked): the
    /// REST API answers 503 for these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::PgConnect { .. } | Self::Pool(_) | Self::Timeout(_) | Self::Unavailable => true,
            Self::Postgres(e) => e.is_closed() || e.code().is_none(),
            _ => false,
        }
    }
}
