//! What one fake call saw and did, for tests to assert on: every frame the server sent,
//! the applications it asked for, the hangup, filters, variables, API calls, and a timeline.
//! Owns no behaviour; the fake session fills it in.

use super::fs_wire::Command;
use std::fmt;
use std::time::Duration;

/// One frame the server sent, parsed, with when it arrived (since the TCP connect).
#[derive(Clone, Debug)]
pub struct ServerFrame {
    pub at: Duration,
    pub cmd: Command,
}

impl ServerFrame {
    pub fn raw(&self) -> &[u8] {
        &self.cmd.raw
    }
    pub fn line(&self) -> &str {
        &self.cmd.line
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.cmd.header(name)
    }
    pub fn body(&self) -> &[u8] {
        &self.cmd.body
    }
    /// `sendmsg` with `call-command: execute`.
    pub fn is_execute(&self) -> bool {
        self.cmd.verb() == "sendmsg"
            && self
                .header("call-command")
                .is_some_and(|c| c.eq_ignore_ascii_case("execute"))
    }
}

/// How the argument of an execute reached the fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgForm {
    /// `execute-app-arg` header.
    Header,
    /// `content-type: text/plain` body.
    Body,
    /// Neither (or a body without `content-type: text/plain`, which FreeSWITCH ignores).
    None,
}

/// One `sendmsg` execute received while the call was up, in arrival order.
#[derive(Clone, Debug)]
pub struct ExecutedApp {
    pub name: String,
    pub arg: String,
    pub form: ArgForm,
    /// The `Event-UUID` sent, if any (Application-UUID echoes it, or a random one).
    pub event_uuid: Option<String>,
    pub app_uuid: String,
    pub event_lock: bool,
    /// True once CHANNEL_EXECUTE was sent (false: dropped by a hangup while queued).
    pub started: bool,
    /// The Application-Response of its CHANNEL_EXECUTE_COMPLETE, once sent.
    pub response: Option<String>,
    /// Started while another (unlocked) app was still running: FreeSWITCH nests it.
    pub nested: bool,
    /// The app is not one FreeSWITCH knows: the call was hung up DESTINATION_OUT_OF_ORDER.
    pub unknown: bool,
}

/// Who ended the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HangupBy {
    /// The `hangup` application.
    App,
    /// `sendmsg` with `call-command: hangup`.
    Command,
    /// An unknown application (DESTINATION_OUT_OF_ORDER).
    UnknownApp,
    /// The caller / the outside: `hangup_after`, `hangup_now`, hangup-on-app, `api uuid_kill`.
    Outside,
    /// The server said `exit` or closed the socket while the call was up.
    SocketGone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hangup {
    pub cause: String,
    pub by: HangupBy,
    pub at: Duration,
}

/// The `linger` setting the server asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Linger {
    #[default]
    Off,
    Forever,
    Secs(u32),
}

/// An `api` command and the body the fake answered.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub command: String,
    pub reply: String,
}

/// A real HTTP upload the fake made for `api http_put` or a `record` to `http_cache://`.
#[derive(Clone, Debug)]
pub struct Upload {
    pub url: String,
    pub file: String,
    /// HTTP status, or None when the request failed (refused, timeout...).
    pub status: Option<u16>,
}

/// Direction of a timeline entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The server sent it.
    In,
    /// The fake sent it.
    Out,
    /// Something the fake did or decided.
    Note,
}

#[derive(Clone, Debug)]
pub struct TimelineEntry {
    pub at: Duration,
    pub dir: Dir,
    pub what: String,
}

