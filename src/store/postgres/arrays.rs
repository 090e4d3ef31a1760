//! A batch as PostgreSQL arrays, one per column: the parameters of the writer's two
//! statements (the multi-row `INSERT` of the records, the upsert of their calls). Text
//! goes through [`text`], since PostgreSQL text cannot hold NUL.

use std::borrow::Cow;

use tokio_postgres::types::ToSql;

use super::text;
use crate::store::backend::Batch;
use crate::store::record::unix_ms;
use crate::store::rows::{CallUpdate, Row};

type Text<'a> = Cow<'a, str>;
type Param<'a> = &'a (dyn ToSql + Sync);

/// The records' columns, in `INSERT_RECORDS`'s parameter order.
pub(super) struct RecordArrays<'a> {
    accounts: Vec<Text<'a>>,
    call_ids: Vec<Text<'a>>,
    iterations: Vec<i32>,
    created: Vec<i64>,
    kinds: Vec<&'a str>,
    /// method, uri, req_headers, req_body, resp_body, resp_status_code, resp_headers,
    /// error_kind, error_message.
    optional: [Vec<Option<Text<'a>>>; 9],
}

impl<'a> RecordArrays<'a> {
    pub(super) fn new(rows: &'a [Row<'a>]) -> Self {
        let col = |f: fn(&'a Row<'a>) -> Option<&'a str>| -> Vec<Option<Text<'a>>> {
            rows.iter().map(|r| f(r).map(text)).collect()
        };
        Self {
            accounts: rows.iter().map(|r| text(r.account_id)).collect(),
            call_ids: rows.iter().map(|r| text(r.call_id)).collect(),
            iterations: rows.iter().map(|r| r.iteration).collect(),
            created: rows.iter().map(|r| r.created_ms).collect(),
            kinds: rows.iter().map(|r| r.kind).collect(),
            optional: [
                col(|r| r.method),
                col(|r| r.uri),
                col(|r| r.req_headers.as_deref()),
                col(|r| r.req_body),
                col(|r| r.resp_body),
                col(|r| r.resp_status_code.as_deref()),
                col(|r| r.resp_headers.as_deref()),
                col(|r| r.error_kind),
                col(|r| r.error_message),
            ],
        }
    }

    pub(super) fn params<'p>(&'p self, node: &'p Text<'_>) -> Vec<Param<'p>> {
        let mut p: Vec<Param<'p>> = vec![
            &self.accounts,
            &self.call_ids,
            node,
            &self.iterations,
            &self.created,
            &self.kinds,
        ];
        p.extend(self.optional.iter().map(|c| c as Param<'p>));
        p
    }
}

/// The calls' columns, in `UPSERT_CALLS`'s parameter order.
pub(super) struct CallArrays<'a> {
    accounts: Vec<Text<'a>>,
    call_ids: Vec<Text<'a>>,
    created: Vec<i64>,
    last: Vec<i64>,
    iterations: Vec<i32>,
    uris: Vec<Option<Text<'a>>>,
    statuses: Vec<Option<&'a str>>,
}

impl<'a> CallArrays<'a> {
    pub(super) fn new(calls: &'a [CallUpdate<'a>]) -> Self {
        Self {
            accounts: calls.iter().map(|c| text(c.account_id)).collect(),
            call_ids: calls.iter().map(|c| text(c.call_id)).collect(),
            created: calls.iter().map(|c| c.created_ms).collect(),
            last: calls.iter().map(|c| c.last_ms).collect(),
            iterations: calls.iter().map(|c| c.iterations).collect(),
            uris: calls.iter().map(|c| c.uri.map(text)).collect(),
            statuses: calls.iter().map(|c| c.status_code.as_deref()).collect(),
        }
    }

    pub(super) fn params<'p>(&'p self, node: &'p Text<'_>) -> [Param<'p>; 8] {
        [
            &self.accounts,
            &self.call_ids,
            node,
            &self.created,
            &self.last,
            &self.iterations,
            &self.uris,
            &self.statuses,
        ]
    }
}

/// The timelines' columns, in `INSERT_TIMELINES`'s parameter order.
pub(super) struct TimelineArrays<'a> {
    accounts: Vec<Text<'a>>,
    call_ids: Vec<Text<'a>>,
    created: Vec<i64>,
    entries: Vec<i32>,
    json: Vec<Text<'a>>,
}

impl<'a> TimelineArrays<'a> {
    pub(super) fn new(batch: &'a Batch) -> Self {
        let t = &batch.timelines;
        Self {
            accounts: t.iter().map(|t| text(&t.account_id)).collect(),
            call_ids: t.iter().map(|t| text(&t.call_id)).collect(),
            created: t.iter().map(|t| unix_ms(t.created)).collect(),
            entries: t
                .iter()
                .map(|t| i32::try_from(t.entries).unwrap_or(i32::MAX))
                .collect(),
            json: t.iter().map(|t| text(&t.json)).collect(),
        }
    }

    pub(super) fn params<'p>(&'p self, node: &'p Text<'_>) -> [Param<'p>; 6] {
        [
            &self.accounts,
            &self.call_ids,
            node,
            &self.created,
            &self.entries,
            &self.json,
        ]
    }
}
