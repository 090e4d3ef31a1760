//! The debug record types: what a call hands to the store, and what the store hands back.
//! No SQL and no HTTP here; the JSON shape returned by the REST API is defined once, in
//! [`StoredRecord::to_json`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// One debug record, as a call produces it (contract section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugRecord {
    pub call_id: String,
    pub account_id: String,
    /// 1 for the call's first request, +1 for each further one.
    pub iteration: u32,
    pub created: SystemTime,
    pub entry: Entry,
}

impl DebugRecord {
    /// A record stamped with the current time.
    pub fn new(
        call_id: impl Into<String>,
        account_id: impl Into<String>,
        iteration: u32,
        entry: Entry,
    ) -> Self {
        Self {
            call_id: call_id.into(),
            account_id: account_id.into(),
            iteration,
            created: SystemTime::now(),
            entry,
        }
    }
}

/// What one record says. Each attempt writes `Request`, then `ResponseBody`, then
/// `ResponseHead`; a failure without a response writes `Request`, then `Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Request {
        method: String,
        /// The full URL, with the query for GET.
        uri: String,
        req_headers: Vec<(String, String)>,
        /// `""` for GET.
        req_body: String,
    },
    ResponseBody {
        resp_body: String,
    },
    /// Stored as `resp_status_code: "200"`; header names are lower-cased on write.
    ResponseHead {
        status_code: u16,
        headers: Vec<(String, String)>,
    },
    Error {
        kind: String,
        message: String,
    },
}

/// One call's timeline, as the call hands it over when it ends: its steps as a JSON array
/// (the store keeps the text as it is; `crate::call::timeline` defines it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineRecord {
    pub call_id: String,
    pub account_id: String,
    /// When the call started.
    pub created: SystemTime,
    /// How many steps `json` holds.
    pub entries: u32,
    pub json: String,
}

/// A timeline read back from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTimeline {
    pub call_id: String,
    pub account_id: String,
    pub node: String,
    /// When the call started, unix milliseconds.
    pub created_ms: i64,
    /// The steps, a JSON array.
    pub json: String,
}

impl StoredTimeline {
    /// The REST API's shape: the call, then its steps (`entries`). Text the database
    /// mangled reads as no steps rather than an error.
    pub fn to_json(&self) -> Value {
        let entries: Value =
            serde_json::from_str(&self.json).unwrap_or_else(|_| Value::Array(Vec::new()));
        let mut obj = Map::new();
        obj.insert("call_id".into(), self.call_id.clone().into());
        obj.insert("account_id".into(), self.account_id.clone().into());
        obj.insert("node".into(), self.node.clone().into());
        obj.insert("created".into(), self.created_ms.div_euclid(1000).into());
        obj.insert("created_ms".into(), self.created_ms.into());
        obj.insert("entries".into(), entries);
        Value::Object(obj)
    }
}

/// A record read back from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Increasing in write order, never reused.
    pub id: i64,
    pub call_id: String,
    pub account_id: String,
    /// The pivot node that handled the call (`node_name`); `""` for records written before
    /// nodes were recorded.
    pub node: String,
    pub created_ms: i64,
    pub iteration: u32,
    pub entry: Entry,
}

impl StoredRecord {
    /// The REST API's shape: common fields, then the entry's own fields.
    /// `created` is unix seconds, `created_ms` unix milliseconds; headers are an object
    /// (repeated names joined with `", "`).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.into());
        obj.insert("call_id".into(), self.call_id.clone().into());
        obj.insert("account_id".into(), self.account_id.clone().into());
        obj.insert("node".into(), self.node.clone().into());
        obj.insert("created".into(), self.created_ms.div_euclid(1000).into());
        obj.insert("created_ms".into(), self.created_ms.into());
        obj.insert("iteration".into(), self.iteration.into());
        match &self.entry {
            Entry::Request {
                method,
                uri,
                req_headers,
                req_body,
            } => {
                obj.insert("method".into(), method.clone().into());
                obj.insert("uri".into(), uri.clone().into());
                obj.insert("req_headers".into(), headers_object(req_headers));
                obj.insert("req_body".into(), req_body.clone().into());
            }
            Entry::ResponseBody { resp_body } => {
                obj.insert("resp_body".into(), resp_body.clone().into());
            }
            Entry::ResponseHead {
                status_code,
                headers,
            } => {
                obj.insert("resp_status_code".into(), status_code.to_string().into());
                obj.insert("resp_headers".into(), headers_object(headers));
            }
            Entry::Error { kind, message } => {
                obj.insert("error_kind".into(), kind.clone().into());
                obj.insert("error_message".into(), message.clone().into());
            }
        }
        Value::Object(obj)
    }
}

