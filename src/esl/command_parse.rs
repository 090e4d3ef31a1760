//! Reading a controller's command frame back into a [`Command`]: what a fake FreeSWITCH and
//! the round-trip tests need. Accepts both argument forms FreeSWITCH accepts (header and
//! `text/plain` body); does not validate like the encoder does. Header values are read
//! literally (`_undef_` included), as FreeSWITCH reads a command.

use super::command::{Command, CommandError, Execute};
use super::frame::Frame;
use super::headers::Headers;

impl Command {
    /// The command a command frame carries (see [`Frame::command_line`]).
    pub fn from_frame(frame: &Frame) -> Result<Command, CommandError> {
        let line = frame.command_line().ok_or(CommandError::NotACommand)?;
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let unknown = || CommandError::Unknown(line.chars().take(60).collect());
        let command = match (verb, rest) {
            ("connect", "") => Command::Connect,
            ("myevents", "" | "plain") => Command::MyEvents,
            ("linger", "") => Command::Linger(None),
            ("linger", secs) => Command::Linger(Some(
                secs.trim()
                    .parse()
                    .map_err(|_| malformed("linger", "seconds"))?,
            )),
            ("nolinger", "") => Command::NoLinger,
            ("exit", "") => Command::Exit,
            ("resume", "") => Command::Resume,
            ("filter", rest) => {
                let (header, value) = rest
                    .split_once(' ')
                    .ok_or_else(|| malformed("filter", "value"))?;
                Command::Filter {
                    header: header.to_owned(),
                    value: value.to_owned(),
                }
            }
            ("event", rest) => {
                let names = rest
                    .strip_prefix("plain")
                    .ok_or_else(|| malformed("event", "format"))?;
                let names = names.split(' ').filter(|n| !n.is_empty());
                Command::Events(names.map(str::to_owned).collect())
            }
            ("nixevent", rest) => {
                let names = rest.split(' ').filter(|n| !n.is_empty());
                Command::NixEvents(names.map(str::to_owned).collect())
            }
            ("api", cmd) if !cmd.is_empty() => Command::Api(cmd.to_owned()),
            ("bgapi", cmd) if !cmd.is_empty() => Command::BgApi(cmd.to_owned()),
            ("sendmsg", "") => sendmsg(frame)?,
            _ => return Err(unknown()),
        };
        Ok(command)
    }
}

fn sendmsg(frame: &Frame) -> Result<Command, CommandError> {
    let headers = frame.headers();
    let call_command = headers.get_raw("call-command").unwrap_or("");
    if call_command.eq_ignore_ascii_case("hangup") {
        let cause = headers.get_raw("hangup-cause").map(str::to_owned);
        return Ok(Command::Hangup { cause });
    }
    if !call_command.eq_ignore_ascii_case("execute") {
        return Err(malformed("sendmsg", "call-command"));
    }
    let app = headers
        .get_raw("execute-app-name")
        .ok_or_else(|| malformed("sendmsg", "execute-app-name"))?;
    let loops = match headers.get_raw("loops") {
        Some(n) => Some(
            n.trim()
                .parse()
                .map_err(|_| malformed("sendmsg", "loops"))?,
        ),
        None => None,
    };
    Ok(Command::Execute(Execute {
        app: app.to_owned(),
        arg: execute_arg(headers, frame.body()),
        event_lock: headers
            .get_raw("event-lock")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        event_uuid: headers.get_raw("Event-UUID").map(str::to_owned),
        loops,
    }))
}

/// The body when it is declared `text/plain` (FreeSWITCH ignores it otherwise), else the
/// `execute-app-arg` header.
fn execute_arg(headers: &Headers, body: Option<&[u8]>) -> Option<String> {
    let plain = headers
        .get_raw("content-type")
        .is_some_and(|t| t.eq_ignore_ascii_case("text/plain"));
    match body {
        Some(body) if plain => Some(String::from_utf8_lossy(body).into_owned()),
        _ => headers.get_raw("execute-app-arg").map(str::to_owned),
    }
}

fn malformed(command: &'static str, field: &'static str) -> CommandError {
    CommandError::Malformed { command, field }
}
