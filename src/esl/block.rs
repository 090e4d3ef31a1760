//! Header blocks as spans: each `Name: value` line becomes an [`Entry`] of offsets into the
//! bytes it came from. Nothing is copied or decoded here (values are decoded when read, in
//! `headers`). Owns the line grammar (nom), the line and blank-line scans (memchr) and the
//! header count limit; does not know frame kinds.

use std::ops::Range;

use nom::bytes::complete::{tag, take_until};
use nom::sequence::terminated;
use nom::IResult;
use wide::u8x16;

use super::frame::FrameError;

/// One header line: `bytes[start..colon]` is the name, the value follows `": "` (or is empty
/// for a `Name:` line) up to `end`. Offsets are `u32` to keep an index small (a block is
/// capped far below 4 GiB; see [`check_len`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    start: u32,
    colon: u32,
    end: u32,
}

impl Entry {
    pub(crate) fn new(start: usize, colon: usize, end: usize) -> Self {
        // Callers index blocks that passed `check_len`.
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Entry {
            start: at(start),
            colon: at(colon),
            end: at(end),
        }
    }

    pub(crate) fn name(&self) -> Range<usize> {
        self.start as usize..self.colon as usize
    }

    pub(crate) fn name_len(&self) -> usize {
        (self.colon - self.start) as usize
    }

    /// After `": "`; empty for a `Name:` line (whose colon ends the line).
    pub(crate) fn value(&self) -> Range<usize> {
        (self.colon as usize + 2).min(self.end as usize)..self.end as usize
    }
}

/// Entries store `u32` offsets: a block they index must end below 4 GiB.
pub(crate) fn check_len(len: usize) -> Result<(), FrameError> {
    match u32::try_from(len) {
        Ok(_) => Ok(()),
        Err(_) => Err(FrameError::HeaderBlockTooLarge {
            limit: u32::MAX as usize,
        }),
    }
}

/// Where the name of a header line ends: the first `": "`, or a `:` ending the line. `None`
/// when neither is there or the name would be empty (a malformed line).
pub(crate) fn name_end(line: &[u8]) -> Option<usize> {
    // nom's take_until searches with memchr.
    let parsed: IResult<&[u8], &[u8]> = terminated(take_until(": "), tag(": "))(line);
    let len = match parsed {
        Ok((_, name)) => name.len(),
        Err(_) => line.strip_suffix(b":")?.len(),
    };
    (len > 0).then_some(len)
}

/// The lines of `bytes[range]` split on `\n`, each without one trailing `\r`, as ranges of
/// `bytes` (like `split(b'\n')`: the last line may be empty).
pub(crate) fn lines(bytes: &[u8], range: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
    let base = range.start;
    let ends = memchr::memchr_iter(b'\n', &bytes[range.clone()])
        .map(move |i| base + i)
        .chain(std::iter::once(range.end));
    let mut start = base;
    ends.map(move |end| {
        let line = start..end;
        start = end + 1;
        match bytes[line.clone()].last() {
            Some(b'\r') => line.start..line.end - 1,
            _ => line,
        }
    })
}

/// How many lines `bytes[range]` has (what `lines` yields), to size an index exactly.
pub(crate) fn line_count(bytes: &[u8], range: Range<usize>) -> usize {
    memchr::memchr_iter(b'\n', &bytes[range]).count() + 1
}

/// Indexes header lines into `out`. Each line is checked against the limit first, then the
/// grammar; `MalformedLine` counts lines from 1 in the order given.
pub(crate) fn index(
    bytes: &[u8],
    lines: impl Iterator<Item = Range<usize>>,
    max_headers: usize,
    out: &mut Vec<Entry>,
) -> Result<(), FrameError> {
    for (n, line) in lines.enumerate() {
        if n >= max_headers {
            return Err(FrameError::TooManyHeaders { limit: max_headers });
        }
        let text = &bytes[line.clone()];
        let colon = name_end(text).ok_or_else(|| FrameError::MalformedLine {
            line: n + 1,
            text: snippet(text),
        })?;
        out.push(Entry::new(line.start, line.start + colon, line.end));
    }
    Ok(())
}

