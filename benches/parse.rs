//! Parsing throughput on the real captures: `parse_frame` alone (framing and header
//! decoding), and `EslCodec` (framing plus typed messages, event bodies decoded).
//! Run: `cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pivot::esl::{parse_frame, EslCodec, Limits};
use tokio_util::codec::Decoder;

const CAPTURES: [(&str, &[u8]); 5] = [
    ("full", include_bytes!("../fixtures/esl/full.fs-sent.raw")),
    (
        "eventuuid",
        include_bytes!("../fixtures/esl/eventuuid.fs-sent.raw"),
    ),
    ("queue", include_bytes!("../fixtures/esl/queue.fs-sent.raw")),
    (
        "full.inbound-esl",
        include_bytes!("../fixtures/esl/full.inbound-esl.fs-sent.raw"),
    ),
    (
        "kill.inbound-esl",
        include_bytes!("../fixtures/esl/kill.inbound-esl.fs-sent.raw"),
    ),
];

/// Frames in a capture (framing only).
fn count_frames(mut input: &[u8], limits: &Limits) -> usize {
    let mut frames = 0;
    while let Ok(Some((frame, used))) = parse_frame(input, limits) {
        black_box(&frame);
        input = &input[used..];
        frames += 1;
    }
    frames
}

/// Messages decoded from a capture handed over in one read.
fn decode_messages(input: &[u8]) -> usize {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(input);
    let mut messages = 0;
    while let Ok(Some(message)) = codec.decode(&mut buf) {
        black_box(&message);
        messages += 1;
    }
    messages
}

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_frame");
    for (name, bytes) in CAPTURES {
        let frames = count_frames(bytes, &limits);
        println!("{name}: {} bytes, {frames} frames", bytes.len());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| count_frames(black_box(bytes), &limits)));
    }
    group.finish();

    let mut group = c.benchmark_group("esl_codec");
    for (name, bytes) in CAPTURES {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| b.iter(|| decode_messages(black_box(bytes))));
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
