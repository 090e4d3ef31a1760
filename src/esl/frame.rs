//! Framing: a header block up to the blank line, then exactly `Content-Length` body bytes.
//! Owns frame boundaries, the size limits and the resumable scan; does no I/O and does not
//! interpret content types (that is `message`).

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use nom::character::complete::digit1;
use nom::combinator::all_consuming;
use nom::IResult;

use super::block::{self, check_len, snippet, Entry};
use super::headers::{HeaderView, Headers, COMMAND_KEY, UNDEF};

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
///
/// The frame's bytes are one shared buffer; the command line and the body are spans of it.
#[derive(Clone)]
pub struct Frame {
    headers: Headers,
    command: Option<Range<usize>>,
    body: Option<Range<usize>>,
}

impl Frame {
    /// A frame from parts (for fakes and tests).
    pub fn new(command: Option<String>, headers: Headers, body: Option<Vec<u8>>) -> Self {
        let mut headers = headers;
        let command = command.map(|c| headers.append_raw(c.as_bytes()));
        let body = body.map(|b| headers.append_raw(&b));
        Frame {
            headers,
            command,
            body,
        }
    }

    /// The first line of a command frame (`sendmsg`, `linger 2`), `None` for FreeSWITCH's frames.
    pub fn command_line(&self) -> Option<&str> {
        let range = self.command.clone()?;
        Some(self.headers.text_at(range, COMMAND_KEY))
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
        Some(&self.headers.bytes()[self.body.clone()?])
    }

    pub fn into_parts(self) -> (Option<String>, Headers, Option<Vec<u8>>) {
        let command = self.command_line().map(str::to_owned);
        let body = self.body().map(<[u8]>::to_vec);
        (command, self.headers, body)
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.command_line() == other.command_line()
            && self.headers == other.headers
            && self.body() == other.body()
    }
}

impl Eq for Frame {}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("command", &self.command_line())
            .field("headers", &self.headers)
            .field("body", &self.body().map(String::from_utf8_lossy))
            .finish()
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
    /// Whether `parse_whole` has looked at this frame's bytes (it does once: after that, the
    /// resumable scan does).
    tried_whole: bool,
    /// Frames whose header block `parse_whole` read (for tests).
    #[cfg(test)]
    whole: usize,
    /// The header block's index, offsets from `start`. A frame that keeps its headers takes
    /// it; otherwise it is reused by the next frame (see `parse_head`).
    entries: Vec<Entry>,
}

/// A parsed header block waiting for its body. Offsets are from the frame's first byte.
#[derive(Debug, Clone)]
struct Head {
    command: Option<Range<usize>>,
    block_end: usize,
    body_start: usize,
    body_len: Option<usize>,
}

/// A complete frame in the buffer: `buf[start..total]`, its parts as offsets from `start`.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub start: usize,
    pub total: usize,
    pub command: Option<Range<usize>>,
    /// Where the header lines end (the blank line is after).
    pub block_end: usize,
    pub body: Option<Range<usize>>,
}

/// Where the header block ends: `lines_end` is the last line's `\n`, `end` is past the blank line.
struct BlockEnd {
    lines_end: usize,
    end: usize,
}

/// An index bigger than this is not kept for the next frame (FreeSWITCH's event frames have
/// two or three outer headers; the connect reply's hundred go with its channel data).
const KEEP_ENTRIES: usize = 32;

impl FrameScanner {
    /// Looks for one complete frame at the start of `buf`; on success the scanner is reset and
    /// the caller must drop `bytes_used` bytes from the front before the next call.
    pub fn scan(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some(found) = self.find(buf, limits)? else {
            return Ok(None);
        };
        Ok(Some((self.take_frame(buf, &found), found.total)))
    }

