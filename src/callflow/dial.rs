//! The `dial` module (TwiML `<Dial>`): whom to call, how long to try, what to do with the
//! connected call (a star key ends it, recording), with validated numbers, digits and caller
//! ids that are safe inside a FreeSWITCH dial string (SIP URIs are in `sip`). Building the
//! dial string (from the configured templates) and running `bridge` is the engine's.

use std::time::Duration;

use super::dtmf::DtmfSequence;
use super::request::TwimlAction;
use super::sip::SipUri;
use super::value::{preview, HttpUrl, InvalidValue};

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
    /// A number, and the digits sent to it once it answers (`<Number sendDigits>`).
    Number {
        number: PhoneNumber,
        send_digits: Option<DtmfSequence>,
    },
    Sip(SipUri),
}

impl DialTarget {
    /// A number without digits to send.
    pub fn number(number: PhoneNumber) -> DialTarget {
        DialTarget::Number {
            number,
            send_digits: None,
        }
    }
}

/// Whether and from when the connected call is recorded (`<Dial record>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DialRecord {
    #[default]
    No,
    /// From the callee's answer: only the connected call.
    FromAnswer { dual: bool },
    /// From the start of the dial: the ringing too.
    FromRinging { dual: bool },
}

impl DialRecord {
    /// Twilio's values: `do-not-record`, `record-from-answer`, `record-from-ringing`, their
    /// `-dual` forms (each party on its own channel), and the older `true`/`false`.
    pub fn parse(s: &str) -> Result<DialRecord, InvalidValue> {
        Ok(match s.trim() {
            "do-not-record" | "false" => DialRecord::No,
            "record-from-answer" | "true" => DialRecord::FromAnswer { dual: false },
            "record-from-answer-dual" => DialRecord::FromAnswer { dual: true },
            "record-from-ringing" => DialRecord::FromRinging { dual: false },
            "record-from-ringing-dual" => DialRecord::FromRinging { dual: true },
            _ => {
                return Err(InvalidValue(format!(
                    "expected do-not-record, record-from-answer, record-from-ringing (or their -dual forms), got {}",
                    preview(s)
                )))
            }
        })
    }

    pub fn is_on(self) -> bool {
        self != DialRecord::No
    }
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
    /// The caller's `*` ends the connected call; the flow goes on (`hangupOnStar`).
    pub hangup_on_star: bool,
    pub record: DialRecord,
    /// Where the recording is uploaded (`recordingUrl`, pivot's own); else the configured
    /// default.
    pub upload_url: Option<HttpUrl>,
    /// `answerOnBridge`: `Some(true)` keeps a ringing caller ringing until the callee
    /// answers (pivot's default too), `Some(false)` answers the caller first.
    pub answer_on_bridge: Option<bool>,
}

impl Dial {
    pub const MAX_TARGETS: usize = 10;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
    pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(14_400);

    /// A dial of `targets` with every default.
    pub fn new(targets: Vec<DialTarget>) -> Dial {
        Dial {
            targets,
            action: None,
            timeout: Self::DEFAULT_TIMEOUT,
            caller_id: None,
            time_limit: None,
            hangup_on_star: false,
            record: DialRecord::No,
            upload_url: None,
            answer_on_bridge: None,
        }
    }

    /// The caller is answered before the bridge: asked for (`answerOnBridge="false"`), or
    /// needed by the recording (FreeSWITCH's `record_session` would answer a ringing
    /// caller's media itself).
    pub fn answers_first(&self) -> bool {
        self.answer_on_bridge == Some(false) || self.record.is_on()
    }
}