/// Everything one fake call recorded. Read it after `FakeCallHandle::finish`.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    pub uuid: String,
    /// Every frame the server sent, in order (connect included).
    pub frames: Vec<ServerFrame>,
    /// Every execute received while the call was up, in order.
    pub apps: Vec<ExecutedApp>,
    pub hangup: Option<Hangup>,
    /// Frames the server sent after the hangup (sendmsg, api, exit...).
    pub after_hangup: Vec<ServerFrame>,
    pub myevents: bool,
    /// `event plain ...` subscriptions, as sent.
    pub event_subscriptions: Vec<String>,
    /// The event types the socket receives after the server's myevents/event/nixevent.
    pub subscription: super::fs_commands::Subscription,
    /// `filter` headers and values, in order (`delete` removes).
    pub filters: Vec<(String, String)>,
    pub linger: Linger,
    /// Variables set through the `set` app (value NOT expanded) or `api uuid_setvar`.
    pub vars_set: Vec<(String, String)>,
    pub api: Vec<ApiCall>,
    pub uploads: Vec<Upload>,
    /// Files the `record` app wrote (absolute paths whose directory exists).
    pub recordings: Vec<String>,
    pub server_sent_exit: bool,
    /// The server closed its end (EOF) before the fake closed.
    pub server_closed: bool,
    /// `resume` was sent: closing the socket lets the dialplan go on instead of hanging up.
    pub resumed: bool,
    /// Protocol mistakes the fake noticed (bad frames, commands before connect...).
    pub protocol_errors: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
    /// The fake finished (socket closed one way or the other).
    pub done: bool,
    /// `api uuid_answer` answered the channel (no `answer` application ran).
    pub answered_by_api: bool,
    /// How many times the parked channel waited for its next media frame before it ran
    /// what was queued (FreeSWITCH's park loop looks at its queue once per 20 ms frame).
    pub park_waits: u32,
}

impl Transcript {
    /// Names of the apps that were started (CHANNEL_EXECUTE sent), in order.
    pub fn app_names(&self) -> Vec<&str> {
        self.apps
            .iter()
            .filter(|a| a.started)
            .map(|a| a.name.as_str())
            .collect()
    }

    /// The started apps as (name, arg) pairs, in order.
    pub fn app_calls(&self) -> Vec<(&str, &str)> {
        self.apps
            .iter()
            .filter(|a| a.started)
            .map(|a| (a.name.as_str(), a.arg.as_str()))
            .collect()
    }

    /// Event names the fake actually sent (after subscriptions and filters), in order.
    pub fn sent_events(&self) -> Vec<&str> {
        self.timeline
            .iter()
            .filter(|e| e.dir == Dir::Out)
            .filter_map(|e| e.what.strip_prefix("event Event-Name="))
            .map(|rest| rest.split(' ').next().unwrap_or(""))
            .collect()
    }

    /// Executes the server sent after the hangup (should be none).
    pub fn executes_after_hangup(&self) -> Vec<&ServerFrame> {
        self.after_hangup
            .iter()
            .filter(|f| f.is_execute())
            .collect()
    }

    pub fn hangup_cause(&self) -> Option<&str> {
        self.hangup.as_ref().map(|h| h.cause.as_str())
    }

    /// Frames with this first line (e.g. "myevents", "exit").
    pub fn frames_with_line(&self, line: &str) -> Vec<&ServerFrame> {
        self.frames.iter().filter(|f| f.line() == line).collect()
    }

    /// Event names the server asked to receive through `filter Event-Name X`.
    pub fn event_name_filters(&self) -> Vec<&str> {
        self.filters
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case("Event-Name"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Panics (with the timeline) when the fake noticed protocol mistakes.
    pub fn assert_no_protocol_errors(&self) {
        assert!(
            self.protocol_errors.is_empty(),
            "protocol errors: {:?}\n{self}",
            self.protocol_errors
        );
    }

    pub(crate) fn note(&mut self, at: Duration, dir: Dir, what: impl Into<String>) {
        self.timeline.push(TimelineEntry {
            at,
            dir,
            what: what.into(),
        });
    }
}

impl fmt::Display for Transcript {
    /// The timeline, one line per entry: handy in assertion messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fake call {} timeline:", self.uuid)?;
        for e in &self.timeline {
            let arrow = match e.dir {
                Dir::In => "server->fs",
                Dir::Out => "fs->server",
                Dir::Note => "  note    ",
            };
            writeln!(f, "{:>9.3}s {arrow} {}", e.at.as_secs_f64(), e.what)?;
        }
        Ok(())
    }
}