    /// Like `scan`, but leaves the frame in `buf` (and its index here) for the caller to read.
    pub(crate) fn find(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<Found>, FrameError> {
        if self.head.is_none() && !self.tried_whole {
            self.head = self.parse_whole(buf, limits);
        }
        if self.head.is_none() {
            let Some(block) = self.find_block_end(buf, limits)? else {
                return Ok(None);
            };
            self.head = Some(self.parse_head(buf, block, limits)?);
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
        let start = self.start;
        *self = FrameScanner {
            entries: std::mem::take(&mut self.entries),
            #[cfg(test)]
            whole: self.whole,
            ..FrameScanner::default()
        };
        let body_start = head.body_start - start;
        Ok(Some(Found {
            start,
            total,
            command: head.command,
            block_end: head.block_end,
            body: head.body_len.map(|n| body_start..body_start + n),
        }))
    }

    /// Lookups over the header block of `found` (which `find` just returned for `buf`).
    pub(crate) fn view<'a>(&'a self, buf: &'a [u8], found: &Found) -> HeaderView<'a> {
        HeaderView {
            bytes: &buf[found.start..found.total],
            entries: &self.entries,
            decoded: if found.command.is_some() {
                0
            } else {
                self.entries.len()
            },
        }
    }

    /// The frame `found` as an owned [`Frame`]: its bytes copied, the index taken.
    pub(crate) fn take_frame(&mut self, buf: &[u8], found: &Found) -> Frame {
        let bytes = Bytes::copy_from_slice(&buf[found.start..found.total]);
        let entries = std::mem::take(&mut self.entries);
        Frame {
            headers: Headers::from_parts(bytes, entries, found.command.is_none()),
            command: found.command.clone(),
            body: found.body.clone(),
        }
    }

    /// Only the header block of `found` (a FreeSWITCH frame) as owned [`Headers`].
    pub(crate) fn take_headers(&mut self, buf: &[u8], found: &Found) -> Headers {
        let block = &buf[found.start..found.start + found.block_end];
        let entries = std::mem::take(&mut self.entries);
        Headers::from_parts(Bytes::copy_from_slice(block), entries, true)
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
        let from = self.scanned.max(self.start);
        let mut found = None;
        // Where the next search resumes when this one finds no end.
        let mut resume = buf.len();
        for nl in memchr::memchr_iter(b'\n', &buf[from..]).map(|i| from + i) {
            found = match (buf.get(nl + 1), buf.get(nl + 2)) {
                (Some(b'\n'), _) => Some(BlockEnd {
                    lines_end: nl,
                    end: nl + 2,
                }),
                (Some(b'\r'), Some(b'\n')) => Some(BlockEnd {
                    lines_end: nl,
                    end: nl + 3,
                }),
                // The next line has not fully arrived: look at this `\n` again next time.
                (None, _) | (Some(b'\r'), None) => {
                    resume = nl;
                    None
                }
                _ => continue,
            };
            break;
        }
        if found.is_none() {
            self.scanned = resume;
        }
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

    /// The common case in one pass: a FreeSWITCH header block already whole in `buf`,
    /// indexed by `index_block`, which also finds the blank line that ends it. `None` leaves
    /// the frame to the resumable scan (`find_block_end`, then `parse_head`), which gives the
    /// same result and every error: for a block not complete yet, a command frame, or
    /// anything wrong. Tried once per frame, at the first call with a byte of it (a codec is
    /// asked again as soon as a frame is out, most often with nothing left), so a frame
    /// trickling in stays linear.
    fn parse_whole(&mut self, buf: &[u8], limits: &Limits) -> Option<Head> {
        if !self.skip_blank_lines(buf) {
            return None;
        }
        self.tried_whole = true;
        let frame = &buf[self.start..];
        // A block ending past this is too large: the scan says so.
        let window = &frame[..frame
            .len()
            .min(limits.max_header_block.saturating_sub(self.start))];
        check_len(window.len()).ok()?;
        self.clear_entries(0);
        let found = block::index_block(window, limits.max_headers, &mut self.entries).ok()?;
        let first = self.entries.first()?;
        if found.lines_end == window.len() || frame[first.name()].contains(&b' ') {
            // No blank line yet, or a command line first (its name has a space).
            return None;
        }
        let view = HeaderView {
            bytes: frame,
            entries: &self.entries,
            decoded: self.entries.len(),
        };
        let body_len = declared_length(&view, found.content_length, limits).ok()?;
        #[cfg(test)]
        {
            self.whole += 1;
        }
        Some(Head {
            command: None,
            block_end: found.lines_end,
            body_start: self.start + found.rest,
            body_len,
        })
    }

    /// Empties the index for the next frame's `wanted` entries, dropping it first if it grew
    /// past what is worth keeping (a hostile frame's).
    fn clear_entries(&mut self, wanted: usize) {
        if self.entries.capacity() > KEEP_ENTRIES.max(wanted) {
            self.entries = Vec::new();
        }
        self.entries.clear();
    }

    /// Indexes the header block (lines `start..lines_end`) and reads its `Content-Length`.
    fn parse_head(
        &mut self,
        buf: &[u8],
        block: BlockEnd,
        limits: &Limits,
    ) -> Result<Head, FrameError> {
        let frame = &buf[self.start..];
        let lines_end = block.lines_end - self.start;
        check_len(lines_end)?;
        let lines = &frame[..lines_end];
        let first_end = memchr::memchr(b'\n', lines).unwrap_or(lines_end);
        let first = 0..block::strip_cr(lines, 0, first_end);
        let command = is_command_line(&lines[first.clone()]).then_some(first);
        let count = block::line_count(lines, 0..lines_end) - usize::from(command.is_some());
        self.clear_entries(count);
        self.entries.reserve_exact(count.min(limits.max_headers));
        let max = limits.max_headers;
        let body_len = if command.is_some() {
            // A command frame: the lines after the command line, values literal.
            let rest =
                (first_end < lines_end).then(|| block::lines(lines, first_end + 1..lines_end));
            block::index(lines, rest.into_iter().flatten(), max, &mut self.entries)?;
            let view = HeaderView {
                bytes: frame,
                entries: &self.entries,
                decoded: 0,
            };
            match view.get("Content-Length") {
                Some(value) => Some(content_length(&value, limits)?),
                None => None,
            }
        } else {
            // FreeSWITCH's frames: the one-pass indexer (a block has no empty line: the first
            // one would have ended it), which also notes where `Content-Length` is.
            let found = block::index_block(lines, max, &mut self.entries)?;
            let view = HeaderView {
                bytes: frame,
                entries: &self.entries,
                decoded: self.entries.len(),
            };
            declared_length(&view, found.content_length, limits)?
        };
        Ok(Head {
            command,
            block_end: lines_end,
            body_start: block.end,
            body_len,
        })
    }
}

fn is_command_line(line: &[u8]) -> bool {
    match block::name_end(line) {
        None => true,
        Some(colon) => line[..colon].contains(&b' '),
    }
}

/// The body length declared by the `Content-Length` entry `i` (where the indexer found it, if
/// it did) of a FreeSWITCH frame or event (`None` without one, or for `_undef_`). Plain
/// digits, as FreeSWITCH writes them, are read as they are (they decode to themselves);
/// anything else is decoded and checked by [`content_length`].
pub(crate) fn declared_length(
    view: &HeaderView<'_>,
    i: Option<usize>,
    limits: &Limits,
) -> Result<Option<usize>, FrameError> {
    let Some(i) = i else {
        return Ok(None);
    };
    let raw = view.raw_value(i);
    if (1..=18).contains(&raw.len()) && raw.iter().all(u8::is_ascii_digit) {
        let n = raw.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        match usize::try_from(n) {
            Ok(n) if n <= limits.max_body => return Ok(Some(n)),
            _ => {}
        }
    }
    let value = view.value(i);
    if value == UNDEF {
        return Ok(None);
    }
    content_length(&value, limits).map(Some)
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
