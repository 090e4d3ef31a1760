//! Interpreting a frame by its `Content-Type`: reply, API response, event, disconnect notice,
//! log line, rude rejection, or unknown (kept, never fatal). Reads the frame where it lies and
//! copies only what a message keeps. Does not parse frames or track which reply answers which
//! command.

use bytes::BytesMut;

use super::event::{ChannelData, Event, EventError};
use super::frame::{Found, Frame, FrameScanner, Limits};
use super::headers::{HeaderView, UNDEF};

/// What FreeSWITCH said, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The reply to `connect`: the call's channel data (a `command/reply` carrying `Unique-ID`).
    ConnectReply(ChannelData),
    /// Any other `command/reply`.
    Reply(Reply),
    /// `api/response`: the body, as text (invalid UTF-8 replaced).
    ApiResponse(String),
    /// `text/event-plain` or `text/event-json`.
    Event(Event),
    /// `text/disconnect-notice`. A `Linger` notice is not end-of-stream.
    Disconnect { kind: DisconnectKind, body: String },
    /// `log/data`: the body.
    Log(String),
    /// `text/rude-rejection`: the body (FreeSWITCH refused the connection).
    RudeRejection(String),
    /// Any other type (`auth/request`, `text/event-xml`, unknown ones), or a command frame.
    Unknown(Frame),
}

/// A `command/reply`: `Reply-Text`, e.g. `+OK`, `-ERR command not found`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
}

impl Reply {
    /// True when the text starts with `+OK`.
    pub fn is_ok(&self) -> bool {
        self.text.starts_with("+OK")
    }

    /// The job id in a `bgapi` reply (`+OK Job-UUID: <id>`).
    pub fn job_uuid(&self) -> Option<&str> {
        self.text
            .strip_prefix("+OK Job-UUID: ")
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }
}

/// `Content-Disposition` of a disconnect notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectKind {
    /// The call hung up and FreeSWITCH lingers: events still come, the socket stays open.
    Linger,
    /// FreeSWITCH is closing the socket.
    Disconnect,
    /// No or another disposition.
    Other,
}

/// Why a frame of a known type could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("bad event: {0}")]
    Event(#[from] EventError),
}

impl Message {
    /// Interprets a frame with the default limits for an event's inner header block.
    pub fn from_frame(frame: Frame) -> Result<Message, MessageError> {
        Self::from_frame_with(frame, &Limits::default())
    }

    /// Interprets a frame; `limits` caps the header block inside an event body.
    pub fn from_frame_with(frame: Frame, limits: &Limits) -> Result<Message, MessageError> {
        let command = frame.command_line().is_some();
        let kind = classify(frame.headers().view(), frame.body(), command)?;
        Ok(match complete(kind, limits)? {
            Ok(message) => message,
            Err(Keep::Headers) => Message::ConnectReply(ChannelData::new(frame.into_parts().1)),
            Err(Keep::Frame) => Message::Unknown(frame),
        })
    }

    /// The codec's path: `taken` holds the frame `found` (split off the read buffer, sharing
    /// its memory). An event keeps its body where it was read, with no copy; the other
    /// messages copy what they keep (the connect reply's header block, a text), so a message
    /// that lives as long as the call does not hold on to a read buffer.
    pub(crate) fn from_found(
        scanner: &mut FrameScanner,
        taken: BytesMut,
        found: &Found,
        limits: &Limits,
    ) -> Result<Message, MessageError> {
        let buf: &[u8] = &taken;
        let frame = &buf[found.start..found.total];
        let body = found.body.clone().map(|range| &frame[range]);
        let kind = classify(scanner.view(buf, found), body, found.command.is_some())?;
        if let (Kind::Plain(_), Some(range)) = (&kind, &found.body) {
            let at = found.start + range.start..found.start + range.end;
            let body = taken.freeze().slice(at);
            return Ok(Message::Event(Event::from_plain_bytes(body, limits)?));
        }
        Ok(match complete(kind, limits)? {
            Ok(message) => message,
            Err(Keep::Headers) => {
                Message::ConnectReply(ChannelData::new(scanner.take_headers(buf, found)))
            }
            Err(Keep::Frame) => Message::Unknown(scanner.take_frame(buf, found)),
        })
    }
}

