//! Heap allocations per frame when decoding the real captures, counted by a wrapping global
//! allocator (`stats_alloc`; only in this bench, never in pivot). Each capture set is decoded
//! once to warm up, then counted over ten passes of every fs-sent capture.
//!
//! `cargo bench --bench parse_allocs`

use std::alloc::System;
use std::hint::black_box;

use bytes::BytesMut;
use pivot::esl::{parse_frame, EslCodec, FrameCodec, Limits, Message};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tokio_util::codec::Decoder;

#[path = "support/corpus.rs"]
#[allow(dead_code)]
mod corpus;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn stateless(mut input: &[u8]) -> usize {
    let limits = Limits::default();
    let mut frames = 0;
    while let Ok(Some((frame, used))) = parse_frame(input, &limits) {
        black_box(frame);
        input = &input[used..];
        frames += 1;
    }
    frames
}

fn decode_all<D: Decoder>(
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

/// The reads pivot's call session makes (see benches/parse.rs).
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
        _ => {}
    }
    black_box(message);
}

/// Allocations (and bytes) per frame of `run` over `input`, the input copy not counted.
fn count(name: &str, input: &[u8], run: &dyn Fn(&[u8], &mut BytesMut) -> usize) {
    let mut warm = BytesMut::from(input);
    run(input, &mut warm);
    let mut buf = BytesMut::from(input);
    let region = Region::new(GLOBAL);
    let frames = run(input, &mut buf);
    let stats = region.change();
    let per = |n: usize| n as f64 / frames as f64;
    println!(
        "{name:<26} {frames:>6} frames {:>7.2} allocs/frame {:>6.2} reallocs/frame {:>8.0} bytes/frame",
        per(stats.allocations),
        per(stats.reallocations),
        per(stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize),
    );
}

fn main() {
    let once: Vec<u8> = corpus::captures()
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    let input = once.repeat(10);
    println!(
        "input: every fs-sent capture, 10 times: {} bytes",
        input.len()
    );
    count("parse_frame", &input, &|i, _| stateless(i));
    count("FrameCodec", &input, &|_, b| {
        decode_all(FrameCodec::default(), b, |f| drop(black_box(f)))
    });
    count("EslCodec", &input, &|_, b| {
        decode_all(EslCodec::default(), b, |m| drop(black_box(m)))
    });
    count("EslCodec + pivot's reads", &input, &|_, b| {
        decode_all(EslCodec::default(), b, read_like_pivot)
    });
}
