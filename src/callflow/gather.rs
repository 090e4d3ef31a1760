//! The `gather` module (TwiML `<Gather>`): prompts that the first key press interrupts, then
//! digits collected until a count, a finishing key or a pause between keys. Owns the data
//! and its limits; running the prompts and reading DTMF is the engine's business.

use std::time::Duration;

use super::play::Play;
use super::request::TwimlAction;
use super::say::Tts;
use super::value::DtmfKeys;

/// Something the caller hears while a [`Gather`] waits for keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Tts(Tts),
    Play(Play),
    /// Silence; at most [`crate::callflow::Module::MAX_SLEEP`].
    Pause(Duration),
}

/// `gather`: play `prompts` (a key stops them), then collect digits. With digits, the
/// engine asks `action` for the next document, carrying them; without, the flow goes on to
/// the `_` child (the next verb).
#[derive(Debug, Clone, PartialEq)]
pub struct Gather {
    /// At most [`Gather::MAX_PROMPTS`].
    pub prompts: Vec<Prompt>,
    pub action: TwimlAction,
    /// The wait for the first key after the prompts and between keys,
    /// [`Gather::MIN_TIMEOUT`]..=[`Gather::MAX_TIMEOUT`].
    pub timeout: Duration,
    /// Keys that end the input (not part of the digits); may be empty.
    pub finish_on_key: DtmfKeys,
    /// Stop after this many digits, 1..=[`Gather::MAX_DIGITS`]; `None` collects up to
    /// [`Gather::MAX_DIGITS`].
    pub num_digits: Option<u32>,
}

impl Gather {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
    pub const DEFAULT_FINISH_ON_KEY: &'static str = "#";
    pub const MAX_DIGITS: u32 = 128;
    pub const MAX_PROMPTS: usize = 32;

    /// A gather with Twilio's defaults: no prompt, 5 s, `#`, any number of digits.
    pub fn new(action: TwimlAction) -> Gather {
        Gather {
            prompts: Vec::new(),
            action,
            timeout: Self::DEFAULT_TIMEOUT,
            finish_on_key: DtmfKeys::from_chars(['#']).unwrap_or_default(),
            num_digits: None,
        }
    }

    /// How many digits to collect at most.
    pub fn max_digits(&self) -> u32 {
        self.num_digits.unwrap_or(Self::MAX_DIGITS)
    }
}
