//! Fuzzes the event socket parser: any bytes, under generous and tight limits.
//! Checks: no panic; `used` is within the input; the resumable codec, fed in chunks whose
//! size comes from the first input byte, yields the same frames and the same error as the
//! stateless parser; every frame can be interpreted; and a command read from a frame
//! encodes (if the encoder accepts it) into one frame that reads back as the same command.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pivot::esl::{parse_frame, Command, EslError, Frame, FrameCodec, FrameError, Limits, Message};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, input)) = data.split_first() else {
        return;
    };
    let tight = Limits {
        max_header_block: 512,
        max_headers: 16,
        max_body: 1024,
    };
    for limits in [Limits::default(), tight] {
        let whole = stateless(input, &limits);
        let chunked = resumable(input, usize::from(chunk) + 1, &limits);
        assert_eq!(whole, chunked, "chunked reads disagree");
        for frame in &whole.0 {
            let _ = Message::from_frame_with(frame.clone(), &limits);
            round_trip(frame);
        }
    }
});

type Outcome = (Vec<Frame>, Option<FrameError>);

fn stateless(mut input: &[u8], limits: &Limits) -> Outcome {
    let mut frames = Vec::new();
    loop {
        match parse_frame(input, limits) {
            Ok(Some((frame, used))) => {
                assert!(used > 0 && used <= input.len());
                frames.push(frame);
                input = &input[used..];
            }
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

fn resumable(input: &[u8], chunk: usize, limits: &Limits) -> Outcome {
    let mut codec = FrameCodec::new(*limits);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(EslError::Frame(e)) => return (frames, Some(e)),
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    }
    (frames, None)
}

fn round_trip(frame: &Frame) {
    let Ok(command) = Command::from_frame(frame) else {
        return;
    };
    let mut wire = BytesMut::new();
    if command.encode(&mut wire).is_err() {
        assert!(wire.is_empty(), "a refused command wrote bytes");
        return;
    }
    let (frames, error) = stateless(&wire, &Limits::default());
    assert!(error.is_none(), "encoded command does not parse");
    assert_eq!(frames.len(), 1, "one command became several frames");
    assert_eq!(Command::from_frame(&frames[0]).ok(), Some(command));
}
