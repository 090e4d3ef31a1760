//! Typed views of FreeSWITCH events and of the connect reply's channel data.
//! Owns decoding an event body (plain or JSON) and the named accessors; does not decide what
//! an event means for a call (that is `call`).

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use super::block::{self, check_len};
use super::frame::{declared_length, FrameError, Limits};
use super::headers::{Builder, Headers};

/// Why an event body is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event frame has no body")]
    MissingBody,
    #[error("event body: {0}")]
    Frame(#[from] FrameError),
    #[error("event body declares {declared} body bytes but has {available}")]
    ShortBody { declared: usize, available: usize },
    #[error("JSON event: {0}")]
    Json(String),
}

/// Body bytes per index entry an event's index is first sized for (see `from_plain_bytes`).
const INDEX_BYTES_PER_ENTRY: usize = 32;

/// One event: its headers (percent-decoded for plain events, when read) and its own body, if
/// any. A plain event keeps the bytes it came in; its headers are spans of them.
#[derive(Clone)]
pub struct Event {
    headers: Headers,
    body: Option<Range<usize>>,
}

impl Event {
    /// An event from parts (for fakes and tests).
    pub fn new(headers: Headers, body: Option<Vec<u8>>) -> Self {
        let mut headers = headers;
        let body = body.map(|b| headers.append_raw(&b));
        Event { headers, body }
    }

    /// Decodes a `text/event-plain` body: a header block, and when it ends with
    /// `Content-Length: n`, a blank line and n bytes of the event's own body.
    pub fn from_plain(body: &[u8], limits: &Limits) -> Result<Event, EventError> {
        Self::from_plain_bytes(Bytes::copy_from_slice(body), limits)
    }

    /// [`Event::from_plain`] keeping `bytes`: one index allocation, nothing decoded yet.
    pub(crate) fn from_plain_bytes(bytes: Bytes, limits: &Limits) -> Result<Event, EventError> {
        let len = bytes.len();
        check_len(len)?;
        // Sized from the body: FreeSWITCH's header lines average about 35 bytes, so this fits
        // most events without growing, a few percent over their exact size.
        let mut entries =
            Vec::with_capacity((len / INDEX_BYTES_PER_ENTRY + 1).min(limits.max_headers));
        let found = block::index_block(&bytes, limits.max_headers, &mut entries)?;
        if entries.capacity() > 2 * entries.len() + 16 {
            // A body mostly not header lines (a long value, an event's own body).
            entries.shrink_to_fit();
        }
        let headers = Headers::from_parts(bytes, entries, true);
        // Found while indexing: the lookup would be a pass over every name.
        let declared = declared_length(&headers.view(), found.content_length, limits)?;
        let body = match declared {
            None => None,
            Some(declared) => {
                let available = len - found.rest;
                if declared > available {
                    return Err(EventError::ShortBody {
                        declared,
                        available,
                    });
                }
                Some(found.rest..found.rest + declared)
            }
        };
        Ok(Event { headers, body })
    }

    /// Decodes a `text/event-json` body: a flat object of strings (arrays for repeated
    /// headers), `_body` holding the event's own body. Values are not URL-encoded in JSON.
    pub fn from_json(body: &[u8], limits: &Limits) -> Result<Event, EventError> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
        let mut headers = Builder::default();
        let mut own_body = None;
        for (name, value) in &object {
            if name == "_body" {
                own_body = Some(json_text(value));
                continue;
            }
            let values = match value {
                serde_json::Value::Array(items) => items.iter().map(json_text).collect(),
                other => vec![json_text(other)],
            };
            for v in values {
                if headers.len() >= limits.max_headers {
                    let limit = limits.max_headers;
                    return Err(FrameError::TooManyHeaders { limit }.into());
                }
                headers.push(name, &v);
            }
        }
        let body = own_body.map(|b| headers.push_raw(b.as_bytes()));
        Ok(Event {
            headers: headers.finish(),
            body,
        })
    }

    /// `Event-Name`, e.g. `CHANNEL_EXECUTE_COMPLETE`.
    pub fn name(&self) -> Option<&str> {
        self.header("Event-Name")
    }

    pub fn unique_id(&self) -> Option<&str> {
        self.header("Unique-ID")
    }

    pub fn application(&self) -> Option<&str> {
        self.header("Application")
    }

    /// The `Event-UUID` sent with `sendmsg`, echoed on CHANNEL_EXECUTE(_COMPLETE).
    pub fn application_uuid(&self) -> Option<&str> {
        self.header("Application-UUID")
    }

    /// `FILE PLAYED`, `FILE NOT FOUND`, `PLAYBACK ERROR`, `_none_`...
    pub fn application_response(&self) -> Option<&str> {
        self.header("Application-Response")
    }

    pub fn application_data(&self) -> Option<&str> {
        self.header("Application-Data")
    }

    /// The first `Hangup-Cause` (CHANNEL_HANGUP_COMPLETE carries it twice).
    pub fn hangup_cause(&self) -> Option<&str> {
        self.header("Hangup-Cause")
    }

    pub fn dtmf_digit(&self) -> Option<&str> {
        self.header("DTMF-Digit")
    }

    /// `Job-UUID` of a BACKGROUND_JOB event.
    pub fn job_uuid(&self) -> Option<&str> {
        self.header("Job-UUID")
    }

    /// The channel variable `name` (header `variable_<name>`).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.headers.get_prefixed("variable_", name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The event's own body (BACKGROUND_JOB's result, a log line...).
    pub fn body(&self) -> Option<&[u8]> {
        Some(&self.headers.bytes()[self.body.clone()?])
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.headers == other.headers && self.body() == other.body()
    }
}

