//! Checking an event body's header block without indexing it, so its index can wait for the
//! first lookup. Decides only the common case (every line `Name: value`, then a blank line)
//! and says "ask `block::index_block`" for anything else, which then gives the exact result
//! or error: so a block is accepted or refused exactly as the index would.
//!
//! The check is per 64-byte block, with no work per line: with masks `N` (`\n`), `K` (`": "`)
//! and `L` (line starts: `N << 1`, carried from block to block), the carries of
//! `!(N | K) + L` run from each line start to its first `": "` or `\n`, so `(sum & N)` are the
//! lines without a `": "` (the blank line, or one to look at closely) and `K & L` the lines
//! whose name would be empty. Names of 14 bytes (`(L << 14) & first K`) are compared with
//! `Content-Length`.

use std::ops::Range;

use wide::u8x16;

/// What [`check_block`] found in a block it accepts (the same as `index_block` would).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The end of the last header line.
    pub lines_end: usize,
    /// Where what follows the blank line starts.
    pub rest: usize,
    /// The raw value of the first `Content-Length` header, if any.
    pub content_length: Option<Range<usize>>,
}

const CONTENT_LENGTH: &[u8] = b"content-length";

/// Where `bytes` (an event body) stands: `Some` when its header lines are all `Name: value`,
/// at most `max_headers` of them, ended by a blank line; `None` when `index_block` must decide
/// (an error, a `Name:` line, a leading blank line, no blank line...).
pub(crate) fn check_block(bytes: &[u8], max_headers: usize) -> Option<Checked> {
    let mut scan = Scan::default();
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
        let next_is_space = bytes.get(base + 64) == Some(&b' ');
        if let Some(done) = scan.block(bytes, base, masks(block, next_is_space), max_headers) {
            return done;
        }
    }
    // No blank line: the last line (if any) is left to the index.
    None
}

/// The state carried from one block to the next.
#[derive(Default)]
struct Scan {
    /// Carry out of the last addition.
    carry: bool,
    /// The last block's line starts (for names that begin in it).
    starts: u64,
    /// Whether the last block's last byte was `\n` (a line starts at this block's bit 0).
    newline_before: bool,
    /// The last `\n` seen, if any.
    last_newline: Option<usize>,
    lines: usize,
    content_length: Option<Range<usize>>,
}

impl Scan {
    /// One block at `base` (its masks `newlines`, `colons`): `Some` when the check is decided.
    #[inline(always)]
    fn block(
        &mut self,
        bytes: &[u8],
        base: usize,
        (newlines, colons): (u64, u64),
        max_headers: usize,
    ) -> Option<Option<Checked>> {
        let first_block = base == 0;
        let starts = (newlines << 1) | u64::from(self.newline_before || first_block);
        let plain = !(newlines | colons);
        let (sum, over) = plain.overflowing_add(starts);
        let (sum, over_carry) = sum.overflowing_add(u64::from(self.carry));
        let flags = (sum & newlines) | (colons & starts);
        let below = if flags == 0 {
            !0
        } else {
            (1u64 << flags.trailing_zeros()) - 1
        };
        self.lines += (newlines & below).count_ones() as usize;
        // Names of 14 bytes among the lines before the first flag.
        let name_ends = ((starts << 14) | (self.starts >> 50)) & sum & colons & below;
        if name_ends != 0 && self.content_length.is_none() {
            self.find_content_length(bytes, base, name_ends);
        }
        if self.lines > max_headers {
            return Some(None);
        }
        if flags != 0 {
            return Some(self.flagged(bytes, base + flags.trailing_zeros() as usize, newlines));
        }
        self.carry = over || over_carry;
        self.starts = starts;
        self.newline_before = newlines >> 63 == 1;
        if newlines != 0 {
            self.last_newline = Some(base + 63 - newlines.leading_zeros() as usize);
        }
        None
    }

    /// The first line that is not `Name: value` has a flag at `at`: accepted only when it is
    /// the blank line ending the block.
    #[cold]
    fn flagged(&self, bytes: &[u8], at: usize, newlines: u64) -> Option<Checked> {
        let base = at - at % 64;
        let earlier = newlines & ((1u64 << (at - base)) - 1);
        let start = match earlier {
            0 => self.last_newline.map_or(0, |nl| nl + 1),
            _ => base + 63 - earlier.leading_zeros() as usize + 1,
        };
        let blank = bytes.get(at) == Some(&b'\n')
            && (start == at || (start + 1 == at && bytes[start] == b'\r'));
        // A leading blank line is skipped by the index, not an end: let it decide.
        if !blank || start == 0 {
            return None;
        }
        Some(Checked {
            lines_end: start - 1,
            rest: at + 1,
            content_length: self.content_length.clone(),
        })
    }

