//! Framing: a header block up to the blank line, then exactly `Content-Length` body bytes.
//! Owns frame boundaries, the size limits and the resumable scan; does no I/O and does not
//! interpret content types (that is `message`).

use nom::character::complete::digit1;
use nom::combinator::all_consuming;
use nom::IResult;

use super::headers::{snippet, split_line, Headers};

/// Caps on what one frame may cost. Every error names the limit it hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one header block, blank line included (leading blank lines count too).
    pub max_header_block: usize,
    /// Header lines in one block (also applies to the block inside an event body).
    pub max_headers: usize,
    /// `Content-Length` of one body.
    pub max_body: usize,
}

impl Default for Limits {
    /// Generous: FreeSWITCH's connect reply has hundreds of headers; it caps bodies at 16 MiB.
    fn default() -> Self {
        Limits {
            max_header_block: 1 << 20,
            max_headers: 16_384,
            max_body: 16 << 20,
        }
    }
}

/// Why bytes are not a frame. Each one ends the connection: framing can't be trusted after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("header block exceeds max_header_block ({limit} bytes)")]
    HeaderBlockTooLarge { limit: usize },
    #[error("header block has more than max_headers ({limit}) headers")]
    TooManyHeaders { limit: usize },
    #[error("Content-Length {length} exceeds max_body ({limit} bytes)")]
    BodyTooLarge { length: u64, limit: usize },
    #[error("Content-Length is not a byte count: {value:?}")]
    BadContentLength { value: String },
    #[error("header line {line} is not `Name: value`: {text:?}")]
    MalformedLine { line: usize, text: String },
}

/// One frame: an optional command line, headers, and the body when `Content-Length` was given.
///
/// FreeSWITCH's frames start with a header. A controller's commands start with a command line
/// (`connect`, `sendmsg`, `api status`): a first line that has no `": "`, or whose part before
/// `": "` has a space (header names never do). Command frames' header values are kept
/// literally, as FreeSWITCH reads them; every other frame's values are percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    command: Option<String>,
    headers: Headers,
    body: Option<Vec<u8>>,
}

impl Frame {
    /// A frame from parts (for fakes and tests).
    pub fn new(command: Option<String>, headers: Headers, body: Option<Vec<u8>>) -> Self {
        Frame {
            command,
            headers,
            body,
        }
    }

    /// The first line of a command frame (`sendmsg`, `linger 2`), `None` for FreeSWITCH's frames.
    pub fn command_line(&self) -> Option<&str> {
        self.command.as_deref()
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// `Content-Type`, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("Content-Type")
    }

    /// The body; present (maybe empty) exactly when the frame had a `Content-Length`.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    pub fn into_parts(self) -> (Option<String>, Headers, Option<Vec<u8>>) {
        (self.command, self.headers, self.body)
    }
}

/// Parses one frame from the start of `input`: `Ok(Some((frame, bytes_used)))`, `Ok(None)` when
/// more bytes are needed, or an error. Leading blank lines are skipped (and counted in
/// `bytes_used`). A `\r` right before a `\n` is tolerated and dropped.
pub fn parse_frame(input: &[u8], limits: &Limits) -> Result<Option<(Frame, usize)>, FrameError> {
    FrameScanner::default().scan(input, limits)
}

/// The resumable form of [`parse_frame`] for a buffer that only grows at its end: it remembers
/// how far it looked for the blank line and keeps the parsed header block while the body
/// arrives, so feeding a frame one byte at a time costs linear time in total.
#[derive(Debug, Default)]
pub struct FrameScanner {
    /// Leading blank-line bytes skipped, and whether the first real byte was seen.
    start: usize,
    started: bool,
    /// Where the search for the blank line resumes.
    scanned: usize,
    head: Option<Head>,
}

#[derive(Debug)]
struct Head {
    command: Option<String>,
    headers: Headers,
    body_start: usize,
    body_len: Option<usize>,
}

/// Where the header block ends: `lines_end` is the last line's `\n`, `end` is past the blank line.
struct BlockEnd {
    lines_end: usize,
    end: usize,
}