impl Eq for Event {}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("headers", &self.headers)
            .field("body", &self.body().map(String::from_utf8_lossy))
            .finish()
    }
}

/// The connect reply: the call's CHANNEL_DATA, plus the reply fields at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelData {
    headers: Headers,
}

impl ChannelData {
    pub fn new(headers: Headers) -> Self {
        ChannelData { headers }
    }

    pub fn unique_id(&self) -> Option<&str> {
        self.header("Unique-ID")
    }

    /// `Caller-Destination-Number`: what the caller dialled.
    pub fn destination_number(&self) -> Option<&str> {
        self.header("Caller-Destination-Number")
    }

    pub fn caller_id_name(&self) -> Option<&str> {
        self.header("Caller-Caller-ID-Name")
    }

    pub fn caller_id_number(&self) -> Option<&str> {
        self.header("Caller-Caller-ID-Number")
    }

    /// `Call-Direction`: `inbound` or `outbound`.
    pub fn call_direction(&self) -> Option<&str> {
        self.header("Call-Direction")
    }

    /// `Answer-State`: `ringing`, `answered`...
    pub fn answer_state(&self) -> Option<&str> {
        self.header("Answer-State")
    }

    /// The decoded `Reply-Text` (`+OK` once `%2BOK%0A` is decoded and trimmed).
    pub fn reply_text(&self) -> Option<&str> {
        self.header("Reply-Text").map(str::trim_end)
    }

    /// True when the reply says `+OK`.
    pub fn is_ok(&self) -> bool {
        self.reply_text().is_some_and(|t| t.starts_with("+OK"))
    }

    /// The channel variable `name` (header `variable_<name>`).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.headers.get_prefixed("variable_", name)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BACKGROUND_JOB: &[u8] = b"Event-Name: BACKGROUND_JOB\nJob-UUID: 7f4d\n\
Job-Command: originate\nContent-Length: 41\n\n+OK 2f1e0c6a-6d53-4c2e-9a3c-000000000000\n";

    #[test]
    fn inner_content_length_body() {
        let event = Event::from_plain(BACKGROUND_JOB, &Limits::default()).unwrap();
        assert_eq!(event.name(), Some("BACKGROUND_JOB"));
        assert_eq!(event.job_uuid(), Some("7f4d"));
        assert_eq!(
            event.body(),
            Some(&b"+OK 2f1e0c6a-6d53-4c2e-9a3c-000000000000\n"[..])
        );
    }

    #[test]
    fn short_inner_body_is_an_error() {
        let cut = &BACKGROUND_JOB[..BACKGROUND_JOB.len() - 5];
        let err = Event::from_plain(cut, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            EventError::ShortBody {
                declared: 41,
                available: 36
            }
        );
    }

    #[test]
    fn plain_event_without_body_or_final_blank_line() {
        let event =
            Event::from_plain(b"Event-Name: DTMF\nDTMF-Digit: %23\n", &Limits::default()).unwrap();
        assert_eq!(event.dtmf_digit(), Some("#"));
        assert_eq!(event.body(), None);
    }

    #[test]
    fn json_event() {
        let json = br#"{"Event-Name":"CHANNEL_EXECUTE","Unique-ID":"u1","variable_x":"a%41",
            "Hangup-Cause":["A","B"],"Event-Sequence":7,"_body":"hello"}"#;
        let event = Event::from_json(json, &Limits::default()).unwrap();
        assert_eq!(event.name(), Some("CHANNEL_EXECUTE"));
        assert_eq!(
            event.variable("x"),
            Some("a%41"),
            "JSON values are not URL-decoded"
        );
        assert_eq!(event.headers().get_all("hangup-cause").count(), 2);
        assert_eq!(event.header("Event-Sequence"), Some("7"));
        assert_eq!(event.body(), Some(&b"hello"[..]));
        assert!(matches!(
            Event::from_json(b"[1]", &Limits::default()),
            Err(EventError::Json(_))
        ));
    }

    #[test]
    fn channel_data_accessors() {
        let headers: Headers = [
            ("Unique-ID", "abc"),
            ("Caller-Destination-Number", "3004"),
            ("Caller-Caller-ID-Name", "Ann"),
            ("Caller-Caller-ID-Number", "1000"),
            ("Call-Direction", "inbound"),
            ("Answer-State", "ringing"),
            ("variable_pivot_voice_url", "http://x/"),
            ("Reply-Text", "+OK\n"),
        ]
        .into_iter()
        .collect();
        let data = ChannelData::new(headers);
        assert_eq!(data.unique_id(), Some("abc"));
        assert_eq!(data.destination_number(), Some("3004"));
        assert_eq!(data.caller_id_name(), Some("Ann"));
        assert_eq!(data.caller_id_number(), Some("1000"));
        assert_eq!(data.call_direction(), Some("inbound"));
        assert_eq!(data.answer_state(), Some("ringing"));
        assert_eq!(data.variable("PIVOT_VOICE_URL"), Some("http://x/"));
        assert_eq!(data.reply_text(), Some("+OK"));
        assert!(data.is_ok());
    }
}
