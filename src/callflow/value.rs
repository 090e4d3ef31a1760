//! Validated leaf values of the flow model: each type can only be built through a checking
//! constructor, so text that reaches an event-socket command is already known to be safe.
//! Knows nothing of JSON or XML, and nothing of how the engine quotes arguments.

use std::fmt;

pub use super::url::{HttpUrl, Trust};

/// Why a value was refused. The parser adds the path of the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// Shows at most 40 characters of a refused value, with control characters escaped.
pub(crate) fn preview(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("\"{out}\"")
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                Self::new(s)
            }
        }
    };
}

/// A short word for FreeSWITCH: `[A-Za-z0-9_.-]{1,64}`. Used for say type/method, language,
/// gender, TTS engine and voice, and digit collection names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(String);
string_newtype!(Token);

impl Token {
    pub const MAX_LEN: usize = 64;
    pub fn new(s: &str) -> Result<Token, InvalidValue> {
        if s.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(invalid(format!("longer than {} bytes", Self::MAX_LEN)));
        }
        if !s.chars().all(is_token_char) {
            return Err(invalid(format!(
                "only letters, digits, '_', '.' and '-' are allowed, got {}",
                preview(s)
            )));
        }
        Ok(Token(s.to_owned()))
    }

    /// For the model's own defaults, which are known-good literals.
    pub(crate) fn from_static(s: &'static str) -> Token {
        debug_assert!(Token::new(s).is_ok(), "bad built-in token {s}");
        Token(s.to_owned())
    }
}

/// Text to speak or say: anything but NUL, 1 to 4096 bytes, not only whitespace.
/// It may hold newlines, `|`, quotes and `$`: the engine must carry it safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);
string_newtype!(Text);

impl Text {
    pub const MAX_LEN: usize = 4096;
    pub fn new(s: &str) -> Result<Text, InvalidValue> {
        if s.trim().is_empty() {
            return Err(invalid("must not be empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(invalid(format!("longer than {} bytes", Self::MAX_LEN)));
        }
        if s.contains('\0') {
            return Err(invalid("must not contain NUL"));
        }
        Ok(Text(s.to_owned()))
    }

    /// True when the text can be one argument of FreeSWITCH's `say` application once the
    /// engine single-quotes it: no control characters, `'`, `\`, `$`, `{` or `}`, and at most
    /// 256 bytes.
    pub fn is_say_argument(&self) -> bool {
        self.0.len() <= 256
            && !self
                .0
                .chars()
                .any(|c| c.is_control() || matches!(c, '\'' | '\\' | '$' | '{' | '}'))
    }
}

/// A SIP/FreeSWITCH hangup cause such as `USER_BUSY`: `[A-Z_]{1,64}` (lower case is accepted
/// and upper-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HangupCause(String);
string_newtype!(HangupCause);

impl HangupCause {
    pub fn new(s: &str) -> Result<HangupCause, InvalidValue> {
        if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            return Err(invalid(format!(
                "a hangup cause is 1 to 64 letters or '_' (e.g. NORMAL_CLEARING), got {}",
                preview(s)
            )));
        }
        Ok(HangupCause(s.to_ascii_uppercase()))
    }
}

/// A set of DTMF keys, `0-9 * # A-D` (lower-case `a-d` are upper-cased), each at most once,
/// in the order first given. May be empty (no key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DtmfKeys(String);
string_newtype!(DtmfKeys);

impl DtmfKeys {
    pub fn new(s: &str) -> Result<DtmfKeys, InvalidValue> {
        Self::from_chars(s.chars())
    }

    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> Result<DtmfKeys, InvalidValue> {
        let mut keys = String::new();
        for c in chars {
            let c = c.to_ascii_uppercase();
            if !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D') {
                return Err(invalid(format!(
                    "DTMF keys are 0-9, *, # and A-D, got {}",
                    preview(&c.to_string())
                )));
            }
            if !keys.contains(c) {
                keys.push(c);
            }
        }
        Ok(DtmfKeys(keys))
    }

