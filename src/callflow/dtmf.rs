//! Tones pivot sends: the `send_dtmf` module (Piston's, as Kazoo's callflow module; TwiML
//! `<Play digits>`) and the digit strings also sent to a dialed party (`<Number
//! sendDigits>`). Owns the digit grammar (FreeSWITCH's: `0-9 * # A-D`, `w` half a second,
//! `W` a second) and how long a sequence takes; the `send_dtmf` argument is the engine's.

use std::time::Duration;

use super::value::{preview, InvalidValue};

/// Digits to send: 1 to [`DtmfSequence::MAX_LEN`] of `0-9 * # A-D` (`a-d` are upper-cased),
/// `w` (wait half a second) and `W` (wait a second). Nothing else: no `+` (FreeSWITCH's
/// group separator), `@` (its duration mark), `,` or space, so it can be one argument of
/// `send_dtmf` and one value inside a dial string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtmfSequence(String);

impl DtmfSequence {
    /// FreeSWITCH refuses a whole `send_dtmf` string of more than 99 bytes; 64 digits and
    /// `@<ms>` stay under it.
    pub const MAX_LEN: usize = 64;

    pub fn new(s: &str) -> Result<DtmfSequence, InvalidValue> {
        let ok = |c: char| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d' | 'w' | 'W');
        if s.is_empty() || s.len() > Self::MAX_LEN || !s.chars().all(ok) {
            return Err(InvalidValue(format!(
                "digits are 1 to {} of 0-9, *, #, A-D, w (wait 0.5 s) and W (wait 1 s), got {}",
                Self::MAX_LEN,
                preview(s)
            )));
        }
        let digits = s
            .chars()
            .map(|c| match c {
                'a'..='d' => c.to_ascii_uppercase(),
                c => c,
            })
            .collect();
        Ok(DtmfSequence(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How long FreeSWITCH takes to send the sequence with tones of `tone` each: the tones
    /// plus the waits (`w` 500 ms, `W` 1000 ms, as its RTP stack queues them).
    pub fn duration(&self, tone: Duration) -> Duration {
        self.0
            .chars()
            .map(|c| match c {
                'w' => Duration::from_millis(500),
                'W' => Duration::from_secs(1),
                _ => tone,
            })
            .sum()
    }
}

/// `send_dtmf`: send `digits` to the caller, each tone `tone` long, then go on once they are
/// out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendDtmf {
    pub digits: DtmfSequence,
    /// [`SendDtmf::MIN_TONE`]..=[`SendDtmf::MAX_TONE`].
    pub tone: Duration,
}

impl SendDtmf {
    /// Kazoo's `send_dtmf` default (`duration_ms`), which Piston keeps.
    pub const DEFAULT_TONE: Duration = Duration::from_millis(2000);
    /// FreeSWITCH's default tone (`default-dtmf-duration`, 2000 samples at 8 kHz), used for
    /// TwiML digits.
    pub const TWIML_TONE: Duration = Duration::from_millis(250);
    /// FreeSWITCH ignores a duration of 50 ms or less (at 8 kHz) and sends its default.
    pub const MIN_TONE: Duration = Duration::from_millis(60);
    /// FreeSWITCH's longest tone (192000 samples) at 48 kHz; longer is cut.
    pub const MAX_TONE: Duration = Duration::from_millis(4000);

    pub fn new(digits: DtmfSequence, tone: Duration) -> SendDtmf {
        SendDtmf {
            digits,
            tone: tone.clamp(Self::MIN_TONE, Self::MAX_TONE),
        }
    }

    /// How long sending takes.
    pub fn duration(&self) -> Duration {
        self.digits.duration(self.tone)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_waits_as_freeswitch_sends_them() {
        let d = DtmfSequence::new("ww1a#W*").unwrap();
        assert_eq!(d.as_str(), "ww1A#W*");
        // Four tones, two half-second waits and a one-second wait.
        let tone = Duration::from_millis(250);
        assert_eq!(
            d.duration(tone),
            Duration::from_millis(4 * 250 + 2 * 500 + 1000)
        );
        for bad in [
            "",
            "1 2",
            "1,2",
            "1+2",
            "1@100",
            "E",
            "${x}",
            &"1".repeat(65),
        ] {
            assert!(DtmfSequence::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tones_are_kept_within_what_freeswitch_sends() {
        let d = DtmfSequence::new("1").unwrap();
        let short = SendDtmf::new(d.clone(), Duration::from_millis(1));
        assert_eq!(short.tone, SendDtmf::MIN_TONE);
        let long = SendDtmf::new(d, Duration::from_secs(60));
        assert_eq!(long.tone, SendDtmf::MAX_TONE);
        assert_eq!(long.duration(), SendDtmf::MAX_TONE);
    }
}
