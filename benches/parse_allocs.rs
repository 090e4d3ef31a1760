//! Heap allocations per frame when decoding the real captures, counted by a wrapping global
//! allocator (`stats_alloc`; only in this bench, never in pivot). Each capture set is decoded
//! once to warm up, then counted over ten passes of every fs-sent capture.
//!
//! `cargo bench --bench parse_allocs`

use std::alloc::System;
use std::hint::black_box;

use bytes::BytesMut;
use pivot::esl::{EslCodec, FrameCodec};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[path = "support/corpus.rs"]
#[allow(dead_code)]
mod corpus;
#[path = "support/decode.rs"]
mod decode;
use decode::{decode_all, read_like_pivot, stateless};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

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
