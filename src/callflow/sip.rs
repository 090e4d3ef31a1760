//! A SIP URI to dial (TwiML `<Sip>`), and the custom headers its `?X-Name=value` part
//! asks for. Both are checked so that nothing in them can end or split a FreeSWITCH dial
//! string (`,` `|` `[` `]` `{` `}`), expand a variable (`$`) or change the separator of a
//! variable list (`^`); putting them into the dial string is the engine's business.

use super::value::{preview, InvalidValue};

/// A custom header for the INVITE: `X-` and letters, digits or `-` (at most 64 bytes); the
/// value percent-decoded, 1 to 256 bytes of letters, digits, spaces and `-._~!*+/:@=;()?#`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipHeader {
    name: String,
    value: String,
}

impl SipHeader {
    pub const MAX_NAME: usize = 64;
    pub const MAX_VALUE: usize = 256;

    pub fn new(name: &str, raw_value: &str) -> Result<SipHeader, InvalidValue> {
        let name_ok = name.len() > 2
            && name.len() <= Self::MAX_NAME
            && name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"))
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !name_ok {
            return Err(InvalidValue(format!(
                "header {}: pivot passes custom headers only, named X- and letters, digits or '-' (at most {} bytes)",
                preview(name),
                Self::MAX_NAME
            )));
        }
        let value = percent_decode(raw_value).filter(|v| {
            !v.is_empty()
                && v.len() <= Self::MAX_VALUE
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -._~!*+/:@=;()?#".contains(c))
        });
        let Some(value) = value else {
            return Err(InvalidValue(format!(
                "header {name}: the value must be 1 to {} bytes of letters, digits, spaces and -._~!*+/:@=;()?# (percent-encoded in the URI), got {}",
                Self::MAX_VALUE,
                preview(raw_value)
            )));
        };
        Ok(SipHeader {
            name: name.to_owned(),
            value,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

/// `%XX` escapes decoded (a `+` stays a `+`); None for a broken escape or non-ASCII.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                i += 3;
                u8::from_str_radix(hex, 16).ok()?
            }
            b => {
                i += 1;
                b
            }
        };
        if !b.is_ascii() {
            return None;
        }
        out.push(char::from(b));
    }
    Some(out)
}

/// A SIP URI to dial, kept without its `sip:`/`sips:` scheme and its headers:
/// `user@host[:port][;params]` in a strict character set (letters, digits,
/// `@ . : ; = _ - + ~ % !`), at most 256 bytes. The scheme may be left out (`alice@host`, as
/// Kazoo's TwiML documents write it); then the user part is required. A `?X-Name=value&...`
/// part becomes [`SipHeader`]s (at most [`SipUri::MAX_HEADERS`], each name once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    uri: String,
    headers: Vec<SipHeader>,
}

impl SipUri {
    pub const MAX_LEN: usize = 256;
    pub const MAX_HEADERS: usize = 8;

    pub fn new(s: &str) -> Result<SipUri, InvalidValue> {
        let strip = |p: &str| {
            s.get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| &s[p.len()..])
        };
        let (rest, schemeless) = match strip("sips:").or_else(|| strip("sip:")) {
            Some(rest) => (rest, false),
            None => (s, true),
        };
        let (uri, query) = match rest.split_once('?') {
            Some((uri, query)) => (uri, Some(query)),
            None => (rest, None),
        };
        let user = uri.split_once('@').map(|(user, _)| user);
        if schemeless && !user.is_some_and(|u| !u.is_empty() && !u.contains(':')) {
            return Err(InvalidValue(format!(
                "a SIP URI is sip:user@host, sips:user@host or user@host, got {}",
                preview(s)
            )));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "@.:;=_-+~%!".contains(c);
        let host = uri.split('@').nth(1).unwrap_or(uri);
        let ok = !uri.is_empty()
            && uri.len() <= Self::MAX_LEN
            && uri.chars().all(allowed)
            && uri.matches('@').count() <= 1
            && host
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(InvalidValue(format!(
                "not a SIP URI pivot can dial (user@host, letters, digits and @.:;=_-+~%! only): {}",
                preview(s)
            )));
        }
        let headers = match query {
            Some(q) => headers(q)?,
            None => Vec::new(),
        };
        Ok(SipUri {
            uri: uri.to_owned(),
            headers,
        })
    }

    /// The URI without its scheme and headers.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    pub fn headers(&self) -> &[SipHeader] {
        &self.headers
    }
}

/// `X-A=1&X-B=2` → headers; refuses empty parts, duplicates and more than the maximum.
fn headers(query: &str) -> Result<Vec<SipHeader>, InvalidValue> {
    let mut out: Vec<SipHeader> = Vec::new();
    for part in query.split('&') {
        let Some((name, value)) = part.split_once('=') else {
            return Err(InvalidValue(format!(
                "a header is ?X-Name=value, got {}",
                preview(part)
            )));
        };
        let header = SipHeader::new(name, value)?;
        if out
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(&header.name))
        {
            return Err(InvalidValue(format!("header {name} is given twice")));
        }
        out.push(header);
        if out.len() > SipUri::MAX_HEADERS {
            return Err(InvalidValue(format!(
                "at most {} headers",
                SipUri::MAX_HEADERS
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_become_checked_name_value_pairs() {
        let u = SipUri::new("sip:bob@pbx.example.com;transport=tcp?X-Customer=42&x-note=a%20b")
            .unwrap();
        assert_eq!(u.as_str(), "bob@pbx.example.com;transport=tcp");
        let pairs: Vec<_> = u.headers().iter().map(|h| (h.name(), h.value())).collect();
        assert_eq!(pairs, [("X-Customer", "42"), ("x-note", "a b")]);
        let schemeless = SipUri::new("alice@h.example.com?X-A=1").unwrap();
        assert_eq!(schemeless.as_str(), "alice@h.example.com");
        assert_eq!(schemeless.headers().len(), 1);
    }

    /// Nothing that could end a dial string, open a variable list, expand a variable or
    /// change a list's separator gets through, encoded or not.
    #[test]
    fn headers_that_could_break_a_dial_string_are_refused() {
        for bad in [
            "sip:b@h?Subject=x",
            "sip:b@h?X-=1",
            "sip:b@h?X-A",
            "sip:b@h?X-A=",
            "sip:b@h?X-A=1&",
            "sip:b@h?X-A=1&X-a=2",
            "sip:b@h?X-A_B=1",
            "sip:b@h?X-A=a,b",
            "sip:b@h?X-A=a%2Cb",
            "sip:b@h?X-A=%5D",
            "sip:b@h?X-A=%7Bx%7D",
            "sip:b@h?X-A=%24%7Bx%7D",
            "sip:b@h?X-A=%5E%5E:",
            "sip:b@h?X-A=a%0D%0Ab",
            "sip:b@h?X-A=%",
            "sip:b@h?X-A=%zz",
            "sip:b@h?X-A=%C3%A9",
            "sip:b@h?X-A=a|b",
            "sip:b@h?X-A='q'",
        ] {
            assert!(SipUri::new(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..=SipUri::MAX_HEADERS)
            .map(|i| format!("X-H{i}=1"))
            .collect();
        let e = SipUri::new(&format!("sip:b@h?{}", many.join("&"))).unwrap_err();
        assert!(e.0.contains("at most 8 headers"), "{e}");
        let long = format!("sip:b@h?X-A={}", "a".repeat(SipHeader::MAX_VALUE + 1));
        assert!(SipUri::new(&long).is_err());
    }
}
