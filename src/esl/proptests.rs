//! Property tests for the wire layer: hostile bytes never panic and cost what the limits say,
//! the resumable scan agrees with the stateless parser whatever the read sizes, and every
//! command the encoder accepts is exactly one frame that reads back as itself.

use bytes::BytesMut;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

use super::{parse_frame, Command, EslError, Execute, Frame, FrameCodec, FrameError, Limits};
use super::{EslCodec, Message};

/// What a parse of a whole input ends with, after its frames.
#[derive(Debug, PartialEq)]
enum End {
    NeedMore(usize),
    Error(FrameError),
}

fn small_limits() -> Limits {
    Limits {
        max_header_block: 300,
        max_headers: 8,
        max_body: 400,
    }
}

/// Frames by the stateless parser, restarting on what is left.
fn stateless(input: &[u8], limits: &Limits) -> (Vec<Frame>, End) {
    let mut frames = Vec::new();
    let mut rest = input;
    loop {
        match parse_frame(rest, limits) {
            Ok(Some((frame, used))) => {
                assert!(used > 0 && used <= rest.len());
                frames.push(frame);
                rest = &rest[used..];
            }
            Ok(None) => return (frames, End::NeedMore(rest.len())),
            Err(e) => return (frames, End::Error(e)),
        }
    }
}

/// Frames by FrameCodec with the input split at `cuts` (taken modulo its length).
fn chunked(input: &[u8], cuts: &[usize], limits: &Limits) -> (Vec<Frame>, End) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut codec = FrameCodec::new(*limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    for point in points {
        buf.extend_from_slice(&input[fed..point]);
        fed = point;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(EslError::Frame(e)) => return (frames, End::Error(e)),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
    (frames, End::NeedMore(buf.len()))
}

/// Bytes built from pieces of the protocol, so the parser's deeper paths are reached.
fn esl_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b": ".to_vec()),
        Just(b"Content-Length: ".to_vec()),
        Just(b"Content-Type: text/event-plain\n".to_vec()),
        Just(b"Content-Type: text/event-json\n".to_vec()),
        Just(b"Content-Type: command/reply\nUnique-ID: x\n".to_vec()),
        Just(b"Content-Type: text/disconnect-notice\n".to_vec()),
        Just(b"sendmsg\ncall-command: execute\n".to_vec()),
        "execute-app-name: [a-z_]{1,8}\n".prop_map(String::into_bytes),
        "(Event-UUID|event-lock|loops|hangup-cause|call-command): [a-z0-9]{1,4}\n"
            .prop_map(String::into_bytes),
        Just(b"content-type: text/plain\n".to_vec()),
        Just(b"filter ".to_vec()),
        Just(b"api ".to_vec()),
        Just(b"linger ".to_vec()),
        Just(b"event plain ".to_vec()),
        Just(b"%".to_vec()),
        Just(b"_undef_".to_vec()),
        "[0-9]{1,3}".prop_map(String::into_bytes),
        "[A-Za-z%{}\":,\\[\\] -]{1,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// Interpreting any frame must not panic either; a command read from a frame re-encodes
/// (when the encoder accepts it) into one frame that reads back as itself.
fn interpret_all(frames: &[Frame], limits: &Limits) -> Result<(), TestCaseError> {
    for frame in frames {
        let _ = Message::from_frame_with(frame.clone(), limits);
        let Ok(command) = Command::from_frame(frame) else {
            continue;
        };
        let mut wire = BytesMut::new();
        if command.encode(&mut wire).is_ok() {
            assert_one_frame_round_trip(&command, &wire)?;
        }
    }
    Ok(())
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,40}"
}

fn line() -> impl Strategy<Value = String> {
    "[^\r\n\u{0}]{1,60}"
}

fn execute() -> impl Strategy<Value = Execute> {
    (
        token(),
        prop::option::of(any::<String>()),
        any::<bool>(),
        prop::option::of(token()),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(app, arg, event_lock, event_uuid, loops)| Execute {
            app,
            arg,
            event_lock,
            event_uuid,
            loops,
        })
}

