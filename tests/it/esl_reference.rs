//! A reference event socket framer, and `agree`, which holds pivot's decoders to it: for the
//! differential tests (`esl_differential.rs`) and the `differential` fuzz target (which
//! includes this file). The reference writes the wire rules of docs/esl.md as plainly as
//! possible: it takes the whole input each time (no resumable scan), decodes every value up
//! front into `String`s and searches byte by byte. Slow on purpose; pivot never uses it. It
//! takes only the error types from pivot, so agreeing means the same errors too.

use bytes::BytesMut;
use pivot::esl::{
    parse_frame, EslCodec, EslError, Event, EventError, Frame, FrameCodec, FrameError, Limits,
    Message,
};
use tokio_util::codec::Decoder;

/// A frame as the reference reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefFrame {
    pub command: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Bytes of input the frame used, leading blank lines included.
    pub used: usize,
}

/// What the start of an input holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefOutcome {
    Frame(RefFrame),
    NeedMore,
    Error(FrameError),
}

/// Reads one frame from the start of `input`.
pub fn parse(input: &[u8], limits: &Limits) -> RefOutcome {
    let too_large = FrameError::HeaderBlockTooLarge {
        limit: limits.max_header_block,
    };
    let mut start = 0;
    loop {
        let rest = &input[start..];
        if rest.starts_with(b"\n") {
            start += 1;
        } else if rest.starts_with(b"\r\n") {
            start += 2;
        } else if rest.is_empty() || rest == b"\r" {
            return match start > limits.max_header_block {
                true => RefOutcome::Error(too_large),
                false => RefOutcome::NeedMore,
            };
        } else {
            break;
        }
    }
    let Some((lines_end, block_end)) = blank_line(input, start) else {
        // Bytes known to hold no blank line: all of them, less a last `\n` (or `\n\r`)
        // whose next line has not arrived.
        let len = input.len();
        let known = match input.iter().rposition(|&b| b == b'\n') {
            Some(nl) if nl + 1 == len || (nl + 2 == len && input[len - 1] == b'\r') => nl,
            _ => len,
        };
        return match known > limits.max_header_block {
            true => RefOutcome::Error(too_large),
            false => RefOutcome::NeedMore,
        };
    };
    if block_end > limits.max_header_block {
        return RefOutcome::Error(too_large);
    }
    let mut lines = split_lines(&input[start..lines_end]);
    let first = lines.remove(0);
    let command = match split(first) {
        Some((name, _)) if !name.contains(&b' ') => {
            lines.insert(0, first);
            None
        }
        _ => Some(String::from_utf8_lossy(first).into_owned()),
    };
    let decode = command.is_none();
    let headers = match headers(&lines, decode, limits.max_headers) {
        Ok(headers) => headers,
        Err(e) => return RefOutcome::Error(e),
    };
    let body_len = match first_value(&headers, "Content-Length") {
        None => None,
        Some(value) => match content_length(value, limits) {
            Ok(n) => Some(n),
            Err(e) => return RefOutcome::Error(e),
        },
    };
    let used = block_end + body_len.unwrap_or(0);
    if input.len() < used {
        return RefOutcome::NeedMore;
    }
    RefOutcome::Frame(RefFrame {
        command,
        headers,
        body: body_len.map(|_| input[block_end..used].to_vec()),
        used,
    })
}

/// Every frame of `input`, and how it ends (need more, or an error).
pub fn parse_all(mut input: &[u8], limits: &Limits) -> (Vec<RefFrame>, RefOutcome) {
    let mut frames = Vec::new();
    loop {
        match parse(input, limits) {
            RefOutcome::Frame(frame) => {
                input = &input[frame.used..];
                frames.push(frame);
            }
            end => return (frames, end),
        }
    }
}

/// A `text/event-plain` body: its headers (decoded) and its own body.
pub type RefEvent = (Vec<(String, String)>, Option<Vec<u8>>);

pub fn parse_event(body: &[u8], limits: &Limits) -> Result<RefEvent, EventError> {
    let (block, rest) = match blank_line(body, 0) {
        Some((lines_end, rest_start)) => (&body[..lines_end], &body[rest_start..]),
        None => (body, &b""[..]),
    };
    let lines: Vec<&[u8]> = split_lines(block)
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    let headers = headers(&lines, true, limits.max_headers)?;
    let own = match first_value(&headers, "Content-Length") {
        None => None,
        Some(value) => {
            let declared = content_length(value, limits)?;
            let available = rest.len();
            if declared > available {
                return Err(EventError::ShortBody {
                    declared,
                    available,
                });
            }
            Some(rest[..declared].to_vec())
        }
    };
    Ok((headers, own))
}

/// The first `\n` at or after `from` followed by `\n` or `\r\n`: (its index, past the blank line).
fn blank_line(input: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..input.len()).find_map(|i| {
        if input[i] != b'\n' {
            None
        } else if input.get(i + 1) == Some(&b'\n') {
            Some((i, i + 2))
        } else if input.get(i + 1..i + 3) == Some(b"\r\n") {
            Some((i, i + 3))
        } else {
            None
        }
    })
}

