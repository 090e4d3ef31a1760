//! Fuzzes the one command encoder: a command built from the input (any text in every
//! field) is either refused with nothing written, or written as exactly one frame that
//! `parse_frame` (whole) and `FrameCodec` (byte by byte) read back as the same command.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use pivot::esl::{parse_frame, Command, Execute, FrameCodec, Limits};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Ok(command) = command(&mut Unstructured::new(data)) else {
        return;
    };
    let mut wire = BytesMut::new();
    if command.encode(&mut wire).is_err() {
        assert!(wire.is_empty(), "a refused command wrote bytes");
        return;
    }
    let (frame, used) = parse_frame(&wire, &Limits::default())
        .expect("an encoded command parses")
        .expect("an encoded command is complete");
    assert_eq!(used, wire.len(), "one command is one frame");
    assert_eq!(Command::from_frame(&frame).as_ref(), Ok(&command));
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for &byte in wire.iter() {
        buf.extend_from_slice(&[byte]);
        while let Some(frame) = codec.decode(&mut buf).expect("byte by byte parses") {
            frames.push(frame);
        }
    }
    assert_eq!(frames, [frame], "byte by byte reads the same frame");
});

fn command(u: &mut Unstructured<'_>) -> Result<Command> {
    Ok(match u.int_in_range(0..=11u8)? {
        0 => Command::Connect,
        1 => Command::MyEvents,
        2 => Command::Linger(u.arbitrary()?),
        3 => Command::NoLinger,
        4 => Command::Exit,
        5 => Command::Resume,
        6 => Command::Filter {
            header: u.arbitrary()?,
            value: u.arbitrary()?,
        },
        7 => Command::Events(u.arbitrary()?),
        8 => Command::Api(u.arbitrary()?),
        9 => Command::BgApi(u.arbitrary()?),
        10 => Command::Execute(Execute {
            app: u.arbitrary()?,
            arg: u.arbitrary()?,
            event_lock: u.arbitrary()?,
            event_uuid: u.arbitrary()?,
            loops: u.arbitrary()?,
        }),
        _ => Command::Hangup {
            cause: u.arbitrary()?,
        },
    })
}
