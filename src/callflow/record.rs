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