/// An event body's header block, indexed in one pass: lines up to the first blank line (a
/// `\n` followed by `\n` or `\r\n`), empty lines skipped. Appends to `out`.
///
/// The same grammar as [`lines`] + [`index`] (a test and a fuzz target hold them equal), but
/// found with bit masks of `\n` and `:` over 64-byte blocks instead of a nom call per line:
/// an event has a hundred short lines, and per-line searches were most of the decoder's time.
pub(crate) fn index_block(
    bytes: &[u8],
    max_headers: usize,
    out: &mut Vec<Entry>,
) -> Result<Indexed, FrameError> {
    let mut lines = LineState {
        first_entry: out.len(),
        max_headers,
        start: 0,
        colon: None,
        first_line: true,
        content_length: None,
    };
    let mut pad = [0u8; 64];
    for base in (0..bytes.len()).step_by(64) {
        let block = match bytes.get(base..base + 64) {
            Some(block) => block,
            None => {
                let tail = &bytes[base..];
                pad[..tail.len()].copy_from_slice(tail);
                pad[tail.len()..].fill(0);
                &pad[..]
            }
        };
        let (newlines, colons) = masks(block);
        let mut ends = newlines;
        while ends != 0 {
            let bit = ends.trailing_zeros();
            ends &= ends - 1;
            if lines.colon.is_none() {
                lines.find_colon(bytes, base, colons & ((1 << bit) - 1));
            }
            if let Some(end) = lines.line_end(bytes, base + bit as usize, out)? {
                return Ok(end);
            }
        }
        if lines.colon.is_none() {
            lines.find_colon(bytes, base, colons);
        }
    }
    lines.last_line(bytes, out)?;
    Ok(Indexed {
        lines_end: bytes.len(),
        rest: bytes.len(),
        content_length: lines.content_length,
    })
}

/// What `index_block` found besides the entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Indexed {
    /// The end of the last header line.
    pub lines_end: usize,
    /// Where what follows the blank line starts (`bytes.len()` when there is none).
    pub rest: usize,
    /// The first `Content-Length` entry (its index in `out`), seen while indexing.
    pub content_length: Option<usize>,
}

/// `index_block`'s progress through the current line.
struct LineState {
    first_entry: usize,
    max_headers: usize,
    start: usize,
    /// The first `": "` of the current line.
    colon: Option<usize>,
    first_line: bool,
    content_length: Option<usize>,
}

impl LineState {
    /// Looks for the current line's first `": "` among the colons of the block at `base`
    /// (`colons`, already cut at the line's end when it is in this block).
    #[inline(always)]
    fn find_colon(&mut self, bytes: &[u8], base: usize, colons: u64) {
        let from = self.start.saturating_sub(base);
        let mut candidates = if from < 64 { colons & (!0 << from) } else { 0 };
        while candidates != 0 {
            let at = base + candidates.trailing_zeros() as usize;
            if bytes.get(at + 1) == Some(&b' ') {
                self.colon = Some(at);
                return;
            }
            candidates &= candidates - 1;
        }
    }

    /// The `\n` at `at` ends a line: index it, or end the block if it is the blank line.
    #[inline(always)]
    fn line_end(
        &mut self,
        bytes: &[u8],
        at: usize,
        out: &mut Vec<Entry>,
    ) -> Result<Option<Indexed>, FrameError> {
        let end = strip_cr(bytes, self.start, at);
        if end > self.start {
            self.push(bytes, end, out)?;
        } else if !self.first_line {
            return Ok(Some(Indexed {
                lines_end: self.start - 1,
                rest: at + 1,
                content_length: self.content_length,
            }));
        }
        (self.start, self.colon, self.first_line) = (at + 1, None, false);
        Ok(None)
    }

