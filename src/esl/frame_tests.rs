use super::*;

fn parse_all(input: &[u8], limits: &Limits) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut rest = input;
    while let Some((frame, used)) = parse_frame(rest, limits).unwrap() {
        frames.push(frame);
        rest = &rest[used..];
    }
    assert!(
        rest.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(rest)
    );
    frames
}

#[test]
fn reply_without_body() {
    let input = b"Content-Type: command/reply\nReply-Text: +OK\n\nrest";
    let (frame, used) = parse_frame(input, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, input.len() - 4);
    assert_eq!(frame.content_type(), Some("command/reply"));
    assert_eq!(frame.headers().get("reply-text"), Some("+OK"));
    assert_eq!(frame.body(), None);
    assert_eq!(frame.command_line(), None);
}

#[test]
fn body_is_exactly_content_length_bytes() {
    let input = b"Content-Type: api/response\nContent-Length: 10\n\n\n0 total.\nNext: x\n\n";
    let frames = parse_all(input, &Limits::default());
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].body(), Some(&b"\n0 total.\n"[..]));
    assert_eq!(frames[1].headers().get("next"), Some("x"));
}

#[test]
fn zero_length_body_is_present_and_empty() {
    let input = b"Content-Type: text/disconnect-notice\nContent-Length: 0\n\n";
    let (frame, _) = parse_frame(input, &Limits::default()).unwrap().unwrap();
    assert_eq!(frame.body(), Some(&b""[..]));
}

#[test]
fn need_more_at_every_prefix() {
    let input = b"Content-Length: 3\nContent-Type: x/y\n\nabc";
    for cut in 0..input.len() {
        assert_eq!(
            parse_frame(&input[..cut], &Limits::default()).unwrap(),
            None,
            "cut {cut}"
        );
    }
    assert!(parse_frame(input, &Limits::default()).unwrap().is_some());
}

#[test]
fn command_frames_keep_their_line_and_literal_values() {
    let input = b"sendmsg\ncall-command: execute\nexecute-app-arg: 100%41\n\napi x: y\n\n";
    let frames = parse_all(input, &Limits::default());
    assert_eq!(frames[0].command_line(), Some("sendmsg"));
    assert_eq!(frames[0].headers().get("execute-app-arg"), Some("100%41"));
    assert_eq!(frames[1].command_line(), Some("api x: y"));
    assert!(frames[1].headers().is_empty());
}

#[test]
fn carriage_returns_before_newlines_are_tolerated() {
    let input = b"Content-Type: command/reply\r\nReply-Text: +OK\r\n\r\nA: b\n\r\n";
    let frames = parse_all(input, &Limits::default());
    assert_eq!(frames[0].headers().get("reply-text"), Some("+OK"));
    assert_eq!(frames[1].headers().get("a"), Some("b"));
}

#[test]
fn leading_blank_lines_are_skipped_and_counted() {
    let input = b"\n\r\n\nA: b\n\n";
    let (frame, used) = parse_frame(input, &Limits::default()).unwrap().unwrap();
    assert_eq!(used, input.len());
    assert_eq!(frame.headers().get("a"), Some("b"));
    assert_eq!(parse_frame(b"\n\n\n", &Limits::default()).unwrap(), None);
}

#[test]
fn header_block_limit() {
    let limits = Limits {
        max_header_block: 32,
        ..Limits::default()
    };
    let long = format!("A: {}\n\n", "x".repeat(40));
    let err = parse_frame(long.as_bytes(), &limits).unwrap_err();
    assert!(err.to_string().contains("max_header_block"), "{err}");
    // Refused before the block ends: an endless header line can't grow the buffer forever.
    let err = parse_frame(&long.as_bytes()[..34], &limits).unwrap_err();
    assert_eq!(err, FrameError::HeaderBlockTooLarge { limit: 32 });
    let blank = vec![b'\n'; 40];
    assert!(parse_frame(&blank, &limits).is_err());
    assert!(parse_frame(b"A: 12345678901234567890123456\n\n", &limits)
        .unwrap()
        .is_some());
}

#[test]
fn header_count_limit() {
    let limits = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    assert!(parse_frame(b"A: 1\nB: 2\nC: 3\n\n", &limits)
        .unwrap()
        .is_some());
    let err = parse_frame(b"A: 1\nB: 2\nC: 3\nD: 4\n\n", &limits).unwrap_err();
    assert_eq!(err, FrameError::TooManyHeaders { limit: 3 });
    assert!(err.to_string().contains("max_headers"));
}

