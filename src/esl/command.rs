//! Outgoing commands as typed values, and the one encoder that writes them.
//! The encoder is where injection is stopped: an `execute` argument always travels as a
//! `text/plain` body, and every string that lands in a command line or a header is checked
//! (no `\r`, `\n` or NUL; names, ids and causes from a safe charset). Reading commands back
//! from frames (for fakes and tests) is in `command_parse`.

use bytes::{BufMut, BytesMut};

/// A command pivot sends on an outbound socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `connect`: must be first; FreeSWITCH answers with the channel data.
    Connect,
    /// `myevents`: this channel's events, plain format.
    MyEvents,
    /// `linger` (forever) or `linger <secs>`.
    Linger(Option<u32>),
    NoLinger,
    Exit,
    /// `resume`: the dialplan goes on when the socket closes.
    Resume,
    /// `filter <header> <value>`.
    Filter {
        header: String,
        value: String,
    },
    /// `event plain <names..>`.
    Events(Vec<String>),
    /// `nixevent <names..>`: stop receiving these event types (after `myevents`, the
    /// cheapest way to take only a few: the type check runs before any filter).
    NixEvents(Vec<String>),
    /// `api <cmd>`: answered by an `api/response`.
    Api(String),
    /// `bgapi <cmd>`: answered by a reply with a Job-UUID, then a BACKGROUND_JOB event.
    BgApi(String),
    /// `sendmsg` with `call-command: execute`.
    Execute(Execute),
    /// `sendmsg` with `call-command: hangup`.
    Hangup {
        cause: Option<String>,
    },
}

/// An application to run on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute {
    pub app: String,
    /// Any text: it is always sent as a body, never as a header.
    pub arg: Option<String>,
    /// `event-lock: true`: run after the current app instead of nested inside it.
    pub event_lock: bool,
    /// Echoed as `Application-UUID` on CHANNEL_EXECUTE and CHANNEL_EXECUTE_COMPLETE.
    pub event_uuid: Option<String>,
    pub loops: Option<u32>,
}

impl Execute {
    /// `app` with no argument, locked (`event-lock: true`, the safe default), no id.
    pub fn new(app: impl Into<String>) -> Self {
        Execute {
            app: app.into(),
            arg: None,
            event_lock: true,
            event_uuid: None,
            loops: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.arg = Some(arg.into());
        self
    }

    pub fn event_uuid(mut self, id: impl Into<String>) -> Self {
        self.event_uuid = Some(id.into());
        self
    }
}

/// Why a command can't be written (or, for `command_parse`, read back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("{field} contains a line break or NUL")]
    LineBreak { field: &'static str },
    #[error("{field} {value:?} has characters outside {allowed}")]
    Charset {
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("filter header `delete` would turn the filter into a filter deletion")]
    FilterDelete,
    #[error("not a command frame")]
    NotACommand,
    #[error("unknown command line {0:?}")]
    Unknown(String),
    #[error("{command}: missing or bad {field}")]
    Malformed {
        command: &'static str,
        field: &'static str,
    },
}

/// Longest app name, uuid, cause, header name or event name accepted.
const MAX_TOKEN: usize = 256;
const TOKEN: &str = "ASCII letters, digits, `_`, `-`, `.`";
const EVENT_NAME: &str = "ASCII letters, digits, `_`, `-`, `.`, `:`";

impl Command {
    /// Appends the command to `dst`. On error nothing is written.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), CommandError> {
        self.validate()?;
        match self {
            Command::Connect => dst.put_slice(b"connect\n\n"),
            Command::MyEvents => dst.put_slice(b"myevents\n\n"),
            Command::Linger(None) => dst.put_slice(b"linger\n\n"),
            Command::Linger(Some(secs)) => put_line(dst, &["linger ", &secs.to_string()]),
            Command::NoLinger => dst.put_slice(b"nolinger\n\n"),
            Command::Exit => dst.put_slice(b"exit\n\n"),
            Command::Resume => dst.put_slice(b"resume\n\n"),
            Command::Filter { header, value } => {
                put_line(dst, &["filter ", header, " ", value]);
            }
            Command::Events(names) => put_names(dst, b"event plain", names),
            Command::NixEvents(names) => put_names(dst, b"nixevent", names),
            Command::Api(cmd) => put_line(dst, &["api ", cmd]),
            Command::BgApi(cmd) => put_line(dst, &["bgapi ", cmd]),
            Command::Execute(exec) => encode_execute(exec, dst),
            Command::Hangup { cause } => {
                dst.put_slice(b"sendmsg\ncall-command: hangup\n");
                if let Some(cause) = cause {
                    put_header(dst, "hangup-cause", cause);
                }
                dst.put_u8(b'\n');
            }
        }
        Ok(())
    }

