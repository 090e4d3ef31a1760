//! The PostgreSQL side of the writer loop: one connection, two prepared statements that
//! take a whole batch as arrays (one multi-row INSERT through `UNNEST`, one upsert of the
//! calls it touched), one transaction per batch, retention in chunks that skip rows
//! another node is deleting. A lost connection is noticed (its driver task sees the close
//! at once) and makes the loop wait for the database instead of failing batch after batch.

use std::future::Future;
use std::time::Duration;

use tokio_postgres::{Client, Statement};

use super::arrays::{CallArrays, RecordArrays, TimelineArrays};
use super::{text, PgTarget};
use crate::store::backend::{Backend, Batch, Settled, Tally, Wrote};
use crate::store::rows::{call_updates, row};
use crate::store::StoreError;

/// One batch may take this long before the connection is given up as hung.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows deleted per purge statement.
const PURGE_CHUNK: i64 = 5000;

const INSERT_RECORDS: &str = "
INSERT INTO debug_records (account_id, call_id, node, iteration, created_ms, kind, method, uri,
    req_headers, req_body, resp_body, resp_status_code, resp_headers, error_kind, error_message)
SELECT a, c, $3::text, i, t, k, m, u, rh, rb, pb, sc, ph, ek, em
FROM UNNEST($1::text[], $2::text[], $4::int4[], $5::int8[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
            $14::text[], $15::text[])
    WITH ORDINALITY AS r(a, c, i, t, k, m, u, rh, rb, pb, sc, ph, ek, em, ord)
ORDER BY ord";

const UPSERT_CALLS: &str = "
INSERT INTO debug_calls (account_id, call_id, node, created_ms, last_ms, iterations, uri, status_code)
SELECT a, c, $3::text, cr, la, it, u, s
FROM UNNEST($1::text[], $2::text[], $4::int8[], $5::int8[], $6::int4[], $7::text[], $8::text[])
    AS r(a, c, cr, la, it, u, s)
ON CONFLICT (account_id, call_id) DO UPDATE SET
    created_ms = LEAST(debug_calls.created_ms, excluded.created_ms),
    last_ms = GREATEST(debug_calls.last_ms, excluded.last_ms),
    iterations = GREATEST(debug_calls.iterations, excluded.iterations),
    uri = COALESCE(debug_calls.uri, excluded.uri),
    status_code = COALESCE(excluded.status_code, debug_calls.status_code)";

const INSERT_TIMELINES: &str = "
INSERT INTO debug_timelines (account_id, call_id, node, created_ms, entries, timeline)
SELECT a, c, $3::text, t, n, j
FROM UNNEST($1::text[], $2::text[], $4::int8[], $5::int4[], $6::text[])
    WITH ORDINALITY AS r(a, c, t, n, j, ord)
ORDER BY ord";

pub(crate) struct PgBackend {
    target: PgTarget,
    node: String,
    conn: Option<Conn>,
    /// A batch whose connection was lost before its commit was confirmed.
    in_doubt: Option<InDoubt>,
}

struct Conn {
    client: Client,
    /// The server process of this session, to end it if it outlives the connection.
    pid: i32,
    insert: Statement,
    upsert: Statement,
    timelines: Statement,
}

struct InDoubt {
    /// The batch's transaction, if it got that far.
    xid: Option<i64>,
    pid: i32,
    batch: Batch,
}

impl PgBackend {
    /// Connects at once: a node starts only when it can reach its database.
    pub(crate) async fn connect_new(target: PgTarget, node: String) -> Result<Self, StoreError> {
        let mut backend = Self {
            target,
            node,
            conn: None,
            in_doubt: None,
        };
        backend.conn = Some(backend.connect().await?);
        Ok(backend)
    }

    async fn connect(&self) -> Result<Conn, StoreError> {
        let client = self.target.connect().await?;
        let pid = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        let insert = client.prepare(INSERT_RECORDS).await?;
        let upsert = client.prepare(UPSERT_CALLS).await?;
        let timelines = client.prepare(INSERT_TIMELINES).await?;
        Ok(Conn {
            client,
            pid,
            insert,
            upsert,
            timelines,
        })
    }

    async fn write_now(&mut self, batch: &Batch) -> Result<Wrote, StoreError> {
        let conn = self.conn.as_mut().ok_or(StoreError::Unavailable)?;
        let pid = conn.pid;
        let mut xid = None;
        let written = tokio::time::timeout(
            WRITE_TIMEOUT,
            write_batch(conn, &self.node, batch, &mut xid),
        );
        let error = match written.await {
            Ok(Ok(())) => return Ok(Wrote::Committed),
            Ok(Err(e)) if self.alive().await => return Err(e), // refused, rolled back
            Ok(Err(e)) => e,
            Err(_) => StoreError::Timeout("writing a batch to PostgreSQL"),
        };
        // The connection is gone (or hung: dropping it ends its driver task), maybe after
        // the server committed: keep the batch until a new connection can tell.
        tracing::debug!(error = %error, "PostgreSQL connection lost during a batch");
        self.conn = None;
        self.in_doubt = Some(InDoubt {
            xid,
            pid,
            batch: batch.clone(),
        });
        Ok(Wrote::InDoubt)
    }

    /// On a fresh connection: did the batch in doubt commit? If not, it is written again;
    /// a transaction still open on the lost session is ended first, so it cannot commit
    /// after the batch was written again.
    async fn settle(&mut self, doubt: InDoubt) -> Result<Settled, StoreError> {
        let n = doubt.batch.tally();
        let written = Settled {
            written: n,
            lost: Tally::default(),
        };
        let Some(xid) = doubt.xid else {
            // It never got a transaction id: nothing of it committed.
            return self.write_again(doubt, written).await;
        };
        let status = match self.txid_status(xid, doubt.pid).await {
            Ok(status) => status,
            Err(e) => {
                self.conn = None;
                self.in_doubt = Some(doubt);
                return Err(e);
            }
        };
        match status.as_deref() {
            Some("committed") => Ok(written),
            Some(_) => self.write_again(doubt, written).await,
            None => {
                tracing::warn!("cannot tell whether a debug batch committed; counted lost");
                Ok(Settled {
                    written: Tally::default(),
                    lost: n,
                })
            }
        }
    }

    async fn txid_status(&self, xid: i64, pid: i32) -> Result<Option<String>, StoreError> {
        let conn = self.conn.as_ref().ok_or(StoreError::Unavailable)?;
        let c = &conn.client;
        let sql = "SELECT txid_status($1)::text";
        let mut status: Option<String> = c.query_one(sql, &[&xid]).await?.get(0);
        if status.as_deref() == Some("in progress") {
            // The lost session still runs: end it (waiting up to 5 s), then look again.
            c.execute("SELECT pg_terminate_backend($1, 5000)", &[&pid])
                .await?;
            status = c.query_one(sql, &[&xid]).await?.get(0);
        }
        Ok(status)
    }

    async fn write_again(
        &mut self,
        doubt: InDoubt,
        written: Settled,
    ) -> Result<Settled, StoreError> {
        match self.write_now(&doubt.batch).await {
            Ok(Wrote::Committed) => Ok(written),
            // Lost again: `write_now` kept it in doubt.
            Ok(Wrote::InDoubt) => Err(StoreError::Unavailable),
            Err(_) => Ok(Settled {
                written: Tally::default(),
                lost: written.written,
            }),
        }
    }

    /// After a failed batch: is the connection still good (the batch itself was refused),
    /// or is the database gone?
    async fn alive(&self) -> bool {
        let Some(conn) = &self.conn else { return false };
        if conn.client.is_closed() {
            return false;
        }
        let probe = conn.client.simple_query("SELECT 1");
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        )
    }

    async fn purge_now(&mut self, cutoff: Option<i64>, now_ms: i64) -> Result<usize, StoreError> {
        let conn = self.conn.as_ref().ok_or(StoreError::Unavailable)?;
        let c = &conn.client;
        let mut deleted = 0;
        if let Some(cutoff) = cutoff {
            deleted = chunked(c, "DELETE FROM debug_records WHERE id IN (SELECT id FROM debug_records WHERE created_ms < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)", cutoff).await?;
            chunked(c, "DELETE FROM debug_calls WHERE (account_id, call_id) IN (SELECT account_id, call_id FROM debug_calls WHERE last_ms < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)", cutoff).await?;
            chunked(c, "DELETE FROM debug_timelines WHERE id IN (SELECT id FROM debug_timelines WHERE created_ms < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)", cutoff).await?;
        }
        chunked(c, "DELETE FROM api_tokens WHERE id IN (SELECT id FROM api_tokens WHERE expires_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)", now_ms).await?;
        Ok(deleted)
    }
}

