//! Header blocks: `Name: value` lines, their percent-decoding and case-insensitive lookup.
//! Owns line splitting and value decoding; does not know frame boundaries or frame kinds.

use std::fmt;

use nom::bytes::complete::{tag, take_until};
use nom::combinator::rest;
use nom::sequence::separated_pair;
use nom::IResult;

use super::frame::FrameError;

/// The value FreeSWITCH writes for an empty header; lookups read it as unset.
const UNDEF: &str = "_undef_";

/// An ordered list of headers. Names keep their case; lookups ignore it. Duplicates are kept.
///
/// All names and values live in one string (one allocation per block, not two per header).
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    entries: Vec<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    name_end: usize,
    start: usize,
    end: usize,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header as given (no decoding): for building frames in tests and fakes.
    pub fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(value);
        self.entries.push(Entry {
            name_end,
            start,
            end: self.text.len(),
        });
    }

    /// The first header with this name (case-insensitive); `_undef_` reads as `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_raw(name).filter(|v| *v != UNDEF)
    }

    /// The first header with this name (case-insensitive), `_undef_` included: for command
    /// frames, where FreeSWITCH reads values literally.
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first header named `prefix` + `name` (both case-insensitive), without allocating.
    pub fn get_prefixed(&self, prefix: &str, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| {
                n.len() == prefix.len() + name.len()
                    && n.is_char_boundary(prefix.len())
                    && n[..prefix.len()].eq_ignore_ascii_case(prefix)
                    && n[prefix.len()..].eq_ignore_ascii_case(name)
            })
            .map(|(_, v)| v)
            .filter(|v| *v != UNDEF)
    }

    /// Every value of this header, in order; `_undef_` values are skipped.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter()
            .filter(move |(n, v)| n.eq_ignore_ascii_case(name) && *v != UNDEF)
            .map(|(_, v)| v)
    }

    /// All headers in wire order, values decoded, `_undef_` kept as is.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(move |e| {
            (
                &self.text[e.start..e.name_end],
                &self.text[e.name_end..e.end],
            )
        })
    }

    /// Number of header lines (duplicates counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no header.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses header lines (no blank line, no command line). `decode` percent-decodes values.
    pub(crate) fn parse_lines<'a>(
        lines: impl Iterator<Item = &'a [u8]>,
        decode: bool,
        max_headers: usize,
    ) -> Result<Self, FrameError> {
        let mut headers = Headers::new();
        let mut scratch = Vec::new();
        for (index, line) in lines.enumerate() {
            if headers.len() >= max_headers {
                return Err(FrameError::TooManyHeaders { limit: max_headers });
            }
            let (name, value) = split_line(line).ok_or_else(|| FrameError::MalformedLine {
                line: index + 1,
                text: snippet(line),
            })?;
            let name = String::from_utf8_lossy(name);
            let value = if decode && value.contains(&b'%') {
                scratch.clear();
                percent_decode_into(value, &mut scratch);
                String::from_utf8_lossy(&scratch)
            } else {
                String::from_utf8_lossy(value)
            };
            headers.push(&name, &value);
        }
        Ok(headers)
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (n, v) in iter {
            headers.push(n, v);
        }
        headers
    }
}

/// Splits `Name: value` on the first `": "`. `Name:` alone is a header with an empty value.
/// An empty name, or a line with neither form, is malformed.
pub(crate) fn split_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let parsed: IResult<&[u8], (&[u8], &[u8])> =
        separated_pair(take_until(": "), tag(": "), rest)(line);
    let (name, value) = match parsed {
        Ok((_, pair)) => pair,
        Err(_) => (line.strip_suffix(b":")?, &b""[..]),
    };
    (!name.is_empty()).then_some((name, value))
}

