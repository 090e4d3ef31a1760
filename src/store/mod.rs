//! The debug log and the REST API's sessions (contract section 6), behind one interface
//! with two databases: an embedded SQLite file (the default, for one node) or PostgreSQL
//! (for several nodes that share what they record). The choice is made once, in
//! [`open`]; the rest of pivot sees the same handles either way:
//!
//! - [`DebugSink`]: the call path's side, a bounded queue that never blocks and counts what
//!   it drops;
//! - [`StoreWriter`]: the one writer loop (`writer.rs`) that batches the queue into
//!   transactions, runs retention, and waits out a database that went away;
//! - [`StoreReader`] and [`Sessions`]: the REST API's reads and its tokens.
//!
//! It stores what it is given; deciding what to record is the caller's job, and it knows
//! nothing of HTTP.

mod backend;
mod error;
mod handle;
mod paging;
mod postgres;
mod reader;
mod record;
mod rows;
mod sessions;
mod sink;
mod sqlite;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use error::StoreError;
pub use handle::StoreWriter;
pub use postgres::PG_SCHEMA_VERSION;
pub use reader::{StoreReader, CALL_RECORDS_MAX, PAGE_SIZE_MAX};
pub(crate) use record::unix_ms;
pub use record::{
    from_unix_ms, DebugCall, DebugRecord, Entry, Page, StoredRecord, StoredTimeline, TimelineRecord,
};
pub use sessions::{NewToken, Sessions};
pub use sink::{DebugSink, SinkStats, StoreStatus, QUEUE_MAX_BYTES};
pub use sqlite::SCHEMA_VERSION;

use backend::Backend;
use handle::Done;
use sink::Counters;
use writer::{LogLimiter, LoopConfig, WriterLoop};

/// Which database keeps the log.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created if missing (its directory must exist).
    Sqlite(PathBuf),
    /// A `postgres://` URL; the database must exist and the user may create tables in the
    /// first schema of its `search_path`.
    Postgres(String),
}

/// Keeps a password in the URL out of logs.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(url) => f.debug_tuple("Postgres").field(&redacted(url)).finish(),
        }
    }
}

/// The URL without its password (or a placeholder when it does not parse as a URL).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("redacted"));
            }
            u.to_string()
        }
        Err(_) => "<postgres connection string>".into(),
    }
}

/// Where and how the debug log is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub database: Database,
    /// Written into every record and call: which pivot node handled it.
    pub node: String,
    /// Records older than this many days are deleted; 0 keeps them forever.
    pub retention_days: u32,
    /// Records the queue holds before new ones are dropped (also bounded by
    /// [`QUEUE_MAX_BYTES`]).
    pub queue_capacity: usize,
    /// Records per transaction, at most.
    pub batch_max: usize,
    /// PostgreSQL connections for the REST API's reads and tokens (the writer has its own).
    pub pool_size: usize,
}

impl StoreConfig {
    /// A SQLite file with the defaults: this host's name as the node, 30 days, a
    /// 10 000-record queue, 500 records per transaction.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            database: Database::Sqlite(path.into()),
            node: crate::config::host_name(),
            retention_days: 30,
            queue_capacity: 10_000,
            batch_max: 500,
            pool_size: 4,
        }
    }

    /// PostgreSQL at `url`, with the same defaults.
    pub fn postgres(url: impl Into<String>) -> Self {
        Self {
            database: Database::Postgres(url.into()),
            ..Self::new("")
        }
    }
}

/// An open store: the handles its users need.
pub struct Store {
    pub sink: DebugSink,
    pub writer: StoreWriter,
    pub reader: StoreReader,
    pub sessions: Sessions,
}

/// Opens the database (creating or migrating its schema; refusing a newer, foreign or
/// non-SQLite file), starts the writer, and returns the handles. PostgreSQL must be
/// reachable now; later outages are waited out.
pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
    let capacity = config.queue_capacity.max(1);
    let (tx, rx) = mpsc::channel(capacity);
    let counters = Arc::new(Counters::new());
    let stop = CancellationToken::new();
    let parts = LoopParts {
        rx,
        counters: counters.clone(),
        stop: stop.clone(),
        config: LoopConfig {
            capacity,
            batch_max: config.batch_max.max(1),
            retention_days: config.retention_days,
        },
    };
    let (done, reader, sessions) = match &config.database {
        Database::Sqlite(path) => open_sqlite(path, config, parts).await?,
        Database::Postgres(url) => open_postgres(url, config, parts).await?,
    };
    Ok(Store {
        sink: DebugSink::new(tx.clone(), counters.clone()),
        writer: StoreWriter::new(tx, stop, done, counters),
        reader: StoreReader(reader),
        sessions: Sessions(sessions),
    })
}

type Opened = (Done, reader::Inner, sessions::Inner);

async fn open_sqlite(
    path: &std::path::Path,
    config: &StoreConfig,
    parts: LoopParts,
) -> Result<Opened, StoreError> {
    let backend = sqlite::open_file(path.to_path_buf(), config.node.clone()).await?;
    let target = backend.path().display().to_string();
    let done = on_thread(parts.with(backend, target))?;
    Ok((
        done,
        reader::Inner::Sqlite(sqlite::SqliteReader::new(path.to_path_buf())),
        sessions::Inner::Sqlite(sqlite::SqliteSessions::new(path.to_path_buf())),
    ))
}

async fn open_postgres(
    url: &str,
    config: &StoreConfig,
    parts: LoopParts,
) -> Result<Opened, StoreError> {
    let target = postgres::PgTarget::parse(url, &config.node)?;
    let mut client = target.connect().await?;
    postgres::migrate(&mut client, &target.name).await?;
    drop(client);
    let backend = postgres::PgBackend::connect_new(target.clone(), config.node.clone()).await?;
    let pool = postgres::pool(&target, config.pool_size)?;
    tracing::info!(target_db = %target.name, "debug log in PostgreSQL");
    let task = tokio::spawn(parts.with(backend, target.name.clone()).run());
    Ok((
        Done::Task(task),
        reader::Inner::Postgres(postgres::PgReader::new(pool.clone())),
        sessions::Inner::Postgres(postgres::PgSessions::new(pool)),
    ))
}

/// Everything the writer loop needs but its backend.
struct LoopParts {
    rx: mpsc::Receiver<sink::Msg>,
    counters: Arc<Counters>,
    stop: CancellationToken,
    config: LoopConfig,
}

impl LoopParts {
    fn with<B: Backend>(self, backend: B, target: String) -> WriterLoop<B> {
        WriterLoop {
            backend,
            rx: self.rx,
            counters: self.counters,
            stop: self.stop,
            config: self.config,
            target,
            log: LogLimiter::default(),
            down_log: LogLimiter::default(),
        }
    }
}

/// SQLite's writes block, so its loop gets a thread of its own (with a small runtime for
/// the loop's timers).
fn on_thread<B: Backend>(writer: WriterLoop<B>) -> Result<Done, StoreError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(StoreError::Thread)?;
    let handle = std::thread::Builder::new()
        .name("pivot-debug-writer".into())
        .spawn(move || rt.block_on(writer.run()))
        .map_err(StoreError::Thread)?;
    Ok(Done::Thread(handle))
}