/// What a frame is, decided from borrowed headers and body.
enum Kind<'a> {
    Connect,
    Reply(String),
    Api(String),
    Plain(&'a [u8]),
    Json(&'a [u8]),
    Disconnect(DisconnectKind, String),
    Log(String),
    Rude(String),
    Unknown,
}

/// What the caller must supply from its own bytes: the headers, or the whole frame.
enum Keep {
    Headers,
    Frame,
}

fn classify<'a>(
    headers: HeaderView<'a>,
    body: Option<&'a [u8]>,
    command: bool,
) -> Result<Kind<'a>, MessageError> {
    if command {
        return Ok(Kind::Unknown);
    }
    let event_body = || body.ok_or(EventError::MissingBody);
    let at = headers.position("Content-Type");
    // Most frames are events: that test first (the types are exclusive, order is free), on
    // the raw value (one without a `%` decodes to itself).
    if at.is_some_and(|i| {
        headers
            .raw_value(i)
            .eq_ignore_ascii_case(b"text/event-plain")
    }) {
        return Ok(Kind::Plain(event_body()?));
    }
    let content_type = at.map(|i| headers.value(i)).filter(|v| v != UNDEF);
    let content_type = content_type.as_deref().unwrap_or("");
    let is = |t: &str| content_type.eq_ignore_ascii_case(t);
    let text = || String::from_utf8_lossy(body.unwrap_or_default()).into_owned();
    let kind = if is("text/event-plain") {
        Kind::Plain(event_body()?)
    } else if is("command/reply") {
        reply(headers)
    } else if is("api/response") {
        Kind::Api(text())
    } else if is("text/event-json") {
        Kind::Json(event_body()?)
    } else if is("text/disconnect-notice") {
        Kind::Disconnect(disconnect_kind(headers), text())
    } else if is("log/data") {
        Kind::Log(text())
    } else if is("text/rude-rejection") {
        Kind::Rude(text())
    } else {
        Kind::Unknown
    };
    Ok(kind)
}

fn complete(kind: Kind<'_>, limits: &Limits) -> Result<Result<Message, Keep>, MessageError> {
    let message = match kind {
        Kind::Connect => return Ok(Err(Keep::Headers)),
        Kind::Unknown => return Ok(Err(Keep::Frame)),
        Kind::Reply(text) => Message::Reply(Reply { text }),
        Kind::Api(text) => Message::ApiResponse(text),
        Kind::Plain(body) => Message::Event(Event::from_plain(body, limits)?),
        Kind::Json(body) => Message::Event(Event::from_json(body, limits)?),
        Kind::Disconnect(kind, body) => Message::Disconnect { kind, body },
        Kind::Log(text) => Message::Log(text),
        Kind::Rude(text) => Message::RudeRejection(text),
    };
    Ok(Ok(message))
}

