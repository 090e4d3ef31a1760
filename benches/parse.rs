//! Event socket parsing throughput on the real-capture corpus (`corpus.rs`: the fs-sent
//! captures repeated to 64 MiB), next to a floor measured in the same run: a memchr scan that
//! only finds each frame's end and skips its body. Prints MB/s and the share of the floor.
//!
//! `cargo bench --bench parse` (`-- --rounds N` for more rounds; best of the rounds is kept).
//! Allocation counts are in `benches/parse_allocs.rs` (a counting allocator would slow this).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pivot::esl::{parse_frame, EslCodec, FrameCodec, Limits, Message};
use tokio_util::codec::Decoder;

#[path = "support/corpus.rs"]
mod corpus;

/// Frames by the stateless parser, restarting on what is left.
fn stateless(mut input: &[u8]) -> usize {
    let limits = Limits::default();
    let mut frames = 0;
    while let Ok(Some((frame, used))) = parse_frame(input, &limits) {
        black_box(&frame);
        input = &input[used..];
        frames += 1;
    }
    frames
}

/// Items from a codec given the whole corpus in one read.
fn decode_all<D: Decoder>(mut codec: D, mut buf: BytesMut, mut each: impl FnMut(D::Item)) -> usize {
    let mut n = 0;
    while let Ok(Some(item)) = codec.decode(&mut buf) {
        each(item);
        n += 1;
    }
    n
}

/// What pivot's call session reads from each message it gets (`call/session.rs`, `runner.rs`).
fn read_like_pivot(message: Message) {
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

type Run = Box<dyn Fn(&[u8], BytesMut) -> usize>;

fn runs() -> Vec<(&'static str, Run)> {
    vec![
        ("memchr floor", Box::new(|c, _| corpus::memchr_floor(c))),
        ("parse_frame", Box::new(|c, _| stateless(c))),
        (
            "FrameCodec",
            Box::new(|_, b| decode_all(FrameCodec::default(), b, |f| drop(black_box(f)))),
        ),
        (
            "EslCodec",
            Box::new(|_, b| decode_all(EslCodec::default(), b, |m| drop(black_box(m)))),
        ),
        (
            "EslCodec + pivot's reads",
            Box::new(|_, b| decode_all(EslCodec::default(), b, read_like_pivot)),
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(5usize);
    let corpus = corpus::corpus(corpus::TARGET);
    let buf = BytesMut::from(&corpus[..]);
    let mb = corpus.len() as f64 / 1e6;
    println!(
        "corpus: {} bytes ({mb:.1} MB), best of {rounds} rounds",
        corpus.len()
    );
    let runs = runs();
    let mut best = vec![Duration::MAX; runs.len()];
    let mut frames = vec![0; runs.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in runs.iter().enumerate() {
            // The codecs' input copy is made outside the timed part.
            let input = buf.clone();
            let start = Instant::now();
            frames[i] = run(black_box(&corpus), input);
            best[i] = best[i].min(start.elapsed());
        }
    }
    let floor = mb / best[0].as_secs_f64();
    for (i, (name, _)) in runs.iter().enumerate() {
        let rate = mb / best[i].as_secs_f64();
        println!(
            "{name:<26} {frames:>8} frames {ms:>8.1} ms {rate:>8.0} MB/s {pct:>6.1}% of floor",
            frames = frames[i],
            ms = best[i].as_secs_f64() * 1e3,
            pct = 100.0 * rate / floor,
        );
    }
}
