//! What the writer loop needs from a database ([`Backend`]), what it writes ([`Batch`]:
//! debug records and call timelines), and what a write can come to: committed, refused, or
//! in doubt when the connection went away during the commit.

use std::future::Future;

use super::record::{DebugRecord, TimelineRecord};
use super::StoreError;

/// What one transaction writes.
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    pub records: Vec<DebugRecord>,
    pub timelines: Vec<TimelineRecord>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.records.len() + self.timelines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.records.clear();
        self.timelines.clear();
    }

    /// How many of each it holds.
    pub fn tally(&self) -> Tally {
        Tally {
            records: self.records.len() as u64,
            timelines: self.timelines.len() as u64,
        }
    }
}

/// Records and timelines counted together (written, lost).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub records: u64,
    pub timelines: u64,
}

/// What became of a batch the database did not refuse.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wrote {
    Committed,
    /// The connection was lost before the commit was confirmed: the backend kept the
    /// batch and settles it in its next `reconnect`.
    InDoubt,
}

/// Batches a `reconnect` settled: found committed (or written again), or given up.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    pub written: Tally,
    pub lost: Tally,
}

/// One database behind the writer loop.
pub(crate) trait Backend: Send + 'static {
    /// Writes all of `batch` in one transaction, or none of it (`Err`: refused, rolled
    /// back); `InDoubt` when the connection went away meanwhile.
    fn write(&mut self, batch: &Batch) -> impl Future<Output = Result<Wrote, StoreError>> + Send;
    /// Deletes records and timelines (when `records_before_ms` is set) and auth tokens
    /// that expired, in bounded chunks; returns the number of records deleted.
    fn purge(
        &mut self,
        records_before_ms: Option<i64>,
        now_ms: i64,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// False while the database is known to be unreachable: the loop then leaves records
    /// queued and calls `reconnect` until it succeeds.
    fn ready(&self) -> bool;
    /// A new connection; then settles a batch left in doubt, if any.
    fn reconnect(&mut self) -> impl Future<Output = Result<Settled, StoreError>> + Send;
    /// At shutdown without a database: gives up the batch in doubt; returns its size.
    fn abandon(&mut self) -> Tally;
    #[cfg(test)]
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}
