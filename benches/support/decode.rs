//! The decoding loops shared by `parse` and `parse_allocs`: the stateless parser, a codec
//! over one buffer, and the reads pivot's call session makes of each message.

use std::hint::black_box;

use bytes::BytesMut;
use pivot::esl::{parse_frame, Limits, Message};
use tokio_util::codec::Decoder;

/// Frames by the stateless parser, restarting on what is left.
pub fn stateless(mut input: &[u8]) -> usize {
    let limits = Limits::default();
    let mut frames = 0;
    while let Ok(Some((frame, used))) = parse_frame(input, &limits) {
        black_box(frame);
        input = &input[used..];
        frames += 1;
    }
    frames
}

/// Items from a codec given the whole corpus in one read. The buffer is handed back, so its
/// release is not timed.
pub fn decode_all<D: Decoder>(
    mut codec: D,
    buf: &mut BytesMut,
    mut each: impl FnMut(D::Item),
) -> usize {
    let mut n = 0;
    while let Ok(Some(item)) = codec.decode(buf) {
        each(item);
        n += 1;
    }
    n
}

/// What pivot's call session reads from each message it gets (`call/session`, `runner.rs`).
pub fn read_like_pivot(message: Message) {
    match &message {
        Message::Event(e) => {
            black_box((e.name(), e.application_uuid(), e.application()));
            black_box((e.application_response(), e.hangup_cause(), e.dtmf_digit()));
        }
        Message::ConnectReply(d) => {
            black_box((d.unique_id(), d.destination_number(), d.answer_state()));
            black_box((d.caller_id_name(), d.variable("pivot_voice_url")));
        }
        Message::Reply(r) => {
            black_box(r.is_ok());
        }
        _ => {}
    }
    black_box(message);
}