    /// Every check the encoder makes, without writing.
    pub fn validate(&self) -> Result<(), CommandError> {
        match self {
            Command::Connect
            | Command::MyEvents
            | Command::Linger(_)
            | Command::NoLinger
            | Command::Exit
            | Command::Resume => Ok(()),
            Command::Filter { header, value } => {
                token("filter header", header, b"_-.", TOKEN)?;
                if header.eq_ignore_ascii_case("delete") {
                    return Err(CommandError::FilterDelete);
                }
                single_line("filter value", value)
            }
            Command::Events(names) | Command::NixEvents(names) => {
                if names.is_empty() {
                    return Err(CommandError::Empty {
                        field: "event names",
                    });
                }
                names
                    .iter()
                    .try_for_each(|n| token("event name", n, b"_-.:", EVENT_NAME))
            }
            Command::Api(cmd) => single_line("api command", cmd),
            Command::BgApi(cmd) => single_line("bgapi command", cmd),
            Command::Execute(exec) => {
                token("application name", &exec.app, b"_-.", TOKEN)?;
                match &exec.event_uuid {
                    Some(id) => token("Event-UUID", id, b"_-.", TOKEN),
                    None => Ok(()),
                }
            }
            Command::Hangup { cause: Some(cause) } => token("hangup cause", cause, b"_", TOKEN),
            Command::Hangup { cause: None } => Ok(()),
        }
    }
}

fn put_names(dst: &mut BytesMut, verb: &[u8], names: &[String]) {
    dst.put_slice(verb);
    for name in names {
        dst.put_u8(b' ');
        dst.put_slice(name.as_bytes());
    }
    dst.put_slice(b"\n\n");
}

fn encode_execute(exec: &Execute, dst: &mut BytesMut) {
    dst.put_slice(b"sendmsg\ncall-command: execute\n");
    put_header(dst, "execute-app-name", &exec.app);
    if let Some(loops) = exec.loops {
        put_header(dst, "loops", &loops.to_string());
    }
    if exec.event_lock {
        put_header(dst, "event-lock", "true");
    }
    if let Some(id) = &exec.event_uuid {
        put_header(dst, "Event-UUID", id);
    }
    match &exec.arg {
        // Without content-type text/plain FreeSWITCH ignores the body (esl-notes, trap 4).
        Some(arg) => {
            put_header(dst, "content-type", "text/plain");
            put_header(dst, "content-length", &arg.len().to_string());
            dst.put_u8(b'\n');
            dst.put_slice(arg.as_bytes());
        }
        None => dst.put_u8(b'\n'),
    }
}

/// A command line made of `parts`, then the blank line.
fn put_line(dst: &mut BytesMut, parts: &[&str]) {
    for part in parts {
        dst.put_slice(part.as_bytes());
    }
    dst.put_slice(b"\n\n");
}

fn put_header(dst: &mut BytesMut, name: &str, value: &str) {
    dst.put_slice(name.as_bytes());
    dst.put_slice(b": ");
    dst.put_slice(value.as_bytes());
    dst.put_u8(b'\n');
}

/// Text that may go on a command line: non-empty, no `\r`, `\n` or NUL.
fn single_line(field: &'static str, value: &str) -> Result<(), CommandError> {
    if value.is_empty() {
        return Err(CommandError::Empty { field });
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(CommandError::LineBreak { field });
    }
    Ok(())
}

/// A name or id: non-empty, at most `MAX_TOKEN` bytes, ASCII alphanumerics plus `extra`.
fn token(
    field: &'static str,
    value: &str,
    extra: &[u8],
    allowed: &'static str,
) -> Result<(), CommandError> {
    single_line(field, value)?;
    if value.len() > MAX_TOKEN {
        return Err(CommandError::TooLong {
            field,
            max: MAX_TOKEN,
        });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        let value = value.chars().take(60).collect();
        return Err(CommandError::Charset {
            field,
            value,
            allowed,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "command_tests.rs"]
mod tests;