fn split_lines(block: &[u8]) -> Vec<&[u8]> {
    block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// `Name: value` at the first `": "`, or `Name:`; the name must not be empty.
fn split(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = line.windows(2).position(|w| w == b": ");
    let (name, value) = match at {
        Some(i) => (&line[..i], &line[i + 2..]),
        None => (line.strip_suffix(b":")?, &b""[..]),
    };
    (!name.is_empty()).then_some((name, value))
}

fn headers(lines: &[&[u8]], decode: bool, max: usize) -> Result<Vec<(String, String)>, FrameError> {
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if n >= max {
            return Err(FrameError::TooManyHeaders { limit: max });
        }
        let (name, value) = split(line).ok_or_else(|| FrameError::MalformedLine {
            line: n + 1,
            text: snippet(line),
        })?;
        let value = if decode {
            percent_decode(value)
        } else {
            value.to_vec()
        };
        out.push((lossy(name), lossy(&value)));
    }
    Ok(out)
}

/// The first header named `name` (ASCII case ignored); `_undef_` reads as none.
fn first_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let (_, value) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
    (value != "_undef_").then_some(value.as_str())
}

fn content_length(value: &str, limits: &Limits) -> Result<usize, FrameError> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let value = snippet(value.as_bytes());
        return Err(FrameError::BadContentLength { value });
    }
    let Ok(length) = digits.parse::<u64>() else {
        let value = snippet(value.as_bytes());
        return Err(FrameError::BadContentLength { value });
    };
    match usize::try_from(length) {
        Ok(n) if n <= limits.max_body => Ok(n),
        _ => Err(FrameError::BodyTooLarge {
            length,
            limit: limits.max_body,
        }),
    }
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let pair = input.get(i + 1).copied().zip(input.get(i + 2).copied());
        match (input[i], pair.map(|(h, l)| (hex(h), hex(l)))) {
            (b'%', Some((Some(h), Some(l)))) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn snippet(bytes: &[u8]) -> String {
    lossy(&bytes[..bytes.len().min(60)])
}

/// A pivot frame in the reference's terms.
fn as_ref(frame: &Frame, used: usize) -> RefFrame {
    RefFrame {
        command: frame.command_line().map(str::to_owned),
        headers: frame
            .headers()
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
        body: frame.body().map(<[u8]>::to_vec),
        used,
    }
}

/// Frames by the stateless parser, and how the input ends.
fn stateless(mut input: &[u8], limits: &Limits) -> (Vec<RefFrame>, RefOutcome) {
    let mut frames = Vec::new();
    loop {
        match parse_frame(input, limits) {
            Ok(Some((frame, used))) => {
                frames.push(as_ref(&frame, used));
                input = &input[used..];
            }
            Ok(None) => return (frames, RefOutcome::NeedMore),
            Err(e) => return (frames, RefOutcome::Error(e)),
        }
    }
}

/// Frames and messages by the two codecs fed in reads of `chunk` bytes.
fn codecs(input: &[u8], chunk: usize, limits: &Limits) -> (Vec<Frame>, Vec<Message>) {
    let (mut frames, mut messages) = (Vec::new(), Vec::new());
    let (mut fc, mut ec) = (FrameCodec::new(*limits), EslCodec::new(*limits));
    let (mut fbuf, mut ebuf) = (BytesMut::new(), BytesMut::new());
    let (mut f_done, mut e_done) = (false, false);
    for piece in input.chunks(chunk.max(1)) {
        fbuf.extend_from_slice(piece);
        ebuf.extend_from_slice(piece);
        while !f_done {
            match fc.decode(&mut fbuf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => f_done = true,
            }
        }
        while !e_done {
            match ec.decode(&mut ebuf) {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => break,
                Err(EslError::Message(_)) => continue,
                Err(_) => e_done = true,
            }
        }
    }
    (frames, messages)
}

/// Every comparison: the reference vs `parse_frame` vs `FrameCodec` (frames, bytes used,
/// errors); `EslCodec` vs `Message::from_frame`; every plain event body vs the reference's
/// event reader (headers, own body, errors). `chunk` is the read size of the codecs.
pub fn agree(input: &[u8], chunk: usize, limits: &Limits) -> Result<(), String> {
    let reference = parse_all(input, limits);
    let ours = stateless(input, limits);
    same("parse_frame", &ours, &reference)?;
    let (frames, messages) = codecs(input, chunk, limits);
    same("FrameCodec frame count", &frames.len(), &reference.0.len())?;
    for (frame, want) in frames.iter().zip(&reference.0) {
        same("FrameCodec", &as_ref(frame, want.used), want)?;
    }
    let expected: Vec<Message> = frames
        .iter()
        .filter_map(|f| Message::from_frame_with(f.clone(), limits).ok())
        .collect();
    same("EslCodec", &messages, &expected)?;
    for frame in &frames {
        let plain = frame
            .content_type()
            .is_some_and(|t| t.eq_ignore_ascii_case("text/event-plain"));
        if let (true, Some(body)) = (plain, frame.body()) {
            let ours = Event::from_plain(body, limits).map(|event| {
                let headers = event.headers().iter();
                let headers = headers.map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
                (headers, event.body().map(<[u8]>::to_vec))
            });
            same("Event::from_plain", &ours, &parse_event(body, limits))?;
        }
    }
    Ok(())
}

/// `Err` naming `what` when `a` and `b` differ.
fn same<T: PartialEq + std::fmt::Debug>(what: &str, a: &T, b: &T) -> Result<(), String> {
    match a == b {
        true => Ok(()),
        false => Err(format!(
            "{what} disagrees with the reference:\n{a:?}\n{b:?}"
        )),
    }
}
