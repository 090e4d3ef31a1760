//! What a batch of records becomes in either database: each record's columns, and one
//! summary per call, so the calls table is touched once per call per batch instead of once
//! per record. No SQL here; both backends bind these values.

use std::collections::BTreeMap;

use super::record::{unix_ms, DebugRecord, Entry};

/// The columns one record fills; the ones an entry does not have stay NULL.
#[derive(Debug, Default)]
pub(crate) struct Row<'a> {
    pub account_id: &'a str,
    pub call_id: &'a str,
    pub iteration: i32,
    pub created_ms: i64,
    pub kind: &'static str,
    pub method: Option<&'a str>,
    pub uri: Option<&'a str>,
    pub req_headers: Option<String>,
    pub req_body: Option<&'a str>,
    pub resp_body: Option<&'a str>,
    pub resp_status_code: Option<String>,
    pub resp_headers: Option<String>,
    pub error_kind: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

/// One call's share of a batch: what the calls table must learn from it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CallUpdate<'a> {
    pub account_id: &'a str,
    pub call_id: &'a str,
    /// The earliest record of the call in the batch.
    pub created_ms: i64,
    /// The latest.
    pub last_ms: i64,
    pub iterations: i32,
    /// The call's first request in the batch.
    pub uri: Option<&'a str>,
    /// The call's last response status in the batch.
    pub status_code: Option<String>,
}

pub(crate) fn row(rec: &DebugRecord) -> Row<'_> {
    let base = Row {
        account_id: &rec.account_id,
        call_id: &rec.call_id,
        iteration: i32::try_from(rec.iteration).unwrap_or(i32::MAX),
        created_ms: unix_ms(rec.created),
        ..Row::default()
    };
    match &rec.entry {
        Entry::Request {
            method,
            uri,
            req_headers,
            req_body,
        } => Row {
            kind: "request",
            method: Some(method),
            uri: Some(uri),
            req_headers: Some(headers_json(req_headers.iter().cloned())),
            req_body: Some(req_body),
            ..base
        },
        Entry::ResponseBody { resp_body } => Row {
            kind: "response_body",
            resp_body: Some(resp_body),
            ..base
        },
        Entry::ResponseHead {
            status_code,
            headers,
        } => Row {
            kind: "response_head",
            resp_status_code: Some(status_code.to_string()),
            resp_headers: Some(headers_json(
                headers
                    .iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone())),
            )),
            ..base
        },
        Entry::Error { kind, message } => Row {
            kind: "error",
            error_kind: Some(kind),
            error_message: Some(message),
            ..base
        },
    }
}

/// One update per (account, call) in the batch, sorted by that key, so two writers that
/// share a database always lock call rows in the same order.
pub(crate) fn call_updates<'a>(rows: &[Row<'a>]) -> Vec<CallUpdate<'a>> {
    let mut calls: BTreeMap<(&str, &str), CallUpdate<'a>> = BTreeMap::new();
    for r in rows {
        let c = calls
            .entry((r.account_id, r.call_id))
            .or_insert_with(|| CallUpdate {
                account_id: r.account_id,
                call_id: r.call_id,
                created_ms: r.created_ms,
                last_ms: r.created_ms,
                iterations: r.iteration,
                uri: None,
                status_code: None,
            });
        c.created_ms = c.created_ms.min(r.created_ms);
        c.last_ms = c.last_ms.max(r.created_ms);
        c.iterations = c.iterations.max(r.iteration);
        if c.uri.is_none() {
            c.uri = r.uri;
        }
        if r.resp_status_code.is_some() {
            c.status_code.clone_from(&r.resp_status_code);
        }
    }
    calls.into_values().collect()
}