/// Runs a chunked delete (`$1` the bound, `$2` the chunk) until it deletes fewer rows than
/// a chunk; each statement is its own short transaction.
async fn chunked(client: &Client, sql: &str, before: i64) -> Result<usize, StoreError> {
    let stmt = client.prepare(sql).await?;
    let mut deleted = 0;
    loop {
        let n = client.execute(&stmt, &[&before, &PURGE_CHUNK]).await?;
        deleted += usize::try_from(n).unwrap_or(usize::MAX);
        if n < PURGE_CHUNK as u64 {
            return Ok(deleted);
        }
    }
}

/// One transaction: the records, then their calls. `xid` is set to the transaction's id
/// as soon as it has one.
async fn write_batch(
    conn: &mut Conn,
    node: &str,
    batch: &Batch,
    xid: &mut Option<i64>,
) -> Result<(), StoreError> {
    let rows: Vec<_> = batch.records.iter().map(row).collect();
    let calls = call_updates(&rows);
    let (records, call_arrays) = (RecordArrays::new(&rows), CallArrays::new(&calls));
    let node = text(node);
    let tx = conn.client.transaction().await?;
    *xid = Some(tx.query_one("SELECT txid_current()", &[]).await?.get(0));
    if !rows.is_empty() {
        tx.execute(&conn.insert, &records.params(&node)).await?;
        tx.execute(&conn.upsert, &call_arrays.params(&node)).await?;
    }
    if !batch.timelines.is_empty() {
        let t = TimelineArrays::new(batch);
        tx.execute(&conn.timelines, &t.params(&node)).await?;
    }
    tx.commit().await?;
    Ok(())
}

impl Backend for PgBackend {
    fn write(&mut self, batch: &Batch) -> impl Future<Output = Result<Wrote, StoreError>> + Send {
        self.write_now(batch)
    }

    fn purge(
        &mut self,
        records_before_ms: Option<i64>,
        now_ms: i64,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        self.purge_now(records_before_ms, now_ms)
    }

    fn ready(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.client.is_closed())
    }

    async fn reconnect(&mut self) -> Result<Settled, StoreError> {
        self.conn = None;
        self.conn = Some(self.connect().await?);
        match self.in_doubt.take() {
            Some(doubt) => self.settle(doubt).await,
            None => Ok(Settled::default()),
        }
    }

    fn abandon(&mut self) -> Tally {
        self.in_doubt
            .take()
            .map_or(Tally::default(), |d| d.batch.tally())
    }

    #[cfg(test)]
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