    pub fn contains(&self, key: char) -> bool {
        self.0.contains(key.to_ascii_uppercase())
    }

    pub fn chars(&self) -> impl Iterator<Item = char> + '_ {
        self.0.chars()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A media id looked up in the configured media directory: `[A-Za-z0-9_.-]{1,255}`
/// without `..`, so it can never leave that directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaId(String);
string_newtype!(MediaId);

impl MediaId {
    pub fn new(s: &str) -> Result<MediaId, InvalidValue> {
        if s.is_empty() || s.len() > 255 || !s.chars().all(is_token_char) || s.contains("..") {
            return Err(invalid(format!(
                "a media id is 1 to 255 letters, digits, '_', '.' or '-' without \"..\", got {}",
                preview(s)
            )));
        }
        Ok(MediaId(s.to_owned()))
    }
}

/// A FreeSWITCH file path (`/...`) or stream (`tone_stream://`, `silence_stream://`,
/// `local_stream://`) given to `playback` as is: at most 1024 bytes, no control
/// characters, no `$` (FreeSWITCH must never expand a variable in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsSource(String);
string_newtype!(FsSource);

impl FsSource {
    pub const STREAM_PREFIXES: [&'static str; 3] =
        ["tone_stream://", "silence_stream://", "local_stream://"];

    pub fn new(s: &str) -> Result<FsSource, InvalidValue> {
        let is_stream = Self::STREAM_PREFIXES.iter().any(|p| s.starts_with(p));
        if !s.starts_with('/') && !is_stream {
            return Err(invalid(format!(
                "expected a path starting with '/' or a FreeSWITCH stream, got {}",
                preview(s)
            )));
        }
        if s.len() > 1024 {
            return Err(invalid("longer than 1024 bytes"));
        }
        if s.chars().any(|c| c.is_control() || c == '$') {
            return Err(invalid(format!(
                "must not contain control characters or '$', got {}",
                preview(s)
            )));
        }
        Ok(FsSource(s.to_owned()))
    }

    pub fn is_stream(&self) -> bool {
        !self.0.starts_with('/')
    }
}

/// A SIP reason phrase for `respond`: printable text, at most 128 bytes, no `$`; may be
/// empty (FreeSWITCH then uses the standard phrase for the code).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReasonPhrase(String);
string_newtype!(ReasonPhrase);

impl ReasonPhrase {
    pub fn new(s: &str) -> Result<ReasonPhrase, InvalidValue> {
        if s.len() > 128 {
            return Err(invalid("longer than 128 bytes"));
        }
        if s.chars().any(|c| c.is_control() || c == '$') {
            return Err(invalid(format!(
                "must not contain control characters or '$', got {}",
                preview(s)
            )));
        }
        Ok(ReasonPhrase(s.to_owned()))
    }
}

/// An extra HTTP header for the web app's request: the name starts with `X-`
/// (any case) but not `X-Pivot-` (pivot's own headers, such as the signature), and is an
/// RFC 9110 token of at most 256 bytes; the value is at most 4096
/// bytes with no control character other than tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHeader {
    name: String,
    value: String,
}

impl CustomHeader {
    pub fn new(name: &str, value: &str) -> Result<CustomHeader, InvalidValue> {
        let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if !name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-")) {
            return Err(invalid(format!(
                "custom header names must start with \"X-\", got {}",
                preview(name)
            )));
        }
        if name
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("x-pivot-"))
        {
            return Err(invalid(format!(
                "header names starting with \"X-Pivot-\" are pivot's own, got {}",
                preview(name)
            )));
        }
        if name.len() > 256 || !name.chars().all(tchar) {
            return Err(invalid(format!(
                "not a valid header name: {}",
                preview(name)
            )));
        }
        if value.len() > 4096 {
            return Err(invalid("header value longer than 4096 bytes"));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(invalid(format!(
                "header value must not contain CR, LF, NUL or other control characters, got {}",
                preview(value)
            )));
        }
        Ok(CustomHeader {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}
