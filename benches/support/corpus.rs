//! The benchmark corpus shared by `parse` and `parse_allocs`: every `fixtures/esl/*.fs-sent.raw`
//! capture (what FreeSWITCH really sent), concatenated in name order and repeated to 64 MiB
//! (~67 MB). Each capture ends on a frame boundary, so the repeats are valid streams too.

use std::path::Path;

/// The corpus size the numbers are about.
pub const TARGET: usize = 64 << 20;

/// The captures, once each, in name order.
pub fn captures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/esl");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/esl")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".fs-sent.raw"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let bytes = std::fs::read(&p).expect("read a capture");
            (name.unwrap_or_default(), bytes)
        })
        .collect()
}

/// All captures repeated until the corpus is at least `size` bytes.
pub fn corpus(size: usize) -> Vec<u8> {
    let once: Vec<u8> = captures().into_iter().flat_map(|(_, b)| b).collect();
    let mut out = Vec::with_capacity(size + once.len());
    while out.len() < size {
        out.extend_from_slice(&once);
    }
    out
}

/// The floor: find each `\n\n`, read `Content-Length` from the block, skip the body. No
/// decoding, no allocation: what any parser of this format must at least do. Returns frames.
pub fn memchr_floor(mut input: &[u8]) -> usize {
    let blank = memchr::memmem::Finder::new(b"\n\n");
    let length = memchr::memmem::Finder::new(b"Content-Length: ");
    let mut frames = 0;
    while let Some(end) = blank.find(input) {
        let block = &input[..end + 1];
        let body = match length.find(block) {
            Some(at) => block[at + 16..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')),
            None => 0,
        };
        let used = end + 2 + body;
        if used > input.len() {
            break;
        }
        input = &input[used..];
        frames += 1;
    }
    frames
}