/// The connect reply is the one `command/reply` that carries the channel's data.
fn reply(headers: HeaderView<'_>) -> Kind<'static> {
    let channel_data = headers.get("Event-Name").as_deref() == Some("CHANNEL_DATA");
    if headers.get("Unique-ID").is_some() || channel_data {
        return Kind::Connect;
    }
    let text = headers.get("Reply-Text");
    Kind::Reply(text.as_deref().unwrap_or("").trim_end().to_owned())
}

fn disconnect_kind(headers: HeaderView<'_>) -> DisconnectKind {
    match headers.get("Content-Disposition").as_deref() {
        Some(d) if d.eq_ignore_ascii_case("linger") => DisconnectKind::Linger,
        Some(d) if d.eq_ignore_ascii_case("disconnect") => DisconnectKind::Disconnect,
        _ => DisconnectKind::Other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::esl::frame::parse_frame;

    fn message(input: &[u8]) -> Message {
        let (frame, used) = parse_frame(input, &Limits::default()).unwrap().unwrap();
        assert_eq!(used, input.len());
        Message::from_frame(frame).unwrap()
    }

    #[test]
    fn replies() {
        let ok = message(b"Content-Type: command/reply\nReply-Text: +OK will linger\n\n");
        assert_eq!(
            ok,
            Message::Reply(Reply {
                text: "+OK will linger".into()
            })
        );
        let Message::Reply(err) =
            message(b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
        else {
            panic!("not a reply")
        };
        assert!(!err.is_ok());
        let bg = Reply {
            text: "+OK Job-UUID: 99f0".into(),
        };
        assert_eq!(bg.job_uuid(), Some("99f0"));
    }

    #[test]
    fn connect_reply_decodes_reply_text() {
        let m = message(
            b"Event-Name: CHANNEL_DATA\nUnique-ID: u-1\nCaller-Destination-Number: 3004\n\
Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: async\nControl: full\n\n",
        );
        let Message::ConnectReply(data) = m else {
            panic!("not a connect reply: {m:?}")
        };
        assert_eq!(data.header("Reply-Text"), Some("+OK\n"));
        assert!(data.is_ok());
        assert_eq!(data.unique_id(), Some("u-1"));
        assert_eq!(data.destination_number(), Some("3004"));
    }

    #[test]
    fn disconnect_notices() {
        let linger = message(
            b"Content-Type: text/disconnect-notice\nContent-Disposition: linger\nContent-Length: 0\n\n",
        );
        let expected = Message::Disconnect {
            kind: DisconnectKind::Linger,
            body: String::new(),
        };
        assert_eq!(linger, expected);
        let bye = message(
            b"Content-Type: text/disconnect-notice\nContent-Disposition: disconnect\nContent-Length: 4\n\nbye\n",
        );
        let expected = Message::Disconnect {
            kind: DisconnectKind::Disconnect,
            body: "bye\n".into(),
        };
        assert_eq!(bye, expected);
        let other = message(b"Content-Type: text/disconnect-notice\n\n");
        assert!(matches!(
            other,
            Message::Disconnect {
                kind: DisconnectKind::Other,
                ..
            }
        ));
    }

    #[test]
    fn bodies_as_text() {
        let api = message(b"Content-Type: api/response\nContent-Length: 5\n\n-ERR\xff");
        assert_eq!(api, Message::ApiResponse("-ERR\u{fffd}".into()));
        let log = message(b"Content-Type: log/data\nContent-Length: 3\n\nabc");
        assert_eq!(log, Message::Log("abc".into()));
        let rude = message(b"Content-Type: text/rude-rejection\nContent-Length: 2\n\nno");
        assert_eq!(rude, Message::RudeRejection("no".into()));
    }

    #[test]
    fn events_plain_and_json() {
        let body = b"Event-Name: DTMF\nDTMF-Digit: 5\n\n";
        let mut input = format!(
            "Content-Length: {}\nContent-Type: text/event-plain\n\n",
            body.len()
        )
        .into_bytes();
        input.extend_from_slice(body);
        let Message::Event(event) = message(&input) else {
            panic!("not an event")
        };
        assert_eq!(event.dtmf_digit(), Some("5"));
        let json = br#"{"Event-Name":"DTMF","DTMF-Digit":"7"}"#;
        let mut input = format!(
            "Content-Length: {}\nContent-Type: text/event-json\n\n",
            json.len()
        )
        .into_bytes();
        input.extend_from_slice(json);
        let Message::Event(event) = message(&input) else {
            panic!("not an event")
        };
        assert_eq!(event.dtmf_digit(), Some("7"));
    }

    #[test]
    fn unknown_types_are_kept() {
        for input in [
            &b"Content-Type: auth/request\n\n"[..],
            b"Content-Type: text/event-xml\nContent-Length: 3\n\n<a>",
            b"Content-Type: x/new-thing\n\n",
            b"Reply-Text: no type\n\n",
            b"sendmsg\ncall-command: hangup\n\n",
        ] {
            assert!(matches!(message(input), Message::Unknown(_)), "{input:?}");
        }
    }

    #[test]
    fn event_without_body_is_an_error() {
        let (frame, _) = parse_frame(b"Content-Type: text/event-plain\n\n", &Limits::default())
            .unwrap()
            .unwrap();
        let err = Message::from_frame(frame).unwrap_err();
        assert_eq!(err, MessageError::Event(EventError::MissingBody));
    }
}
