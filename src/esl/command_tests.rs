use super::*;
use crate::esl::frame::{parse_frame, Frame, Limits};

fn encode(cmd: &Command) -> Vec<u8> {
    let mut buf = BytesMut::new();
    cmd.encode(&mut buf).unwrap();
    buf.to_vec()
}

/// Every frame in `wire`, which must be consumed completely.
fn frames(wire: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut rest = wire;
    while let Some((frame, used)) = parse_frame(rest, &Limits::default()).unwrap() {
        out.push(frame);
        rest = &rest[used..];
    }
    assert!(
        rest.is_empty(),
        "trailing bytes: {:?}",
        String::from_utf8_lossy(rest)
    );
    out
}

#[test]
fn simple_commands_match_the_captures() {
    let cases: [(Command, &str); 7] = [
        (Command::Connect, "connect\n\n"),
        (Command::MyEvents, "myevents\n\n"),
        (Command::Linger(None), "linger\n\n"),
        (Command::Linger(Some(2)), "linger 2\n\n"),
        (Command::NoLinger, "nolinger\n\n"),
        (Command::Exit, "exit\n\n"),
        (Command::Resume, "resume\n\n"),
    ];
    for (cmd, wire) in cases {
        assert_eq!(String::from_utf8(encode(&cmd)).unwrap(), wire);
    }
}

#[test]
fn commands_with_arguments() {
    let filter = Command::Filter {
        header: "Event-Name".into(),
        value: "CHANNEL_EXECUTE_COMPLETE".into(),
    };
    assert_eq!(
        encode(&filter),
        b"filter Event-Name CHANNEL_EXECUTE_COMPLETE\n\n"
    );
    let events = Command::Events(vec!["BACKGROUND_JOB".into(), "CUSTOM".into()]);
    assert_eq!(encode(&events), b"event plain BACKGROUND_JOB CUSTOM\n\n");
    assert_eq!(
        encode(&Command::Api("uuid_break abc".into())),
        b"api uuid_break abc\n\n"
    );
    assert_eq!(
        encode(&Command::BgApi("status".into())),
        b"bgapi status\n\n"
    );
    let hangup = Command::Hangup {
        cause: Some("USER_BUSY".into()),
    };
    assert_eq!(
        encode(&hangup),
        b"sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n"
    );
    assert_eq!(
        encode(&Command::Hangup { cause: None }),
        b"sendmsg\ncall-command: hangup\n\n"
    );
}

#[test]
fn execute_argument_travels_as_a_body() {
    let exec = Execute {
        loops: Some(2),
        ..Execute::new("playback")
            .arg("tone_stream://%(100,0,660)")
            .event_uuid("u-1")
    };
    let wire = encode(&Command::Execute(exec));
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "sendmsg\ncall-command: execute\nexecute-app-name: playback\nloops: 2\n\
event-lock: true\nEvent-UUID: u-1\ncontent-type: text/plain\ncontent-length: 26\n\n\
tone_stream://%(100,0,660)"
    );
    let bare = Execute {
        event_lock: false,
        ..Execute::new("answer")
    };
    assert_eq!(
        encode(&Command::Execute(bare)),
        b"sendmsg\ncall-command: execute\nexecute-app-name: answer\n\n"
    );
}

#[test]
fn hostile_argument_yields_exactly_one_command() {
    let hostile = "x\n\nsendmsg\ncall-command: hangup\n\n";
    let cmd = Command::Execute(Execute::new("speak").arg(hostile).event_uuid("id-1"));
    let wire = encode(&cmd);
    let parsed = frames(&wire);
    assert_eq!(parsed.len(), 1, "one command on the wire");
    assert_eq!(Command::from_frame(&parsed[0]).unwrap(), cmd);
    // And with a carriage return, and a `content-length` lie inside the argument.
    let hostile = "a\r\ncontent-length: 0\r\n\r\nexit\n\nexit\n\n";
    let cmd = Command::Execute(Execute::new("speak").arg(hostile));
    assert_eq!(frames(&encode(&cmd)).len(), 1);
}

