//! "The fakes stay honest": the commands pivot sent on one call, read back from the raw
//! bytes and written one per line without what differs between runs (the call's uuid, other
//! uuids, the web app's address), so a real-switch run and a fake-switch run of the same
//! scenario can be compared. The real run's sequence is kept in
//! `fixtures/conformance/<scenario>.commands`; tests/it compares the fake run with it.
//! Shared by tests/freeswitch and tests/it (included with `#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;

use bytes::BytesMut;
use pivot::esl::{Command, FrameCodec};
use tokio_util::codec::Decoder;

/// Every command in `server_sent` (the bytes pivot wrote on one connection), in order.
pub fn commands(server_sent: &[u8]) -> Vec<Command> {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(server_sent);
    let mut out = Vec::new();
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if let Ok(cmd) = Command::from_frame(&frame) {
            out.push(cmd);
        }
    }
    out
}

/// One line per command, with `<call>`, `<uuid>` and `<web>` in place of what changes.
pub fn normalize(cmds: &[Command], call: &str, web_base: &str) -> Vec<String> {
    let uuid = regex::Regex::new(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    )
    .unwrap();
    cmds.iter()
        .map(|cmd| {
            let line = line(cmd).replace(web_base, "<web>").replace(call, "<call>");
            let line = uuid.replace_all(&line, "<uuid>");
            line.replace('\n', "\\n")
        })
        .collect()
}

fn line(cmd: &Command) -> String {
    match cmd {
        Command::Connect => "connect".into(),
        Command::MyEvents => "myevents".into(),
        Command::Linger(None) => "linger".into(),
        Command::Linger(Some(s)) => format!("linger {s}"),
        Command::NoLinger => "nolinger".into(),
        Command::Exit => "exit".into(),
        Command::Resume => "resume".into(),
        Command::Filter { header, value } => format!("filter {header} {value}"),
        Command::Events(names) => format!("event plain {}", names.join(" ")),
        Command::NixEvents(names) => format!("nixevent {}", names.join(" ")),
        Command::Api(c) => format!("api {c}"),
        Command::BgApi(c) => format!("bgapi {c}"),
        Command::Execute(x) => match &x.arg {
            Some(arg) => format!("execute {} {arg}", x.app),
            None => format!("execute {}", x.app),
        },
        Command::Hangup { cause: Some(c) } => format!("hangup {c}"),
        Command::Hangup { cause: None } => "hangup".into(),
    }
}

pub fn fixture_path(scenario: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/conformance")
        .join(format!("{scenario}.commands"))
}

/// The recorded sequence (comment lines starting with `#` left out), if there is one.
pub fn read_fixture(scenario: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(fixture_path(scenario)).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
    )
}

pub fn write_fixture(scenario: &str, about: &str, lines: &[String]) {
    let mut text = String::new();
    for l in about.lines() {
        text.push_str(&format!("# {l}\n"));
    }
    text.push_str(
        "# Written by tests/freeswitch from a run on a real FreeSWITCH 1.10.12 \
         (PIVOT_TEST_UPDATE_SEQUENCES=1).\n",
    );
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let path = fixture_path(scenario);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// None when equal; otherwise both sequences side by side from the first difference.
pub fn difference(expected: &[String], got: &[String]) -> Option<String> {
    if expected == got {
        return None;
    }
    let first = expected.iter().zip(got).take_while(|(a, b)| a == b).count();
    let mut out = format!("sequences differ at line {}:\n", first + 1);
    for i in first..expected.len().max(got.len()) {
        let e = expected.get(i).map_or("(none)", String::as_str);
        let g = got.get(i).map_or("(none)", String::as_str);
        out.push_str(&format!("  expected: {e}\n       got: {g}\n"));
    }
    Some(out)
}
