//! Header blocks: ordered `Name: value` pairs kept as spans into the bytes they came from,
//! looked up case-insensitively, values percent-decoded only when read. Owns the lookup rules
//! and `_undef_`; does not know frame boundaries or kinds (`frame`) or the line grammar
//! (`block`).

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use bytes::Bytes;

use super::block::Entry;
#[cfg(test)]
use super::block::{name_end, snippet};
pub use super::decode::percent_decode;
use super::decode::{text, Memo};
#[cfg(test)]
use super::frame::FrameError;

/// The value FreeSWITCH writes for an empty header; lookups read it as unset.
pub(crate) const UNDEF: &str = "_undef_";

/// Memo key of the text at a frame's command line (values use their entry index).
pub(crate) const COMMAND_KEY: usize = usize::MAX;

/// An ordered list of headers. Names keep their case; lookups ignore it. Duplicates are kept.
///
/// The bytes are shared (`bytes::Bytes`) and each header is three offsets into them: no
/// string per header. Values of parsed FreeSWITCH frames are percent-decoded when read, and
/// the decoded text is kept, so reading a value twice decodes it once.
#[derive(Clone, Default)]
pub struct Headers {
    bytes: Bytes,
    entries: Vec<Entry>,
    /// Entries before this index hold percent-encoded values (pushed ones are literal).
    decoded: usize,
    memo: Memo,
    /// Every name and value as text (`None`: the bytes are the text), for `iter`/`get_all`.
    all: OnceLock<Box<[Texts]>>,
}

type Texts = (Option<String>, Option<String>);

/// Lookups over borrowed bytes and entries, with the rules of [`Headers`]; values as `Cow`.
/// What the codec uses to classify a frame before anything is copied.
#[derive(Clone, Copy)]
pub(crate) struct HeaderView<'a> {
    pub bytes: &'a [u8],
    pub entries: &'a [Entry],
    /// Entries before this index hold percent-encoded values.
    pub decoded: usize,
}

impl<'a> HeaderView<'a> {
    fn name(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.entries[i].name()]
    }

    pub(crate) fn raw_value(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.entries[i].value()]
    }

    /// The index of the first header named `name` (case-insensitive).
    pub fn position(&self, name: &str) -> Option<usize> {
        let lossy = Lossy::of("", name);
        if lossy.0 {
            return self.position_prefixed("", name);
        }
        // The hot path of every lookup: lengths first, bytes only when they agree.
        let wanted = name.as_bytes();
        self.entries.iter().position(|e| {
            e.name_len() == wanted.len() && self.bytes[e.name()].eq_ignore_ascii_case(wanted)
        })
    }

    /// The index of the first header named `prefix` + `name` (both case-insensitive).
    pub fn position_prefixed(&self, prefix: &str, name: &str) -> Option<usize> {
        let lossy = Lossy::of(prefix, name);
        let len = prefix.len() + name.len();
        (0..self.entries.len()).find(|&i| {
            (lossy.0 || self.entries[i].name_len() == len) && self.named(i, prefix, name, lossy)
        })
    }

    /// Entry `i` is named `prefix` + `name` (both case-insensitive).
    fn named(&self, i: usize, prefix: &str, name: &str, lossy: Lossy) -> bool {
        let (p, n, raw) = (prefix.as_bytes(), name.as_bytes(), self.name(i));
        let fast = raw.len() == p.len() + n.len()
            && raw[..p.len()].eq_ignore_ascii_case(p)
            && raw[p.len()..].eq_ignore_ascii_case(n);
        fast || (lossy.0 && lossy_split_eq(&String::from_utf8_lossy(raw), prefix, name))
    }

    pub fn name_text(&self, i: usize) -> Cow<'a, str> {
        String::from_utf8_lossy(self.name(i))
    }

    pub fn value(&self, i: usize) -> Cow<'a, str> {
        text(self.raw_value(i), i < self.decoded)
    }

    /// The first value of `name`; `_undef_` reads as `None`.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        let value = self.value(self.position(name)?);
        (value != UNDEF).then_some(value)
    }
}

/// Whether a query must also be compared with names read lossily. A name that is not UTF-8
/// reads with U+FFFD in place of its bad bytes: only a query holding U+FFFD can match one.
#[derive(Clone, Copy)]
struct Lossy(bool);

impl Lossy {
    fn of(prefix: &str, name: &str) -> Self {
        let has = |s: &str| !s.is_ascii() && s.contains('\u{fffd}');
        Lossy(has(prefix) || has(name))
    }
}