/// Headers are stored as a JSON array of `[name, value]` pairs, keeping order and repeats.
fn headers_json(headers: impl Iterator<Item = (String, String)>) -> String {
    let pairs: Vec<(String, String)> = headers.collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

/// The inverse of the header encoding, for the readers; garbage reads as no headers.
pub(crate) fn headers_from_json(text: Option<&str>) -> Vec<(String, String)> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// Rebuilds an entry from its stored columns (the readers of both backends).
pub(crate) struct StoredColumns {
    pub kind: String,
    pub method: Option<String>,
    pub uri: Option<String>,
    pub req_headers: Option<String>,
    pub req_body: Option<String>,
    pub resp_body: Option<String>,
    pub resp_status_code: Option<String>,
    pub resp_headers: Option<String>,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
}

impl StoredColumns {
    pub(crate) fn into_entry(self) -> Entry {
        match self.kind.as_str() {
            "request" => Entry::Request {
                method: self.method.unwrap_or_default(),
                uri: self.uri.unwrap_or_default(),
                req_headers: headers_from_json(self.req_headers.as_deref()),
                req_body: self.req_body.unwrap_or_default(),
            },
            "response_body" => Entry::ResponseBody {
                resp_body: self.resp_body.unwrap_or_default(),
            },
            "response_head" => Entry::ResponseHead {
                status_code: self
                    .resp_status_code
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                headers: headers_from_json(self.resp_headers.as_deref()),
            },
            _ => Entry::Error {
                kind: self.error_kind.unwrap_or_default(),
                message: self.error_message.unwrap_or_default(),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::record::from_unix_ms;

    fn rec(call: &str, ms: i64, iteration: u32, entry: Entry) -> DebugRecord {
        DebugRecord {
            call_id: call.into(),
            account_id: "acc".into(),
            iteration,
            created: from_unix_ms(ms),
            entry,
        }
    }

    fn request(uri: &str) -> Entry {
        Entry::Request {
            method: "get".into(),
            uri: uri.into(),
            req_headers: vec![],
            req_body: String::new(),
        }
    }

    fn head(status_code: u16) -> Entry {
        Entry::ResponseHead {
            status_code,
            headers: vec![("X-A".into(), "1".into())],
        }
    }

    #[test]
    fn one_update_per_call_with_first_uri_and_last_status() {
        let batch = [
            rec("b", 1000, 1, request("http://a/1")),
            rec("a", 1500, 1, request("http://x/1")),
            rec("b", 1100, 1, head(500)),
            rec("b", 2000, 2, request("http://a/2")),
            rec("b", 2100, 2, head(200)),
        ];
        let rows: Vec<Row> = batch.iter().map(row).collect();
        assert_eq!(rows[2].resp_headers.as_deref(), Some(r#"[["x-a","1"]]"#));
        let calls = call_updates(&rows);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].call_id, "a", "sorted by key");
        let b = &calls[1];
        assert_eq!((b.created_ms, b.last_ms, b.iterations), (1000, 2100, 2));
        assert_eq!(b.uri, Some("http://a/1"));
        assert_eq!(b.status_code.as_deref(), Some("200"));
    }

    #[test]
    fn stored_columns_round_trip_every_entry() {
        for entry in [
            request("http://a/?q=1"),
            head(404),
            Entry::ResponseBody {
                resp_body: "body".into(),
            },
            Entry::Error {
                kind: "timeout".into(),
                message: "slow".into(),
            },
        ] {
            let record = rec("c", 1, 1, entry.clone());
            let r = row(&record);
            let back = StoredColumns {
                kind: r.kind.into(),
                method: r.method.map(Into::into),
                uri: r.uri.map(Into::into),
                req_headers: r.req_headers,
                req_body: r.req_body.map(Into::into),
                resp_body: r.resp_body.map(Into::into),
                resp_status_code: r.resp_status_code,
                resp_headers: r.resp_headers,
                error_kind: r.error_kind.map(Into::into),
                error_message: r.error_message.map(Into::into),
            }
            .into_entry();
            let expected = match entry {
                Entry::ResponseHead { status_code, .. } => Entry::ResponseHead {
                    status_code,
                    headers: vec![("x-a".into(), "1".into())],
                },
                other => other,
            };
            assert_eq!(back, expected);
        }
    }
}
