//! Event socket parsing throughput on the real-capture corpus (`corpus.rs`: the fs-sent
//! captures repeated to 64 MiB), next to a floor measured in the same run: a memchr scan that
//! only finds each frame's end and skips its body. Prints MB/s and the share of the floor.
//!
//! `cargo bench --bench parse` (`-- --rounds N` for more rounds; best of the rounds is kept;
//! `-- --only NAME` for the floor and the run named NAME (else those whose name contains it),
//! e.g. under `perf record`;
//! `-- --probe` for the event body decoder alone).
//! Allocation counts are in `benches/parse_allocs.rs` (a counting allocator would slow this).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use pivot::esl::{parse_frame, EslCodec, FrameCodec, Limits};

#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/decode.rs"]
mod decode;
use decode::{decode_all, read_like_pivot, stateless};

type Run = Box<dyn Fn(&[u8], &mut BytesMut) -> usize>;

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
    // `--only NAME` runs the floor and the run named NAME, or else those whose name contains
    // NAME (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    if args.iter().any(|a| a == "--probe") {
        event_bodies_probe();
        return;
    }
    let corpus = corpus::corpus(corpus::TARGET);
    let buf = BytesMut::from(&corpus[..]);
    let mb = corpus.len() as f64 / 1e6;
    println!(
        "corpus: {} bytes ({mb:.1} MB), best of {rounds} rounds",
        corpus.len()
    );
    let mut runs = runs();
    if let Some(only) = &only {
        // A name given whole picks that run alone (`EslCodec` is also in a longer name).
        let exact = runs.iter().any(|(name, _)| name == only);
        let mut i = 0;
        runs.retain(|(name, _)| {
            i += 1;
            i == 1
                || if exact {
                    name == only
                } else {
                    name.contains(only.as_str())
                }
        });
    }
    let mut best = vec![Duration::MAX; runs.len()];
    let mut frames = vec![0; runs.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in runs.iter().enumerate() {
            // The codecs' input copy is made outside the timed part.
            let mut input = buf.clone();
            let start = Instant::now();
            frames[i] = run(black_box(&corpus), &mut input);
            best[i] = best[i].min(start.elapsed());
            drop(input);
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

/// `-- --probe`: `Event::from_plain` alone on the captures' event bodies (in cache), in ns
/// per event: the decoder's largest single cost, without the framing around it.
fn event_bodies_probe() {
    use pivot::esl::Event;
    let once: Vec<u8> = corpus::captures()
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    let mut bodies = Vec::new();
    let mut rest = &once[..];
    while let Ok(Some((frame, used))) = parse_frame(rest, &Limits::default()) {
        if frame.content_type() == Some("text/event-plain") {
            bodies.push(frame.body().unwrap_or_default().to_vec());
        }
        rest = &rest[used..];
    }
    let limits = Limits::default();
    let mut best = Duration::MAX;
    for _ in 0..20 {
        let start = Instant::now();
        for _ in 0..100 {
            for b in &bodies {
                black_box(Event::from_plain(black_box(b), &limits).ok());
            }
        }
        best = best.min(start.elapsed());
    }
    println!(
        "Event::from_plain: {:.0} ns/event",
        best.as_secs_f64() * 1e9 / (100.0 * bodies.len() as f64)
    );
}
