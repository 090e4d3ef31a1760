//! The `dial` module (TwiML `<Dial>`): whom to call and how long to try, with validated
//! numbers, SIP URIs and caller ids that are safe inside a FreeSWITCH dial string. Building
//! the dial string (from the configured templates) and running `bridge` is the engine's.

use std::time::Duration;

use super::request::TwimlAction;
use super::value::{preview, InvalidValue};

/// A phone number to dial: 1 to 32 of `0-9 + * #`. Spaces, `-`, `.`, `(` and `)` that
/// people write in numbers are dropped first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub const MAX_LEN: usize = 32;

    pub fn new(s: &str) -> Result<PhoneNumber, InvalidValue> {
        let n: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let ok = !n.is_empty()
            && n.len() <= Self::MAX_LEN
            && n.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | '*' | '#'));
        if !ok {
            return Err(InvalidValue(format!(
                "a number is 1 to {} of 0-9, '+', '*' and '#', got {}",
                Self::MAX_LEN,
                preview(s)
            )));
        }
        Ok(PhoneNumber(n))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SIP URI to dial, kept without its `sip:`/`sips:` scheme: `user@host[:port][;params]`
/// in a strict character set (letters, digits, `@ . : ; = _ - + ~ % !`), at most 256 bytes.
/// Nothing in it can end or split a dial string (`,` `|` `{` `}` `[` `]` `$` spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri(String);

impl SipUri {
    pub const MAX_LEN: usize = 256;

    pub fn new(s: &str) -> Result<SipUri, InvalidValue> {
        let strip = |p: &str| {
            s.get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| &s[p.len()..])
        };
        let Some(rest) = strip("sips:").or_else(|| strip("sip:")) else {
            return Err(InvalidValue(format!(
                "a SIP URI starts with \"sip:\" or \"sips:\", got {}",
                preview(s)
            )));
        };
        let allowed = |c: char| c.is_ascii_alphanumeric() || "@.:;=_-+~%!".contains(c);
        let host = rest.split('@').nth(1).unwrap_or(rest);
        let ok = !rest.is_empty()
            && rest.len() <= Self::MAX_LEN
            && rest.chars().all(allowed)
            && rest.matches('@').count() <= 1
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
        Ok(SipUri(rest.to_owned()))
    }

    /// The URI without its scheme.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A caller id shown to the called party: 1 to 64 of letters, digits, `+ _ . -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId(String);

impl CallerId {
    pub fn new(s: &str) -> Result<CallerId, InvalidValue> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-'));
        if !ok {
            return Err(InvalidValue(format!(
                "a caller id is 1 to 64 letters, digits, '+', '_', '.' or '-', got {}",
                preview(s)
            )));
        }
        Ok(CallerId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One party to call; several are rung at once, the first to answer wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    Number(PhoneNumber),
    Sip(SipUri),
}

/// `dial`: ring `targets` for `timeout`, connect the first that answers, for at most
/// `time_limit`. Then the engine asks `action` (with the dial's result) or goes on to `_`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dial {
    /// 1..=[`Dial::MAX_TARGETS`].
    pub targets: Vec<DialTarget>,
    pub action: Option<TwimlAction>,
    /// How long to ring, [`Dial::MIN_TIMEOUT`]..=[`Dial::MAX_TIMEOUT`].
    pub timeout: Duration,
    pub caller_id: Option<CallerId>,
    /// Longest connected time, at most [`Dial::MAX_TIME_LIMIT`]; `None`: no limit of pivot's.
    pub time_limit: Option<Duration>,
}

impl Dial {
    pub const MAX_TARGETS: usize = 10;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
    pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(14_400);
}
