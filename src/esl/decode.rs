//! Turning header bytes into text when they are read: `%XX` decoding, lossy UTF-8, and the
//! memo that keeps a decoded value so reading it twice decodes it once. Owns no lookup rules
//! (that is `headers`).

use std::borrow::Cow;
use std::sync::OnceLock;

/// Appends `input` with every `%XX` (two hex digits) turned into its byte. A `%` not followed
/// by two hex digits stays as is; `+` stays `+` (FreeSWITCH never encodes space as `+`).
pub fn percent_decode_into(input: &[u8], out: &mut Vec<u8>) {
    let mut rest = input;
    while let Some(at) = memchr::memchr(b'%', rest) {
        out.extend_from_slice(&rest[..at]);
        match (
            rest.get(at + 1).and_then(hex),
            rest.get(at + 2).and_then(hex),
        ) {
            (Some(h), Some(l)) => {
                out.push((h << 4) | l);
                rest = &rest[at + 3..];
            }
            _ => {
                out.push(b'%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

/// Percent-decodes a value (`%XX` only) and turns it into text, replacing invalid UTF-8.
pub fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    percent_decode_into(input, &mut out);
    lossy_owned(out)
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Bytes as text, invalid UTF-8 replaced, without a copy when they are valid.
pub(crate) fn lossy_owned(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A value as read: decoded when `decode` and it holds a `%`, lossy when not UTF-8, borrowed
/// when neither applies (the common case).
pub(crate) fn text(raw: &[u8], decode: bool) -> Cow<'_, str> {
    if decode && memchr::memchr(b'%', raw).is_some() {
        return Cow::Owned(percent_decode(raw));
    }
    match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

/// Texts decoded so far, by key: an append-only list, so a `&str` handed out stays valid
/// while `&self` lives, without locks or unsafe code. Lookups walk it: it holds only what was
/// read, a handful of values per frame.
#[derive(Default)]
pub(crate) struct Memo {
    head: OnceLock<Box<Node>>,
}

struct Node {
    key: usize,
    text: String,
    next: OnceLock<Box<Node>>,
}

impl Memo {
    /// The text kept for `key`, made by `make` the first time.
    pub(crate) fn get_or_make(&self, key: usize, make: impl Fn() -> String) -> &str {
        let mut slot = &self.head;
        loop {
            let node = match slot.get() {
                Some(node) => node,
                None => slot.get_or_init(|| {
                    Box::new(Node {
                        key,
                        text: make(),
                        next: OnceLock::new(),
                    })
                }),
            };
            if node.key == key {
                return &node.text;
            }
            slot = &node.next;
        }
    }
}

/// A copy starts empty: the memo is a cache of what the bytes already say.
impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

/// Iterative, so a long list can't overflow the stack.
impl Drop for Memo {
    fn drop(&mut self) {
        let mut next = self.head.take();
        while let Some(mut node) = next {
            next = node.next.take();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn memo_makes_each_key_once() {
        let memo = Memo::default();
        let calls = std::cell::Cell::new(0);
        let calls = &calls;
        let make = |s: &'static str| {
            move || {
                calls.set(calls.get() + 1);
                s.to_string()
            }
        };
        assert_eq!(memo.get_or_make(3, make("three")), "three");
        assert_eq!(memo.get_or_make(1, make("one")), "one");
        assert_eq!(memo.get_or_make(3, make("other")), "three");
        assert_eq!(calls.get(), 2);
        assert_eq!(memo.clone().get_or_make(3, make("fresh")), "fresh");
    }

    #[test]
    fn text_borrows_unless_it_must_decode() {
        assert!(matches!(text(b"plain", true), Cow::Borrowed("plain")));
        assert!(matches!(text(b"100%41", false), Cow::Borrowed("100%41")));
        assert_eq!(text(b"100%41", true), "100A");
        assert_eq!(text(b"a\xffb", false), "a\u{fffd}b");
    }
}