    fn last_line(&mut self, bytes: &[u8], out: &mut Vec<Entry>) -> Result<(), FrameError> {
        let end = strip_cr(bytes, self.start, bytes.len());
        if end > self.start {
            self.push(bytes, end, out)?;
        }
        Ok(())
    }

    /// The non-empty line `start..end`: checked against the limit first, then the grammar.
    #[inline(always)]
    fn push(&mut self, bytes: &[u8], end: usize, out: &mut Vec<Entry>) -> Result<(), FrameError> {
        let n = out.len() - self.first_entry;
        if n >= self.max_headers {
            let limit = self.max_headers;
            return Err(FrameError::TooManyHeaders { limit });
        }
        let line = &bytes[self.start..end];
        let name = match self.colon {
            Some(colon) => colon - self.start,
            None if line.last() == Some(&b':') => line.len() - 1,
            None => 0,
        };
        if name == 0 {
            let text = snippet(line);
            return Err(FrameError::MalformedLine { line: n + 1, text });
        }
        if self.content_length.is_none() && line[..name].eq_ignore_ascii_case(b"content-length") {
            self.content_length = Some(out.len());
        }
        out.push(Entry::new(self.start, self.start + name, end));
        Ok(())
    }
}

/// Bit `i` of each mask is set when byte `i` of the 64-byte `block` is `\n`, `:`.
#[inline(always)]
fn masks(block: &[u8]) -> (u64, u64) {
    let (newline, colon) = (u8x16::splat(b'\n'), u8x16::splat(b':'));
    let mut masks = (0, 0);
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let mut array = [0u8; 16];
        array.copy_from_slice(lane);
        let v = u8x16::new(array);
        let shift = 16 * k;
        masks.0 |= u64::from(v.simd_eq(newline).to_bitmask()) << shift;
        masks.1 |= u64::from(v.simd_eq(colon).to_bitmask()) << shift;
    }
    masks
}

