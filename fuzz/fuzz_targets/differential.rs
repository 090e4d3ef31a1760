//! Fuzzes pivot's event socket decoders against the plain reference framer of the tests
//! (tests/it/esl_reference.rs): `parse_frame`, `FrameCodec` and `EslCodec` (fed in reads
//! whose size comes from the first input byte) must give the reference's frames, bytes used,
//! headers, bodies, events and errors, under generous and tight limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pivot::esl::Limits;

#[path = "../../tests/it/esl_reference.rs"]
#[allow(dead_code)]
mod reference;

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
        if let Err(difference) = reference::agree(input, usize::from(chunk) + 1, &limits) {
            panic!("{difference}");
        }
    }
});
