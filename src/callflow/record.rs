//! The `record_caller` module: record the caller and upload the file. Owns the data and its
//! limits; the `record` command and the upload are the engine's business.

use super::value::HttpUrl;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordFormat {
    #[default]
    Mp3,
    Wav,
}

impl RecordFormat {
    /// The file extension: `mp3` or `wav`.
    pub fn extension(self) -> &'static str {
        match self {
            RecordFormat::Mp3 => "mp3",
            RecordFormat::Wav => "wav",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UploadMethod {
    #[default]
    Put,
    Post,
}

/// `record_caller`: a beep (when `beep`), `record` up to `time_limit` seconds, then upload to
/// `<url>/<call-id>.<format>`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordCaller {
    pub url: HttpUrl,
    pub format: RecordFormat,
    /// Seconds, 1..=[`RecordCaller::MAX_TIME_LIMIT`].
    pub time_limit: u32,
    pub method: UploadMethod,
    pub beep: bool,
}

impl RecordCaller {
    pub const DEFAULT_TIME_LIMIT: u32 = 3600;
    pub const MAX_TIME_LIMIT: u32 = 10800;

    /// A recording with every default.
    pub fn new(url: HttpUrl) -> RecordCaller {
        RecordCaller {
            url,
            format: RecordFormat::Mp3,
            time_limit: Self::DEFAULT_TIME_LIMIT,
            method: UploadMethod::Put,
            beep: true,
        }
    }
}

/// `record` (TwiML `<Record>`): a beep (when `play_beep`), `record` a WAV file until
/// `max_length`, `timeout` of silence or a key of `finish_on_key`; upload it to
/// `<upload_url>/<file>` (else the configured default, else nowhere); then the engine asks
/// `action` with the recording's URL and duration. An empty recording goes on to `_`.
#[derive(Debug, Clone, PartialEq)]
pub struct TwimlRecord {
    pub action: super::request::TwimlAction,
    /// Seconds of silence that end the recording, 0 (never) ..=[`TwimlRecord::MAX_TIMEOUT`].
    pub timeout: u32,
    /// Keys that end the recording; may be empty.
    pub finish_on_key: super::value::DtmfKeys,
    /// Seconds, 1..=[`TwimlRecord::MAX_LENGTH`].
    pub max_length: u32,
    pub play_beep: bool,
    pub upload_url: Option<HttpUrl>,
}

impl TwimlRecord {
    pub const DEFAULT_TIMEOUT: u32 = 5;
    pub const MAX_TIMEOUT: u32 = 3600;
    pub const DEFAULT_MAX_LENGTH: u32 = 3600;
    pub const MAX_LENGTH: u32 = 14_400;
    /// Twilio's default: any key ends the recording.
    pub const DEFAULT_FINISH_ON_KEY: &'static str = "1234567890*#";

    /// A recording with Twilio's defaults.
    pub fn new(action: super::request::TwimlAction) -> TwimlRecord {
        TwimlRecord {
            action,
            timeout: Self::DEFAULT_TIMEOUT,
            finish_on_key: super::value::DtmfKeys::new(Self::DEFAULT_FINISH_ON_KEY)
                .unwrap_or_default(),
            max_length: Self::DEFAULT_MAX_LENGTH,
            play_beep: true,
            upload_url: None,
        }
    }
}