/// One call that has debug records, for the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugCall {
    pub call_id: String,
    /// The node that wrote the call's first record.
    pub node: String,
    /// When the call's first record was created, unix milliseconds.
    pub created_ms: i64,
    /// The highest iteration seen: the number of requests made.
    pub iterations: u32,
    /// The URI of the call's first request, if one was recorded.
    pub uri: Option<String>,
    /// The status code of the call's latest response, if any.
    pub status_code: Option<String>,
}

impl DebugCall {
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("call_id".into(), self.call_id.clone().into());
        obj.insert("node".into(), self.node.clone().into());
        obj.insert("created".into(), self.created_ms.div_euclid(1000).into());
        obj.insert("created_ms".into(), self.created_ms.into());
        obj.insert("iterations".into(), self.iterations.into());
        if let Some(uri) = &self.uri {
            obj.insert("uri".into(), uri.clone().into());
        }
        if let Some(code) = &self.status_code {
            obj.insert("status_code".into(), code.clone().into());
        }
        Value::Object(obj)
    }
}

/// One page of the call listing, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub calls: Vec<DebugCall>,
    /// Pass back as `start_key` for the next page; `None` on the last page.
    pub next_start_key: Option<String>,
}

/// Headers as a JSON object; repeated names are joined as RFC 9110 allows.
fn headers_object(headers: &[(String, String)]) -> Value {
    let mut obj = Map::new();
    for (name, value) in headers {
        match obj.get_mut(name) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(value);
            }
            _ => {
                obj.insert(name.clone(), value.clone().into());
            }
        }
    }
    Value::Object(obj)
}

/// Unix milliseconds; times before 1970 become 0, absurdly late ones saturate.
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The inverse of [`unix_ms`], for tests and callers that hold millis.
pub fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stored(entry: Entry) -> StoredRecord {
        StoredRecord {
            id: 7,
            call_id: "c".into(),
            account_id: "a".into(),
            node: "n1".into(),
            created_ms: 1_700_000_000_123,
            iteration: 2,
            entry,
        }
    }

    #[test]
    fn head_json_has_string_status_and_header_object() {
        let rec = stored(Entry::ResponseHead {
            status_code: 200,
            headers: vec![
                ("set-cookie".into(), "a=1".into()),
                ("content-type".into(), "text/xml".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
        });
        let json = rec.to_json();
        assert_eq!(json["resp_status_code"], "200");
        assert_eq!(json["resp_headers"]["set-cookie"], "a=1, b=2");
        assert_eq!(json["resp_headers"]["content-type"], "text/xml");
        assert_eq!(json["created"], 1_700_000_000);
        assert_eq!(json["created_ms"], 1_700_000_000_123_i64);
        assert_eq!(json["iteration"], 2);
        assert_eq!(json["node"], "n1");
        assert!(json.get("resp_body").is_none());
    }

    #[test]
    fn error_json_names_kind_and_message() {
        let json = stored(Entry::Error {
            kind: "timeout".into(),
            message: "no answer in 5 s".into(),
        })
        .to_json();
        assert_eq!(json["error_kind"], "timeout");
        assert_eq!(json["error_message"], "no answer in 5 s");
    }

    #[test]
    fn unix_ms_round_trips_and_clamps() {
        assert_eq!(unix_ms(from_unix_ms(1234)), 1234);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }
}
