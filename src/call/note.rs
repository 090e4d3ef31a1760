//! What a call did, as typed notes ([`CallNote`]): the session and the flow emit one where
//! something happens (a request, an application, a key, the hangup, an upload). The
//! simulator prints them as its timeline and steers its caller by them; a call with debug on
//! keeps them, bounded, as its stored timeline (`timeline.rs`). Text borrows from the call
//! while it runs (a note costs no allocation) and is owned once kept or read back.
//!
//! The `Display` of each note is the line `pivot demo` and `pivot timeline` print.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

type Text<'a> = Cow<'a, str>;

/// One step of a call. Serialized as an object tagged by `step` (docs/api.md, "Timeline").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum CallNote<'a> {
    /// FreeSWITCH connected the call: a summary of the channel data.
    Connected {
        call_id: Text<'a>,
        from: Text<'a>,
        to: Text<'a>,
        answer_state: Text<'a>,
        /// `async` or `static` (the socket's mode).
        mode: Text<'a>,
    },
    /// The routing decision: where the flow came from and the call's account.
    Routed {
        source: Text<'a>,
        account: Text<'a>,
    },
    NoRoute {
        error: Text<'a>,
    },
    /// Debug was turned on by this request: the steps before it were not kept.
    DebugOn {
        iteration: u32,
    },
    /// A request to a web app; `iteration` is the debug records' `iteration`.
    Request {
        iteration: u32,
        attempt: u32,
        method: Text<'a>,
        url: Text<'a>,
    },
    Response {
        iteration: u32,
        status: u16,
        bytes: usize,
    },
    Retry {
        iteration: u32,
        kind: Text<'a>,
        message: Text<'a>,
    },
    /// The request failed; its `fallback_url` is asked next.
    Fallback {
        iteration: u32,
        kind: Text<'a>,
        message: Text<'a>,
        url: Text<'a>,
    },
    /// The request failed for good: the pivot node's failback branch runs.
    Failback {
        iteration: u32,
        kind: Text<'a>,
        message: Text<'a>,
    },
    /// `uuid_answer` (nothing was queued).
    Answer,
    /// An application sent to FreeSWITCH.
    Execute {
        app: Text<'a>,
        arg: Option<Text<'a>>,
    },
    /// CHANNEL_EXECUTE_COMPLETE of an application pivot sent.
    AppDone {
        app: Text<'a>,
        response: Text<'a>,
    },
    /// `uuid_break`: a key stopped the prompt.
    Break,
    Dtmf {
        digit: char,
    },
    /// A digit collection starts waiting for keys (the simulated caller presses its next
    /// digits when it sees this).
    Collecting {
        name: Text<'a>,
        max: u32,
    },
    Collected {
        name: Text<'a>,
        digits: Text<'a>,
    },
    Gathered {
        digits: Text<'a>,
    },
    /// A recording came out empty; `then` is what happens instead.
    RecordingEmpty {
        then: Text<'a>,
    },
    Dialed {
        status: Text<'a>,
    },
    /// pivot stopped the flow itself (shutdown, maximum duration).
    Stop {
        why: Text<'a>,
    },
    /// pivot asked FreeSWITCH to hang up.
    HangupSent {
        cause: Text<'a>,
    },
    ChannelHangup {
        cause: Text<'a>,
    },
    HangupComplete {
        cause: Text<'a>,
    },
    /// FreeSWITCH's disconnect notice (the channel hung up; the socket lingers).
    Disconnect,
    /// The call is over: its hangup cause, and who hung up (`pivot`, `caller`: the caller
    /// or anything on the switch's side, `unknown`: the socket closed first).
    Ended {
        cause: Text<'a>,
        by: Text<'a>,
    },
    /// A recording's upload and how it ended.
    Upload {
        url: Text<'a>,
        by: Text<'a>,
        ok: bool,
        result: Text<'a>,
    },
    /// The call's summary posted to `cdr_url`.
    Cdr {
        url: Text<'a>,
        ok: bool,
        result: Text<'a>,
    },
    /// pivot left the socket.
    Exit,
    /// The stored timeline reached its bound: `dropped` later steps were not kept.
    Truncated {
        dropped: u64,
    },
}