#[test]
fn content_length_limit_and_syntax() {
    let limits = Limits {
        max_body: 100,
        ..Limits::default()
    };
    let err = parse_frame(b"Content-Length: 101\n\n", &limits).unwrap_err();
    assert_eq!(
        err,
        FrameError::BodyTooLarge {
            length: 101,
            limit: 100
        }
    );
    assert!(err.to_string().contains("max_body"));
    let huge = parse_frame(b"Content-Length: 99999999999999999999999\n\n", &limits).unwrap_err();
    assert!(
        matches!(huge, FrameError::BadContentLength { .. }),
        "{huge}"
    );
    for bad in ["-1", "1e3", "", "0x10", "12 34"] {
        let input = format!("Content-Length: {bad}\n\n");
        let err = parse_frame(input.as_bytes(), &limits).unwrap_err();
        assert!(
            matches!(err, FrameError::BadContentLength { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn default_limits_are_generous() {
    let limits = Limits::default();
    assert_eq!(limits.max_header_block, 1 << 20);
    assert_eq!(limits.max_headers, 16_384);
    assert_eq!(limits.max_body, 16 << 20);
    assert!(content_length("16777216", &limits).is_ok());
    assert!(content_length("16777217", &limits).is_err());
}

#[test]
fn malformed_header_line_is_an_error() {
    let err = parse_frame(b"A: 1\ngarbage\n\n", &Limits::default()).unwrap_err();
    assert!(
        matches!(err, FrameError::MalformedLine { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn scanner_resumes_without_rescanning() {
    // A body far bigger than the header block, fed one byte at a time, parses once.
    let mut input = b"Content-Type: log/data\nContent-Length: 100000\n\n".to_vec();
    input.extend(std::iter::repeat_n(b'z', 100_000));
    let mut scanner = FrameScanner::default();
    let limits = Limits::default();
    for end in 1..input.len() {
        assert!(scanner.scan(&input[..end], &limits).unwrap().is_none());
    }
    assert_eq!(scanner.bytes_needed(), Some(input.len()));
    let (frame, used) = scanner.scan(&input, &limits).unwrap().unwrap();
    assert_eq!(used, input.len());
    assert_eq!(frame.body().map(<[u8]>::len), Some(100_000));
    assert_eq!(scanner.bytes_needed(), None);
}

/// Every frame of `input` fed to one scanner a byte at a time: after the first byte of each
/// frame, the resumable scan alone reads it.
fn byte_by_byte(input: &[u8], limits: &Limits) -> Result<Vec<Frame>, FrameError> {
    let mut scanner = FrameScanner::default();
    let (mut frames, mut from) = (Vec::new(), 0);
    for end in 1..=input.len() {
        if let Some((frame, used)) = scanner.scan(&input[from..end], limits)? {
            frames.push(frame);
            from += used;
        }
    }
    assert_eq!(
        scanner.whole, 0,
        "the one-pass read took a frame fed byte by byte"
    );
    Ok(frames)
}

/// The same frames read whole, each header block in one pass where it can be.
fn all_at_once(input: &[u8], limits: &Limits) -> Result<Vec<Frame>, FrameError> {
    let mut scanner = FrameScanner::default();
    let (mut frames, mut rest) = (Vec::new(), input);
    while let Some((frame, used)) = scanner.scan(rest, limits)? {
        frames.push(frame);
        rest = &rest[used..];
    }
    Ok(frames)
}

#[test]
fn the_one_pass_read_and_the_resumable_scan_agree() {
    let limits = Limits {
        max_header_block: 64,
        max_headers: 3,
        max_body: 10,
    };
    let cases: &[&[u8]] = &[
        b"Content-Length: 3\nContent-Type: x/y\n\nabcReply-Text: +OK\n\n",
        b"\r\n\nA: 1\r\nB:\r\n\r\nC: %41\n\n",
        b"A: 1\n\rB: 2\n\n",
        b"sendmsg\nA: 1\n\napi status\n\n",
        b"api x: y\nA: 1\n\n",
        b"A: 1\ngarbage\n\n",
        b"A: 1\n: 2\n\n",
        b"A: 1\nB: 2\nC: 3\nD: 4\n\n",
        b"A: 1\nContent-Length: 11\n\n",
        b"Content-Length: 1x\n\n",
        b"Content-Length: _undef_\nContent-Length: 2\n\nB: 1\n\n",
        b"A: 0123456789012345678901234567890123456789\nB: 01234567890123456789\n\n",
        b"A: 0123456789012345678901234567890123456789\nB: 0123456789\n\n",
        b"A: 1\n\r\r\nB: 2\n\n",
    ];
    for input in cases {
        let text = String::from_utf8_lossy(input);
        assert_eq!(
            all_at_once(input, &limits),
            byte_by_byte(input, &limits),
            "{text:?}"
        );
    }
}

#[test]
fn a_whole_header_block_is_read_in_one_pass_even_after_an_empty_read() {
    // A codec is asked for the next frame as soon as one is out, most often with nothing left
    // in its buffer: that must not send the next frame, arriving whole, to the slower scan.
    let mut scanner = FrameScanner::default();
    let limits = Limits::default();
    let frame = b"Content-Length: 4\nContent-Type: text/event-plain\n\nA: 1";
    assert!(scanner.scan(b"", &limits).unwrap().is_none());
    assert!(scanner.scan(b"\n", &limits).unwrap().is_none());
    let mut input = b"\n".to_vec();
    input.extend_from_slice(&frame[..frame.len() - 2]);
    assert!(scanner.scan(&input, &limits).unwrap().is_none());
    assert_eq!(scanner.bytes_needed(), Some(input.len() + 2));
    input.extend_from_slice(b" 1");
    let (parsed, used) = scanner.scan(&input, &limits).unwrap().unwrap();
    assert_eq!((used, parsed.body()), (input.len(), Some(&b"A: 1"[..])));
    assert_eq!(scanner.whole, 1);
    // A command frame is left to the scan.
    assert!(scanner
        .scan(b"sendmsg\nA: 1\n\n", &limits)
        .unwrap()
        .is_some());
    assert_eq!(scanner.whole, 1);
}