impl FrameScanner {
    /// Looks for one complete frame at the start of `buf`; on success the scanner is reset and
    /// the caller must drop `bytes_used` bytes from the front before the next call.
    pub fn scan(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Frame, usize)>, FrameError> {
        if self.head.is_none() {
            let Some(block) = self.find_block_end(buf, limits)? else {
                return Ok(None);
            };
            let lines = &buf[self.start..block.lines_end];
            self.head = Some(parse_head(lines, block.end, limits)?);
        }
        let Some(head) = &self.head else {
            return Ok(None);
        };
        let total = head.body_start + head.body_len.unwrap_or(0);
        if buf.len() < total {
            return Ok(None);
        }
        let Some(head) = self.head.take() else {
            return Ok(None);
        };
        *self = FrameScanner::default();
        let body = head.body_len.map(|_| buf[head.body_start..total].to_vec());
        Ok(Some((Frame::new(head.command, head.headers, body), total)))
    }

    /// Total bytes the current frame needs, once its header block has been read.
    pub fn bytes_needed(&self) -> Option<usize> {
        self.head
            .as_ref()
            .map(|h| h.body_start + h.body_len.unwrap_or(0))
    }

    fn find_block_end(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<BlockEnd>, FrameError> {
        let too_large = FrameError::HeaderBlockTooLarge {
            limit: limits.max_header_block,
        };
        if !self.skip_blank_lines(buf) {
            return if self.start > limits.max_header_block {
                Err(too_large)
            } else {
                Ok(None)
            };
        }
        let mut i = self.scanned.max(self.start);
        let found = loop {
            let Some(offset) = buf[i..].iter().position(|&b| b == b'\n') else {
                self.scanned = buf.len();
                break None;
            };
            let nl = i + offset;
            match (buf.get(nl + 1), buf.get(nl + 2)) {
                (Some(b'\n'), _) => {
                    break Some(BlockEnd {
                        lines_end: nl,
                        end: nl + 2,
                    })
                }
                (Some(b'\r'), Some(b'\n')) => {
                    break Some(BlockEnd {
                        lines_end: nl,
                        end: nl + 3,
                    })
                }
                (None, _) | (Some(b'\r'), None) => {
                    self.scanned = nl;
                    break None;
                }
                _ => i = nl + 1,
            }
        };
        let used = found.as_ref().map_or(self.scanned, |b| b.end);
        if used > limits.max_header_block {
            return Err(too_large);
        }
        Ok(found)
    }

    /// Advances `start` past blank lines; true once a frame's first byte is in view.
    fn skip_blank_lines(&mut self, buf: &[u8]) -> bool {
        while !self.started {
            match (buf.get(self.start), buf.get(self.start + 1)) {
                (Some(b'\n'), _) => self.start += 1,
                (Some(b'\r'), Some(b'\n')) => self.start += 2,
                (None, _) | (Some(b'\r'), None) => return false,
                _ => self.started = true,
            }
        }
        true
    }
}

/// Parses a header block's lines (blank line excluded) into the frame's head.
fn parse_head(block: &[u8], body_start: usize, limits: &Limits) -> Result<Head, FrameError> {
    let mut lines = block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or_default();
    let (command, headers) = if is_command_line(first) {
        let command = String::from_utf8_lossy(first).into_owned();
        let headers = Headers::parse_lines(lines, false, limits.max_headers)?;
        (Some(command), headers)
    } else {
        let all = std::iter::once(first).chain(lines);
        (None, Headers::parse_lines(all, true, limits.max_headers)?)
    };
    let body_len = match headers.get("Content-Length") {
        Some(value) => Some(content_length(value, limits)?),
        None => None,
    };
    Ok(Head {
        command,
        headers,
        body_start,
        body_len,
    })
}

fn is_command_line(line: &[u8]) -> bool {
    match split_line(line) {
        None => true,
        Some((name, _)) => name.contains(&b' '),
    }
}

/// A decimal byte count within `max_body`.
pub(crate) fn content_length(value: &str, limits: &Limits) -> Result<usize, FrameError> {
    let digits: IResult<&str, &str> = all_consuming(digit1)(value.trim());
    let bad = || FrameError::BadContentLength {
        value: snippet(value.as_bytes()),
    };
    let length: u64 = digits.map_err(|_| bad())?.1.parse().map_err(|_| bad())?;
    match usize::try_from(length) {
        Ok(n) if n <= limits.max_body => Ok(n),
        _ => Err(FrameError::BodyTooLarge {
            length,
            limit: limits.max_body,
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "frame_tests.rs"]
mod tests;