/// `end`, less one if the line `start..end` ends with `\r`.
pub(crate) fn strip_cr(bytes: &[u8], start: usize, end: usize) -> usize {
    if end > start && bytes[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// The first blank line in `bytes` (a `\n` followed by `\n` or `\r\n`): the end of the line
/// before it and where what follows starts. The plain statement of what `index_block` finds.
#[cfg(test)]
pub(crate) fn find_blank_line(bytes: &[u8]) -> Option<(usize, usize)> {
    memchr::memchr_iter(b'\n', bytes).find_map(|nl| match (bytes.get(nl + 1), bytes.get(nl + 2)) {
        (Some(b'\n'), _) => Some((nl, nl + 2)),
        (Some(b'\r'), Some(b'\n')) => Some((nl, nl + 3)),
        _ => None,
    })
}

/// The start of a bad line, for an error message (never the whole line: it may be huge).
pub(crate) fn snippet(line: &[u8]) -> String {
    let cut = &line[..line.len().min(60)];
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn all_lines(text: &[u8]) -> Vec<&[u8]> {
        lines(text, 0..text.len()).map(|r| &text[r]).collect()
    }

    #[test]
    fn lines_split_like_split_and_drop_one_cr() {
        let text = b"a\r\nb\n\r\r\nc";
        assert_eq!(all_lines(text), [&b"a"[..], b"b", b"\r", b"c"]);
        assert_eq!(all_lines(b"x\n"), [&b"x"[..], b""]);
        assert_eq!(all_lines(b""), [&b""[..]]);
        assert_eq!(line_count(b"x\n", 0..2), 2);
    }

    #[test]
    fn names_end_at_the_first_colon_space() {
        assert_eq!(name_end(b"Reply-Text: +OK Job-UUID: 42"), Some(10));
        assert_eq!(name_end(b"Empty:"), Some(5));
        assert_eq!(name_end(b"Empty: "), Some(5));
        assert_eq!(name_end(b"::"), Some(1));
        assert_eq!(name_end(b"a:b: c"), Some(3));
        for bad in [&b": x"[..], b":", b"Name:x", b"none", b""] {
            assert_eq!(name_end(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn entries_give_names_and_values() {
        let text = b"A: 1\nEmpty:\nB: ";
        let mut out = Vec::new();
        index(text, lines(text, 0..text.len()), 10, &mut out).unwrap();
        let pairs: Vec<(&[u8], &[u8])> = out
            .iter()
            .map(|e| (&text[e.name()], &text[e.value()]))
            .collect();
        assert_eq!(
            pairs,
            [(&b"A"[..], &b"1"[..]), (b"Empty", b""), (b"B", b"")]
        );
    }

    /// `index_block` by the plain route: find the blank line, split, skip empty lines, index.
    fn reference(bytes: &[u8], max: usize) -> Result<(Vec<Entry>, usize, usize), FrameError> {
        let len = bytes.len();
        let (lines_end, rest) = find_blank_line(bytes).unwrap_or((len, len));
        let mut out = Vec::new();
        let lines = lines(bytes, 0..lines_end).filter(|l| !l.is_empty());
        index(bytes, lines, max, &mut out)?;
        Ok((out, lines_end, rest))
    }

    fn one_pass(bytes: &[u8], max: usize) -> Result<(Vec<Entry>, usize, usize), FrameError> {
        let mut out = Vec::new();
        let found = index_block(bytes, max, &mut out)?;
        let content_length = out
            .iter()
            .position(|e| bytes[e.name()].eq_ignore_ascii_case(b"content-length"));
        assert_eq!(found.content_length, content_length);
        Ok((out, found.lines_end, found.rest))
    }

    #[test]
    fn one_pass_index_agrees_on_edge_cases() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n",
            b"\n\n",
            b"\r\n\r\n",
            b"\nA: 1\n\nbody",
            b"\r\nA: 1\r\n\r\nbody",
            b"A: 1\nB:\nC: a: b\n\n\nD: 2",
            b"A: 1\n\r",
            b"A:\r\nB: \r\n",
            b"a:b: c\n::\n\n",
            b"A: 1\nbad\n\n",
            b"A: 1\n: x\n",
            b"A: 1\nB: 2\nC: 3\nD: 4",
            b"X: \r\r\n\r\rY: 1",
            b"Content-Length: 3\ncontent-length: 4\n\nabc",
        ];
        for case in cases {
            for max in [2, 100] {
                assert_eq!(
                    one_pass(case, max),
                    reference(case, max),
                    "{case:?} max {max}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn one_pass_index_agrees(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(&b"\n"[..]),
                    proptest::strategy::Just(&b"\r"[..]),
                    proptest::strategy::Just(&b":"[..]),
                    proptest::strategy::Just(&b" "[..]),
                    proptest::strategy::Just(&b": "[..]),
                    proptest::strategy::Just(&b"A"[..]),
                    proptest::strategy::Just(&b"Name: value\n"[..]),
                    proptest::strategy::Just(&b"Content-Length: 1\n"[..]),
                    proptest::strategy::Just(&b"a-long-header-name-to-cross-a-block: x"[..]),
                ],
                0..40,
            ),
            max in 1usize..12,
        ) {
            let bytes = pieces.concat();
            proptest::prop_assert_eq!(one_pass(&bytes, max), reference(&bytes, max));
        }
    }

    #[test]
    fn blank_lines() {
        assert_eq!(find_blank_line(b"A: 1\n\nrest"), Some((4, 6)));
        assert_eq!(find_blank_line(b"A: 1\n\r\nrest"), Some((4, 7)));
        assert_eq!(find_blank_line(b"A: 1\nB: 2\n"), None);
        assert_eq!(find_blank_line(b"\n\n"), Some((0, 2)));
    }
}