/// `text` is `prefix` + `name`, each part compared ignoring ASCII case.
fn lossy_split_eq(text: &str, prefix: &str, name: &str) -> bool {
    text.len() == prefix.len() + name.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
        && text[prefix.len()..].eq_ignore_ascii_case(name)
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Headers over `bytes`; `decode` marks every entry's value as percent-encoded.
    pub(crate) fn from_parts(bytes: Bytes, entries: Vec<Entry>, decode: bool) -> Self {
        Headers {
            decoded: if decode { entries.len() } else { 0 },
            bytes,
            entries,
            memo: Memo::default(),
            all: OnceLock::new(),
        }
    }

    pub(crate) fn view(&self) -> HeaderView<'_> {
        HeaderView {
            bytes: &self.bytes,
            entries: &self.entries,
            decoded: self.decoded,
        }
    }

    /// The bytes the spans point into (a frame's command line and body live there too).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `bytes[range]` as text (lossy, kept under `key` when not UTF-8).
    pub(crate) fn text_at(&self, range: Range<usize>, key: usize) -> &str {
        let raw = &self.bytes[range];
        match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(_) => self.memo.get_or_make(key, || text(raw, false).into_owned()),
        }
    }

    /// Appends a header as given (no decoding): for building frames in tests and fakes.
    pub fn push(&mut self, name: &str, value: &str) {
        let mut builder = Builder::from(std::mem::take(self));
        builder.push(name, value);
        *self = builder.finish();
    }

    /// Appends bytes that are no header (a command line, a body); returns where they are.
    pub(crate) fn append_raw(&mut self, data: &[u8]) -> Range<usize> {
        let mut builder = Builder::from(std::mem::take(self));
        let range = builder.push_raw(data);
        *self = builder.finish();
        range
    }

    /// Entry `i`'s value as text: borrowed when it needs no decoding, else decoded once.
    fn value(&self, i: usize) -> &str {
        let raw = &self.bytes[self.entries[i].value()];
        let decode = i < self.decoded;
        if !decode || memchr::memchr(b'%', raw).is_none() {
            if let Ok(text) = std::str::from_utf8(raw) {
                return text;
            }
        }
        self.memo.get_or_make(i, || text(raw, decode).into_owned())
    }

    /// The first header with this name (case-insensitive); `_undef_` reads as `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_raw(name).filter(|v| *v != UNDEF)
    }

    /// The first header with this name (case-insensitive), `_undef_` included: for command
    /// frames, where FreeSWITCH reads values literally.
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.view().position(name).map(|i| self.value(i))
    }

    /// The first header named `prefix` + `name` (both case-insensitive), without allocating.
    pub fn get_prefixed(&self, prefix: &str, name: &str) -> Option<&str> {
        let i = self.view().position_prefixed(prefix, name)?;
        Some(self.value(i)).filter(|v| *v != UNDEF)
    }

    /// Every value of this header, in order; `_undef_` values are skipped.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let (view, lossy) = (self.view(), Lossy::of("", name));
        // Decoded all at once: a block of many duplicates costs one pass, not one per value.
        let wanted = (0..self.len()).filter(move |&i| view.named(i, "", name, lossy));
        wanted
            .map(move |i| self.all_text(i).1)
            .filter(|v| *v != UNDEF)
    }

    /// All headers in wire order, values decoded, `_undef_` kept as is.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        (0..self.len()).map(move |i| self.all_text(i))
    }

    fn all_text(&self, i: usize) -> (&str, &str) {
        let all = self.all.get_or_init(|| {
            let view = self.view();
            let owned = |text: Cow<'_, str>| match text {
                Cow::Borrowed(_) => None,
                Cow::Owned(text) => Some(text),
            };
            (0..self.len())
                .map(|i| (owned(view.name_text(i)), owned(view.value(i))))
                .collect()
        });
        let raw = |range| std::str::from_utf8(&self.bytes[range]).unwrap_or_default();
        let entry = self.entries[i];
        let name = all[i].0.as_deref().unwrap_or_else(|| raw(entry.name()));
        let value = all[i].1.as_deref().unwrap_or_else(|| raw(entry.value()));
        (name, value)
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
    #[cfg(test)]
    pub(crate) fn parse_lines<'a>(
        lines: impl Iterator<Item = &'a [u8]>,
        decode: bool,
        max_headers: usize,
    ) -> Result<Self, FrameError> {
        let mut builder = Builder::default();
        for (index, line) in lines.enumerate() {
            if index >= max_headers {
                return Err(FrameError::TooManyHeaders { limit: max_headers });
            }
            let colon = name_end(line).ok_or_else(|| FrameError::MalformedLine {
                line: index + 1,
                text: snippet(line),
            })?;
            builder.push_line(line, colon);
        }
        let mut headers = builder.finish();
        headers.decoded = if decode { headers.len() } else { 0 };
        Ok(headers)
    }
}

/// Builds a header list (and the raw parts of a frame) in one growing buffer.
#[derive(Default)]
pub(crate) struct Builder {
    buf: Vec<u8>,
    entries: Vec<Entry>,
    decoded: usize,
}

impl From<Headers> for Builder {
    fn from(headers: Headers) -> Self {
        Builder {
            buf: Vec::from(headers.bytes),
            entries: headers.entries,
            decoded: headers.decoded,
        }
    }
}

impl Builder {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// A header, literally: `name: value`.
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        let start = self.buf.len();
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b": ");
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(b'\n');
        let end = self.buf.len() - 1;
        self.entries
            .push(Entry::new(start, start + name.len(), end));
    }

    #[cfg(test)]
    fn push_line(&mut self, line: &[u8], colon: usize) {
        let start = self.buf.len();
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.entries
            .push(Entry::new(start, start + colon, start + line.len()));
    }

    pub(crate) fn push_raw(&mut self, data: &[u8]) -> Range<usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(data);
        start..self.buf.len()
    }

    pub(crate) fn finish(self) -> Headers {
        let mut headers = Headers::from_parts(Bytes::from(self.buf), self.entries, false);
        headers.decoded = self.decoded;
        headers
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.view(), other.view());
        self.len() == other.len()
            && (0..self.len()).all(|i| a.name_text(i) == b.name_text(i) && a.value(i) == b.value(i))
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let view = self.view();
        let pairs = (0..self.len()).map(|i| (view.name_text(i), view.value(i)));
        f.debug_list().entries(pairs).finish()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        let mut builder = Builder::default();
        for (n, v) in iter {
            builder.push(n, v);
        }
        builder.finish()
    }
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
