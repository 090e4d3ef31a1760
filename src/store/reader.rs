//! [`StoreReader`]: the REST API's read side of the debug log, the same whichever database
//! is behind it. Clamps what is asked (page size, records per call) and decodes the
//! `start_key` before either backend sees it.

use super::paging::decode_start_key;
use super::postgres::PgReader;
use super::record::{Page, StoredRecord, StoredTimeline};
use super::sqlite::SqliteReader;
use super::StoreError;

/// The largest page `list_calls` returns, whatever is asked.
pub const PAGE_SIZE_MAX: usize = 1000;
/// The most records `call_records` returns for one call (the oldest ones).
pub const CALL_RECORDS_MAX: usize = 10_000;

/// Reads the debug log. Cheap to clone.
#[derive(Clone)]
pub struct StoreReader(pub(crate) Inner);

#[derive(Clone)]
pub(crate) enum Inner {
    Sqlite(SqliteReader),
    Postgres(PgReader),
}

impl StoreReader {
    /// The account's calls that have records, newest first (by first record, then call id
    /// descending). `page_size` is clamped to `1..=PAGE_SIZE_MAX`; `start_key` is a
    /// `next_start_key` from an earlier page.
    pub async fn list_calls(
        &self,
        account: &str,
        page_size: usize,
        start_key: Option<String>,
    ) -> Result<Page, StoreError> {
        let start = start_key.as_deref().map(decode_start_key).transpose()?;
        let limit = page_size.clamp(1, PAGE_SIZE_MAX);
        match &self.0 {
            Inner::Sqlite(r) => r.list_calls(account, limit, start).await,
            Inner::Postgres(r) => r.list_calls(account, limit, start).await,
        }
    }

    /// The call's records, oldest first (at most `CALL_RECORDS_MAX`); empty when the
    /// account has no such call.
    pub async fn call_records(
        &self,
        account: &str,
        call_id: &str,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        match &self.0 {
            Inner::Sqlite(r) => r.call_records(account, call_id, CALL_RECORDS_MAX).await,
            Inner::Postgres(r) => r.call_records(account, call_id, CALL_RECORDS_MAX).await,
        }
    }

    /// The call's timeline (kept for calls with debug on); None when the account has none
    /// for that call id.
    pub async fn call_timeline(
        &self,
        account: &str,
        call_id: &str,
    ) -> Result<Option<StoredTimeline>, StoreError> {
        match &self.0 {
            Inner::Sqlite(r) => r.call_timeline(account, call_id).await,
            Inner::Postgres(r) => r.call_timeline(account, call_id).await,
        }
    }
}
