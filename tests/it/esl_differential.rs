//! pivot's event socket decoders against the plain reference framer (`esl_reference.rs`):
//! the same frames, headers, bodies, bytes used and errors, on the real captures and on
//! protocol-shaped random input, whatever the read sizes. The `differential` fuzz target
//! runs the same comparison on fuzzed input.

use pivot::esl::Limits;
use proptest::prelude::*;

use crate::esl_reference;

fn agree(input: &[u8], chunk: usize, limits: &Limits) -> Result<(), TestCaseError> {
    esl_reference::agree(input, chunk, limits).map_err(TestCaseError::fail)
}

fn captures() -> Vec<Vec<u8>> {
    let dir = format!("{}/fixtures/esl", env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "raw"))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn small_limits() -> Limits {
    Limits {
        max_header_block: 300,
        max_headers: 8,
        max_body: 400,
    }
}

#[test]
fn captures_agree_with_the_reference() {
    for bytes in captures() {
        for chunk in [1, 7, 1500, bytes.len()] {
            agree(&bytes, chunk, &Limits::default()).unwrap();
        }
        agree(&bytes, 64, &small_limits()).unwrap();
    }
}

#[test]
fn tricky_inputs_agree_with_the_reference() {
    let cases: &[&[u8]] = &[
        b"\n\r\n\nA: b\n\n",
        b"Content-Length: %31%30\n\n0123456789",
        b"Content-Length: _undef_\n\nX: y\n\n",
        b"content-length:  7 \n\nabcdefgX: 1\n\n",
        b"api x: y\nA: 1\n\n",
        b": x\nA: 1\n\n",
        b"A:\nB: \nC: a: b\n\n",
        b"A: 1\r\nB: 2\r\n\r\n",
        b"A: \xff%FF\n\n",
        b"Content-Type: text/event-plain\nContent-Length: 22\n\n\nA: 1\n\r\nContent-Len",
        b"Content-Type: text/event-plain\nContent-Length: 30\n\nA: 1\nContent-Length: 2\n\nxyz\n",
        b"Content-Type: text/event-plain\nContent-Length: 9\n\nA: 1\nbad\n",
        b"Content-Type: command/reply\nReply-Text: %2BOK\n\n",
        b"A: 1\n\r",
        b"\r",
    ];
    for case in cases {
        for limits in [Limits::default(), small_limits()] {
            for chunk in [1, 3, case.len()] {
                agree(case, chunk, &limits).unwrap();
            }
        }
    }
}

/// Bytes built from pieces of the protocol, including event bodies with their own length.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b": ".to_vec()),
        Just(b":".to_vec()),
        Just(b"Content-Length: ".to_vec()),
        Just(b"Content-Type: text/event-plain\n".to_vec()),
        Just(b"Content-Type: command/reply\n".to_vec()),
        Just(b"Event-Name: CHANNEL_EXECUTE\nUnique-ID: u%2D1\n".to_vec()),
        Just(b"sendmsg\n".to_vec()),
        Just(b"%".to_vec()),
        Just(b"%41".to_vec()),
        Just(b"_undef_".to_vec()),
        "[0-9]{1,2}".prop_map(String::into_bytes),
        "[A-Za-z -]{1,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..6),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn soup_agrees_with_the_reference(input in soup(), chunk in 1usize..40) {
        for limits in [Limits::default(), small_limits()] {
            agree(&input, chunk, &limits)?;
        }
    }

    #[test]
    fn nested_events_agree_with_the_reference(inner in soup(), chunk in 1usize..40) {
        let mut input = format!(
            "Content-Type: text/event-plain\nContent-Length: {}\n\n",
            inner.len()
        )
        .into_bytes();
        input.extend_from_slice(&inner);
        for limits in [Limits::default(), small_limits()] {
            agree(&input, chunk, &limits)?;
        }
    }
}