#[test]
fn hostile_strings_are_refused_everywhere_else() {
    let bad_api = Command::Api("status\n\nsendmsg\ncall-command: hangup".into());
    let mut buf = BytesMut::new();
    assert_eq!(
        bad_api.encode(&mut buf),
        Err(CommandError::LineBreak {
            field: "api command"
        })
    );
    assert!(buf.is_empty(), "nothing written on error");
    let refused = [
        Command::BgApi("x\ry".into()),
        Command::Api(String::new()),
        Command::Api("a\0b".into()),
        Command::Filter {
            header: "Event-Name".into(),
            value: "A\nB".into(),
        },
        Command::Filter {
            header: "Event Name".into(),
            value: "x".into(),
        },
        Command::Filter {
            header: "delete".into(),
            value: "x".into(),
        },
        Command::Events(vec![]),
        Command::Events(vec!["A B".into()]),
        Command::Events(vec!["A\n".into()]),
        Command::Hangup {
            cause: Some("USER_BUSY\ncall-command: execute".into()),
        },
        Command::Hangup {
            cause: Some("busy now".into()),
        },
        Command::Execute(Execute::new("play back")),
        Command::Execute(Execute::new("")),
        Command::Execute(Execute::new("playback\nexecute-app-arg: x")),
        Command::Execute(Execute::new("playback").event_uuid("a\nb")),
        Command::Execute(Execute::new("playback").event_uuid("x".repeat(300))),
    ];
    for cmd in refused {
        let mut buf = BytesMut::new();
        assert!(cmd.encode(&mut buf).is_err(), "{cmd:?} was accepted");
        assert!(buf.is_empty());
    }
}

#[test]
fn errors_name_the_field() {
    let err = Command::Execute(Execute::new("play back"))
        .validate()
        .unwrap_err();
    assert!(err.to_string().contains("application name"), "{err}");
}

#[test]
fn every_command_reads_back() {
    let commands = [
        Command::Connect,
        Command::MyEvents,
        Command::Linger(None),
        Command::Linger(Some(30)),
        Command::NoLinger,
        Command::Exit,
        Command::Resume,
        Command::Filter {
            header: "Event-Name".into(),
            value: "a b: c".into(),
        },
        Command::Events(vec![
            "CHANNEL_HANGUP".into(),
            "CUSTOM".into(),
            "a::b".into(),
        ]),
        Command::Api("x: y".into()),
        Command::BgApi("originate loopback/1 &park".into()),
        Command::Execute(Execute::new("answer")),
        Command::Execute(Execute::new("set").arg("")),
        Command::Execute(Execute {
            loops: Some(3),
            ..Execute::new("playback").arg("é\n\r")
        }),
        Command::Hangup { cause: None },
        Command::Hangup {
            cause: Some("NORMAL_CLEARING".into()),
        },
    ];
    let mut wire = BytesMut::new();
    for cmd in &commands {
        cmd.encode(&mut wire).unwrap();
    }
    let parsed: Vec<Command> = frames(&wire)
        .iter()
        .map(|f| Command::from_frame(f).unwrap())
        .collect();
    assert_eq!(parsed, commands);
}

#[test]
fn header_form_argument_reads_back() {
    let wire = b"sendmsg\ncall-command: execute\nexecute-app-name: set\n\
execute-app-arg: lab_probe=100%41 a:b\nevent-lock: true\nEvent-UUID: 41\n\n";
    let frame = frames(wire).remove(0);
    let expected = Execute::new("set")
        .arg("lab_probe=100%41 a:b")
        .event_uuid("41");
    assert_eq!(
        Command::from_frame(&frame).unwrap(),
        Command::Execute(expected)
    );
}

#[test]
fn non_commands_are_refused_by_the_reader() {
    let reply = frames(b"Content-Type: command/reply\n\n").remove(0);
    assert_eq!(Command::from_frame(&reply), Err(CommandError::NotACommand));
    let odd = frames(b"launch missiles\n\n").remove(0);
    assert!(matches!(
        Command::from_frame(&odd),
        Err(CommandError::Unknown(_))
    ));
    let bad = frames(b"sendmsg\ncall-command: nope\n\n").remove(0);
    assert!(matches!(
        Command::from_frame(&bad),
        Err(CommandError::Malformed { .. })
    ));
}