    /// Looks at names of 14 bytes ending at the bits of `ends` (their `": "`).
    #[cold]
    fn find_content_length(&mut self, bytes: &[u8], base: usize, mut ends: u64) {
        while ends != 0 {
            let colon = base + ends.trailing_zeros() as usize;
            ends &= ends - 1;
            let name = colon.checked_sub(14).and_then(|s| bytes.get(s..colon));
            if name.is_some_and(|n| n.eq_ignore_ascii_case(CONTENT_LENGTH)) {
                let rest = &bytes[colon..];
                let end = colon + memchr::memchr(b'\n', rest).unwrap_or(rest.len());
                let end = super::block::strip_cr(bytes, colon, end);
                self.content_length = Some((colon + 2).min(end)..end);
                return;
            }
        }
    }
}

/// Bit `i` of the first mask is set when byte `i` of the 64-byte `block` is `\n`; of the
/// second, when bytes `i` and `i + 1` are `": "` (`next_is_space`: the byte after the block).
#[inline(always)]
fn masks(block: &[u8], next_is_space: bool) -> (u64, u64) {
    let splat = u8x16::splat;
    let (newline, colon, space) = (splat(b'\n'), splat(b':'), splat(b' '));
    let (mut newlines, mut colons, mut spaces) = (0u64, 0u64, 0u64);
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let mut array = [0u8; 16];
        array.copy_from_slice(lane);
        let v = u8x16::new(array);
        let shift = 16 * k;
        newlines |= u64::from(v.simd_eq(newline).to_bitmask()) << shift;
        colons |= u64::from(v.simd_eq(colon).to_bitmask()) << shift;
        spaces |= u64::from(v.simd_eq(space).to_bitmask()) << shift;
    }
    let after = (spaces >> 1) | (u64::from(next_is_space) << 63);
    (newlines, colons & after)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::block::index_block;
    use super::*;

    /// A block `check_block` accepts is one the index accepts, with the same ends and the
    /// same `Content-Length` entry.
    fn agrees(bytes: &[u8], max: usize) -> bool {
        let Some(checked) = check_block(bytes, max) else {
            return false;
        };
        let mut entries = Vec::new();
        let found = index_block(bytes, max, &mut entries).unwrap();
        assert_eq!(
            (checked.lines_end, checked.rest),
            (found.lines_end, found.rest),
            "{bytes:?}"
        );
        let value = |e: &super::super::block::Entry| e.value();
        assert_eq!(
            checked.content_length,
            found.content_length.map(|i| value(&entries[i])),
            "{bytes:?}"
        );
        true
    }

    #[test]
    fn plain_blocks_are_decided_and_agree_with_the_index() {
        let long = format!("Long: {}\nContent-Length: 2\n\nab", "v".repeat(100));
        let accepted: &[&[u8]] = &[
            b"A: 1\n\n",
            b"A: 1\r\n\r\nbody",
            b"A: 1\nContent-Length: 3\n\nabc",
            b"A:b: c\n\n",
            b"A: x: y\ncontent-LENGTH: 3\nContent-Length: 4\n\nabcd",
            b"Name-Of-Exactly-63-Bytes-To-Put-The-Colon-On-The-Block-Edge-abc: v\n\n",
            b"Fourteen-Bytes: 1\nA-name-of-fifty-bytes-to-cross-a-block-edge-xxxxxx\
Content-Length: 1\nContent-Length: 5\n\nx",
            long.as_bytes(),
        ];
        for case in accepted {
            assert!(agrees(case, 100), "{:?}", String::from_utf8_lossy(case));
        }
    }

    #[test]
    fn anything_else_is_left_to_the_index() {
        let left: &[&[u8]] = &[
            b"",
            b"\n",
            b"\nA: 1\n\n",
            b"A: 1\n",
            b"A: 1",
            b"A: 1\nB:\n\n",
            b"A: 1\n: x\n\n",
            b"A: 1\nbad\n\n",
            b"A: 1\n\r\r\n\n",
        ];
        for case in left {
            assert!(check_block(case, 100).is_none(), "{case:?}");
        }
        assert!(
            check_block(b"A: 1\nB: 2\n\n", 1).is_none(),
            "over the limit"
        );
        assert!(agrees(b"A: 1\nB: 2\n\n", 2), "at the limit");
    }

    proptest::proptest! {
        #[test]
        fn accepted_blocks_agree_with_the_index(
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
                    proptest::strategy::Just(&b"CONTENT-length: 2\n"[..]),
                    proptest::strategy::Just(&b"a-long-header-name-to-cross-a-block: x"[..]),
                ],
                0..60,
            ),
            max in 1usize..12,
        ) {
            let bytes = pieces.concat();
            // Whatever `agrees` accepts it has compared; a refusal is always allowed.
            agrees(&bytes, max);
        }
    }
}