/// Commands the encoder accepts.
fn valid_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Connect),
        Just(Command::MyEvents),
        prop::option::of(any::<u32>()).prop_map(Command::Linger),
        Just(Command::NoLinger),
        Just(Command::Exit),
        Just(Command::Resume),
        (token().prop_filter("delete", |h| h != "delete"), line())
            .prop_map(|(header, value)| Command::Filter { header, value }),
        prop::collection::vec("[A-Za-z0-9_.:-]{1,20}", 1..5).prop_map(Command::Events),
        line().prop_map(Command::Api),
        line().prop_map(Command::BgApi),
        execute().prop_map(Command::Execute),
        prop::option::of("[A-Za-z0-9_]{1,30}").prop_map(|cause| Command::Hangup { cause }),
    ]
}

/// Commands with any text in every field: the encoder must refuse or carry it safely.
fn any_command() -> impl Strategy<Value = Command> {
    let text = any::<String>;
    prop_oneof![
        (text(), text()).prop_map(|(header, value)| Command::Filter { header, value }),
        prop::collection::vec(text(), 0..4).prop_map(Command::Events),
        text().prop_map(Command::Api),
        text().prop_map(Command::BgApi),
        (text(), prop::option::of(text()), prop::option::of(text())).prop_map(
            |(app, arg, event_uuid)| Command::Execute(Execute {
                app,
                arg,
                event_lock: true,
                event_uuid,
                loops: None,
            })
        ),
        prop::option::of(text()).prop_map(|cause| Command::Hangup { cause }),
    ]
}

/// The encoding of `command` is exactly one frame, which reads back as `command`.
fn assert_one_frame_round_trip(command: &Command, wire: &[u8]) -> Result<(), TestCaseError> {
    let (frames, end) = stateless(wire, &Limits::default());
    prop_assert_eq!(end, End::NeedMore(0));
    prop_assert_eq!(frames.len(), 1);
    prop_assert_eq!(&Command::from_frame(&frames[0]).unwrap(), command);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        for limits in [Limits::default(), small_limits()] {
            let (frames, _) = stateless(&input, &limits);
            interpret_all(&frames, &limits)?;
        }
    }

    #[test]
    fn protocol_soup_never_panics_and_chunking_agrees(
        input in esl_soup(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        for limits in [Limits::default(), small_limits()] {
            let whole = stateless(&input, &limits);
            interpret_all(&whole.0, &limits)?;
            prop_assert_eq!(chunked(&input, &cuts, &limits), whole);
        }
    }

    #[test]
    fn encoded_commands_round_trip(command in valid_command()) {
        let mut wire = BytesMut::new();
        command.encode(&mut wire).unwrap();
        assert_one_frame_round_trip(&command, &wire)?;
    }

    #[test]
    fn no_string_injects(command in any_command()) {
        let mut wire = BytesMut::new();
        match command.encode(&mut wire) {
            Ok(()) => assert_one_frame_round_trip(&command, &wire)?,
            Err(_) => prop_assert!(wire.is_empty()),
        }
    }

    #[test]
    fn command_streams_survive_any_chunking(
        commands in prop::collection::vec(valid_command(), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
    ) {
        let mut wire = BytesMut::new();
        for command in &commands {
            command.encode(&mut wire).unwrap();
        }
        let (frames, end) = chunked(&wire, &cuts, &Limits::default());
        prop_assert_eq!(end, End::NeedMore(0));
        let read: Vec<Command> = frames.iter().map(|f| Command::from_frame(f).unwrap()).collect();
        prop_assert_eq!(read, commands);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_real_capture_survives_any_chunking(
        cuts in prop::collection::vec(any::<usize>(), 0..200),
    ) {
        let input = include_bytes!("../../fixtures/esl/full.fs-sent.raw");
        let whole = stateless(input, &Limits::default());
        prop_assert_eq!(whole.0.len(), 28);
        prop_assert_eq!(chunked(input, &cuts, &Limits::default()), whole);
        let mut codec = EslCodec::default();
        let mut buf = BytesMut::from(&input[..]);
        let mut count = 0;
        while codec.decode(&mut buf).unwrap().is_some() {
            count += 1;
        }
        prop_assert_eq!(count, 28);
    }
}
