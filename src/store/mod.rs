//! The debug log (contract section 6): the SQLite file, its migrations, the one writer
//! thread fed by a bounded queue, retention, and the read queries behind the REST API.
//! It stores what it is given; deciding what to record is the caller's job, and it knows
//! nothing of HTTP.

mod batch;
mod error;
mod reader;
mod record;
mod schema;
mod sink;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use error::StoreError;
pub use reader::{StoreReader, CALL_RECORDS_MAX, PAGE_SIZE_MAX};
pub use record::{from_unix_ms, DebugCall, DebugRecord, Entry, Page, StoredRecord};
pub use schema::SCHEMA_VERSION;
pub use sink::{DebugSink, SinkStats, QUEUE_MAX_BYTES};
pub use writer::StoreWriter;

/// Where and how the debug log is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The database file; created if missing (its directory must exist).
    pub path: PathBuf,
    /// Records older than this many days are deleted; 0 keeps them forever.
    pub retention_days: u32,
    /// Records the queue holds before new ones are dropped (also bounded by
    /// [`QUEUE_MAX_BYTES`]).
    pub queue_capacity: usize,
    /// Records per transaction, at most.
    pub batch_max: usize,
}

impl StoreConfig {
    /// The defaults: 30 days, a 10 000-record queue, 500 records per transaction.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            retention_days: 30,
            queue_capacity: 10_000,
            batch_max: 500,
        }
    }
}

/// Opens the database (creating or migrating it; refusing a newer, foreign or non-SQLite
/// file), starts the writer thread, and returns the handles.
pub fn open(config: &StoreConfig) -> Result<(DebugSink, StoreWriter, StoreReader), StoreError> {
    let conn = schema::open_and_migrate(&config.path)?;
    let (sink, writer) = writer::start(
        conn,
        config.path.clone(),
        config.queue_capacity,
        config.batch_max,
        config.retention_days,
    )?;
    Ok((sink, writer, StoreReader::new(config.path.clone())))
}