impl fmt::Display for CallNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CallNote::*;
        match self {
            Connected {
                call_id,
                from,
                to,
                answer_state,
                mode,
            } => write!(
                f,
                "connected: call {call_id} ({from} → {to}, {answer_state}, {mode} socket)"
            ),
            Routed { source, .. } => write!(f, "routed: {source}"),
            NoRoute { error } => write!(f, "no route: {error}"),
            DebugOn { iteration } => write!(
                f,
                "debug on from request {iteration}: the steps before it were not kept"
            ),
            Request {
                attempt,
                method,
                url,
                ..
            } => {
                write!(f, "request: {method} {url}")?;
                if *attempt > 1 {
                    write!(f, " (attempt {attempt})")?;
                }
                Ok(())
            }
            Response { status, bytes, .. } => write!(f, "response: {status} ({bytes} bytes)"),
            Retry { kind, message, .. } => write!(f, "retry: {kind}: {message}"),
            Fallback {
                kind, message, url, ..
            } => write!(f, "fallback: {kind}: {message}; asking fallback_url {url}"),
            Failback { kind, message, .. } => write!(f, "failback: {kind}: {message}"),
            Answer => f.write_str("answer (uuid_answer)"),
            Execute {
                app,
                arg: Some(arg),
            } => write!(f, "execute: {app} {arg}"),
            Execute { app, arg: None } => write!(f, "execute: {app}"),
            AppDone { app, response } => {
                write!(f, "event: CHANNEL_EXECUTE_COMPLETE {app} {response}")
            }
            Break => f.write_str("uuid_break: a key was pressed"),
            Dtmf { digit } => write!(f, "event: DTMF {digit}"),
            Collecting { name, max } => {
                write!(f, "collect: waiting for digits ({name}, up to {max})")
            }
            Collected { name, digits } => write!(f, "collected: {name}={digits}"),
            Gathered { digits } => write!(f, "gathered: {digits:?}"),
            RecordingEmpty { then } => write!(f, "recording is empty: {then}"),
            Dialed { status } => write!(f, "dial: {status}"),
            Stop { why } => write!(f, "stop: {why}"),
            HangupSent { cause } => write!(f, "hangup: {cause}"),
            ChannelHangup { cause } => write!(f, "event: CHANNEL_HANGUP {cause}"),
            HangupComplete { cause } => write!(f, "event: CHANNEL_HANGUP_COMPLETE {cause}"),
            Disconnect => f.write_str("FreeSWITCH: disconnect notice"),
            Ended { cause, by } => write!(f, "call ended: {cause}, hung up by {by}"),
            Upload { url, result, .. } => write!(f, "upload: {url} -> {result}"),
            Cdr { url, result, .. } => write!(f, "cdr: {url} -> {result}"),
            Exit => f.write_str("exit"),
            Truncated { dropped } => {
                write!(f, "timeline truncated: {dropped} later step(s) not kept")
            }
        }
    }
}

