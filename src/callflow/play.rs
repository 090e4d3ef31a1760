//! The `play` module: what to play and how. Owns the classification of a play id; turning
//! it into a `playback` argument (e.g. `http_cache://`) is the engine's business.

use super::value::{FsSource, HttpUrl, InvalidValue, MediaId};

/// What `play` plays, classified from the id text.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayId {
    /// `http://` or `https://` (scheme in any case): fetched through `http_cache://`.
    Url(HttpUrl),
    /// A FreeSWITCH path starting with `/`.
    Path(FsSource),
    /// `tone_stream://`, `silence_stream://` or `local_stream://`.
    Stream(FsSource),
    /// Anything else: a media id in the configured media directory.
    Media(MediaId),
}

impl PlayId {
    pub const MAX_LEN: usize = 2048;

    /// Classifies and validates an id: http(s) URL, `/` path, known stream, else media id.
    pub fn parse(s: &str) -> Result<PlayId, InvalidValue> {
        if s.len() > Self::MAX_LEN {
            return Err(InvalidValue(format!("longer than {} bytes", Self::MAX_LEN)));
        }
        let lower_scheme = s.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
        if lower_scheme.starts_with("http://") || lower_scheme.starts_with("https://") {
            return HttpUrl::new(s).map(PlayId::Url);
        }
        if s.starts_with('/') {
            return FsSource::new(s).map(PlayId::Path);
        }
        if FsSource::STREAM_PREFIXES.iter().any(|p| s.starts_with(p)) {
            return FsSource::new(s).map(PlayId::Stream);
        }
        MediaId::new(s).map(PlayId::Media)
    }
}

/// `play`: `playback` of one id, `loop_count` times or until hangup when `endless`.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub id: PlayId,
    /// Answer the call first (default true).
    pub answer: bool,
    /// Keys that stop the playback; `None` leaves FreeSWITCH's default.
    pub terminators: Option<super::value::DtmfKeys>,
    /// 1..=[`Play::MAX_LOOP_COUNT`].
    pub loop_count: u32,
    pub endless: bool,
}

impl Play {
    pub const DEFAULT_LOOP_COUNT: u32 = 1;
    pub const MAX_LOOP_COUNT: u32 = 1000;

    /// A play with every default.
    pub fn new(id: PlayId) -> Play {
        Play {
            id,
            answer: true,
            terminators: None,
            loop_count: Self::DEFAULT_LOOP_COUNT,
            endless: false,
        }
    }
}