/// Appends `input` with every `%XX` (two hex digits) turned into its byte. A `%` not followed
/// by two hex digits stays as is; `+` stays `+` (FreeSWITCH never encodes space as `+`).
pub fn percent_decode_into(input: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push((h << 4) | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
}

/// Percent-decodes a value (`%XX` only) and turns it into text, replacing invalid UTF-8.
pub fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    percent_decode_into(input, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
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

    fn parse(block: &str, decode: bool) -> Headers {
        Headers::parse_lines(block.lines().map(str::as_bytes), decode, 100).unwrap()
    }

    #[test]
    fn percent_decoding_known_answers() {
        // From the eventuuid capture: `set lab_probe=100%41 a:b é+c` comes back like this.
        assert_eq!(
            percent_decode(b"100%41%20a%3Ab%20%C3%A9%2Bc"),
            "100A a:b \u{e9}+c"
        );
        assert_eq!(percent_decode(b"a+b"), "a+b");
        assert_eq!(percent_decode(b"%2BOK%0A"), "+OK\n");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%4"), "%4");
        assert_eq!(percent_decode(b"%zz%41"), "%zzA");
        assert_eq!(
            percent_decode(b"tone_stream%3A//%25(200,0,440)"),
            "tone_stream://%(200,0,440)"
        );
    }

    #[test]
    fn invalid_utf8_decodes_lossily() {
        assert_eq!(percent_decode(b"a%FFb%C3"), "a\u{fffd}b\u{fffd}");
        let h = Headers::parse_lines([&b"X-Raw: \xff\xfe ok"[..]].into_iter(), true, 10).unwrap();
        assert_eq!(h.get("x-raw"), Some("\u{fffd}\u{fffd} ok"));
    }

    #[test]
    fn lookup_is_case_insensitive_and_keeps_duplicates() {
        let h = parse(
            "Hangup-Cause: NORMAL_CLEARING\nA: 1\nhangup-cause: USER_BUSY",
            true,
        );
        assert_eq!(h.get("HANGUP-CAUSE"), Some("NORMAL_CLEARING"));
        let all: Vec<_> = h.get_all("hangup-cause").collect();
        assert_eq!(all, ["NORMAL_CLEARING", "USER_BUSY"]);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn undef_reads_as_unset() {
        let h = parse("variable_x: _undef_\nY: _undef_\nY: set", true);
        assert_eq!(h.get("variable_x"), None);
        assert_eq!(h.get_prefixed("variable_", "X"), None);
        assert_eq!(h.get("Y"), None, "the first Y is the one read");
        assert_eq!(h.get_all("Y").collect::<Vec<_>>(), ["set"]);
        assert_eq!(h.iter().next(), Some(("variable_x", "_undef_")));
    }

    #[test]
    fn splits_on_first_colon_space() {
        let h = parse("Reply-Text: +OK Job-UUID: 42\nEmpty:\nT: a:b", true);
        assert_eq!(h.get("reply-text"), Some("+OK Job-UUID: 42"));
        assert_eq!(h.get("empty"), Some(""));
        assert_eq!(h.get("t"), Some("a:b"));
    }

    #[test]
    fn undecoded_values_stay_literal() {
        let h = parse("execute-app-arg: 100%41", false);
        assert_eq!(h.get("Execute-App-Arg"), Some("100%41"));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in ["no separator", ": empty name", "Name:x"] {
            let err = Headers::parse_lines([bad.as_bytes()].into_iter(), true, 10).unwrap_err();
            assert!(
                matches!(err, FrameError::MalformedLine { line: 1, .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn header_count_is_capped() {
        let lines = ["A: 1", "B: 2", "C: 3"].map(str::as_bytes);
        let err = Headers::parse_lines(lines.into_iter(), true, 2).unwrap_err();
        assert!(err.to_string().contains("max_headers"), "{err}");
    }

    #[test]
    fn prefixed_lookup_matches_whole_name() {
        let h = parse("variable_foo: 1\nvariable_foobar: 2", true);
        assert_eq!(h.get_prefixed("variable_", "foobar"), Some("2"));
        assert_eq!(h.get_prefixed("variable_", "FOO"), Some("1"));
        assert_eq!(h.get_prefixed("variable_", "fo"), None);
    }
}