impl CallNote<'_> {
    /// A copy that owns its text, each text cut to `max` characters (`…` marks a cut).
    pub fn to_owned_cut(&self, max: usize) -> CallNote<'static> {
        let t = |s: &Text<'_>| -> Text<'static> { Cow::Owned(cut(s, max)) };
        use CallNote::*;
        match self {
            Connected {
                call_id,
                from,
                to,
                answer_state,
                mode,
            } => Connected {
                call_id: t(call_id),
                from: t(from),
                to: t(to),
                answer_state: t(answer_state),
                mode: t(mode),
            },
            Routed { source, account } => Routed {
                source: t(source),
                account: t(account),
            },
            NoRoute { error } => NoRoute { error: t(error) },
            DebugOn { iteration } => DebugOn {
                iteration: *iteration,
            },
            Request {
                iteration,
                attempt,
                method,
                url,
            } => Request {
                iteration: *iteration,
                attempt: *attempt,
                method: t(method),
                url: t(url),
            },
            Response {
                iteration,
                status,
                bytes,
            } => Response {
                iteration: *iteration,
                status: *status,
                bytes: *bytes,
            },
            Retry {
                iteration,
                kind,
                message,
            } => Retry {
                iteration: *iteration,
                kind: t(kind),
                message: t(message),
            },
            Fallback {
                iteration,
                kind,
                message,
                url,
            } => Fallback {
                iteration: *iteration,
                kind: t(kind),
                message: t(message),
                url: t(url),
            },
            Failback {
                iteration,
                kind,
                message,
            } => Failback {
                iteration: *iteration,
                kind: t(kind),
                message: t(message),
            },
            Answer => Answer,
            Execute { app, arg } => Execute {
                app: t(app),
                arg: arg.as_ref().map(t),
            },
            AppDone { app, response } => AppDone {
                app: t(app),
                response: t(response),
            },
            Break => Break,
            Dtmf { digit } => Dtmf { digit: *digit },
            Collecting { name, max } => Collecting {
                name: t(name),
                max: *max,
            },
            Collected { name, digits } => Collected {
                name: t(name),
                digits: t(digits),
            },
            Gathered { digits } => Gathered { digits: t(digits) },
            RecordingEmpty { then } => RecordingEmpty { then: t(then) },
            Dialed { status } => Dialed { status: t(status) },
            Stop { why } => Stop { why: t(why) },
            HangupSent { cause } => HangupSent { cause: t(cause) },
            ChannelHangup { cause } => ChannelHangup { cause: t(cause) },
            HangupComplete { cause } => HangupComplete { cause: t(cause) },
            Disconnect => Disconnect,
            Ended { cause, by } => Ended {
                cause: t(cause),
                by: t(by),
            },
            Upload {
                url,
                by,
                ok,
                result,
            } => Upload {
                url: t(url),
                by: t(by),
                ok: *ok,
                result: t(result),
            },
            Cdr { url, ok, result } => Cdr {
                url: t(url),
                ok: *ok,
                result: t(result),
            },
            Exit => Exit,
            Truncated { dropped } => Truncated { dropped: *dropped },
        }
    }

    /// Roughly the bytes this note takes once stored (its text plus a fixed share for
    /// the field names), for the timeline's byte bound.
    pub fn stored_size(&self) -> usize {
        let mut text = 0;
        self.each_text(&mut |s| text += s.len() + 12);
        40 + text
    }

    fn each_text(&self, f: &mut dyn FnMut(&str)) {
        use CallNote::*;
        match self {
            Connected {
                call_id,
                from,
                to,
                answer_state,
                mode,
            } => [call_id, from, to, answer_state, mode]
                .into_iter()
                .for_each(|s| f(s)),
            Routed { source, account } => [source, account].into_iter().for_each(|s| f(s)),
            Request { method, url, .. } => [method, url].into_iter().for_each(|s| f(s)),
            Retry { kind, message, .. } | Failback { kind, message, .. } => {
                [kind, message].into_iter().for_each(|s| f(s))
            }
            Fallback {
                kind, message, url, ..
            } => [kind, message, url].into_iter().for_each(|s| f(s)),
            Execute { app, arg } => {
                f(app);
                if let Some(a) = arg {
                    f(a)
                }
            }
            AppDone { app, response } => [app, response].into_iter().for_each(|s| f(s)),
            Collected { name, digits } => [name, digits].into_iter().for_each(|s| f(s)),
            Ended { cause, by } => [cause, by].into_iter().for_each(|s| f(s)),
            Upload {
                url, by, result, ..
            } => [url, by, result].into_iter().for_each(|s| f(s)),
            Cdr { url, result, .. } => [url, result].into_iter().for_each(|s| f(s)),
            NoRoute { error: s }
            | Collecting { name: s, .. }
            | Gathered { digits: s }
            | RecordingEmpty { then: s }
            | Dialed { status: s }
            | Stop { why: s }
            | HangupSent { cause: s }
            | ChannelHangup { cause: s }
            | HangupComplete { cause: s } => f(s),
            DebugOn { .. }
            | Response { .. }
            | Answer
            | Break
            | Dtmf { .. }
            | Disconnect
            | Exit
            | Truncated { .. } => {}
        }
    }
}

/// `s` cut to at most `max` characters, `…` added when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn notes_print_as_the_demo_always_did() {
        let exec = CallNote::Execute {
            app: "speak".into(),
            arg: Some("flite|slt|Hi".into()),
        };
        assert_eq!(exec.to_string(), "execute: speak flite|slt|Hi");
        let req = CallNote::Request {
            iteration: 2,
            attempt: 2,
            method: "Get".into(),
            url: "http://a/v".into(),
        };
        assert_eq!(req.to_string(), "request: Get http://a/v (attempt 2)");
        let collecting = CallNote::Collecting {
            name: "menu".into(),
            max: 1,
        };
        assert_eq!(
            collecting.to_string(),
            "collect: waiting for digits (menu, up to 1)"
        );
    }

    #[test]
    fn a_note_round_trips_through_json_tagged_by_kind() {
        let note = CallNote::Upload {
            url: "http://a/r.mp3".into(),
            by: "pivot PUT".into(),
            ok: true,
            result: "+OK 201".into(),
        };
        let json = serde_json::to_value(&note).unwrap();
        assert_eq!(json["step"], "upload");
        assert_eq!(json["ok"], true);
        let back: CallNote<'static> = serde_json::from_value(json).unwrap();
        assert_eq!(back, note);
        let dtmf = serde_json::to_string(&CallNote::Dtmf { digit: '#' }).unwrap();
        assert_eq!(dtmf, r##"{"step":"dtmf","digit":"#"}"##);
    }

    #[test]
    fn owned_copies_cut_long_text() {
        let long = "x".repeat(50);
        let note = CallNote::Execute {
            app: "speak".into(),
            arg: Some(long.as_str().into()),
        };
        let CallNote::Execute { arg: Some(arg), .. } = note.to_owned_cut(10) else {
            panic!("not an execute");
        };
        assert_eq!(arg, format!("{}…", "x".repeat(10)));
        assert!(note.stored_size() > 50);
    }
}
