//! The `say` and `tts` modules: speech from text. Owns their data and defaults; how they
//! become `say`/`speak` commands is the engine's business.

use super::value::{InvalidValue, Text, Token};

/// How FreeSWITCH's `say` reads a typed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SayMethod {
    #[default]
    Pronounced,
    Iterated,
    Counted,
}

impl SayMethod {
    /// The word FreeSWITCH's `say` application expects.
    pub fn as_str(self) -> &'static str {
        match self {
            SayMethod::Pronounced => "pronounced",
            SayMethod::Iterated => "iterated",
            SayMethod::Counted => "counted",
        }
    }

    /// Case-insensitive: `pronounced`, `iterated` or `counted`.
    pub fn parse(s: &str) -> Result<SayMethod, InvalidValue> {
        match s.to_ascii_lowercase().as_str() {
            "pronounced" => Ok(SayMethod::Pronounced),
            "iterated" => Ok(SayMethod::Iterated),
            "counted" => Ok(SayMethod::Counted),
            _ => Err(InvalidValue(format!(
                "expected \"pronounced\", \"iterated\" or \"counted\", got {}",
                super::value::preview(s)
            ))),
        }
    }
}

/// `say`: without `say_type` the text is spoken by text-to-speech (as [`Tts`]); with it,
/// FreeSWITCH's `say` reads it as `<language> <say_type> <method> [<gender>] <text>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Say {
    pub text: Text,
    pub say_type: Option<Token>,
    pub method: SayMethod,
    pub language: Token,
    pub gender: Option<Token>,
}

impl Say {
    pub const DEFAULT_LANGUAGE: &'static str = "en";

    /// The one constructor parsers use: with a `say_type`, the text must also be a safe
    /// single `say` argument ([`Text::is_say_argument`]).
    pub fn new(
        text: Text,
        say_type: Option<Token>,
        method: SayMethod,
        language: Token,
        gender: Option<Token>,
    ) -> Result<Say, InvalidValue> {
        if say_type.is_some() && !text.is_say_argument() {
            return Err(InvalidValue(
                "with a type, text must be at most 256 bytes without control characters, \
                 quotes, backslashes, '$', '{' or '}'"
                    .into(),
            ));
        }
        Ok(Say {
            text,
            say_type,
            method,
            language,
            gender,
        })
    }

    /// `en`, as a token.
    pub fn default_language() -> Token {
        Token::from_static(Say::DEFAULT_LANGUAGE)
    }

    /// A `say` without type, in the default language: plain text to speech.
    pub fn text(text: Text) -> Say {
        Say {
            text,
            say_type: None,
            method: SayMethod::Pronounced,
            language: Say::default_language(),
            gender: None,
        }
    }
}

/// `tts`: `speak` with `engine|voice|text`; `None` engine/voice/language take the config's
/// defaults at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct Tts {
    pub text: Text,
    pub voice: Option<Token>,
    pub language: Option<Token>,
    pub engine: Option<Token>,
    /// How many times it is spoken, 1..=[`Tts::MAX_LOOPS`] (TwiML's `loop`; Piston: 1).
    pub loops: u32,
}

impl Tts {
    pub const MAX_LOOPS: u32 = 1000;

    /// Plain text to speech with every default, spoken once.
    pub fn text(text: Text) -> Tts {
        Tts {
            text,
            voice: None,
            language: None,
            engine: None,
            loops: 1,
        }
    }
}
