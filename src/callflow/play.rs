//! The `play` module: what to play and how. Owns the classification of a play id and which
//! files a web app may name ([`MediaRoots`]); turning an id into a `playback` argument
//! (e.g. `http_cache://`) is the engine's business.

use super::value::{FsSource, HttpUrl, InvalidValue, MediaId};

/// What `play` plays, classified from the id text.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayId {
    /// `http://` or `https://` (scheme in any case): fetched through `http_cache://`.
    Url(HttpUrl),
    /// A FreeSWITCH path starting with `/`, without `.` or `..` segments.
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
        let id = if s.starts_with('/') {
            FsSource::new(s).map(PlayId::Path)?
        } else if FsSource::STREAM_PREFIXES.iter().any(|p| s.starts_with(p)) {
            FsSource::new(s).map(PlayId::Stream)?
        } else {
            return MediaId::new(s).map(PlayId::Media);
        };
        if let Some(file) = id.file() {
            clean_path(file)?;
        }
        Ok(id)
    }

    /// The file FreeSWITCH reads for this id, when it names one: a path, or the tone script
    /// of `tone_stream://path=<file>` (mod_tone_stream opens it).
    pub fn file(&self) -> Option<&str> {
        match self {
            PlayId::Path(p) => Some(p.as_str()),
            PlayId::Stream(s) => {
                let spec = s.as_str().strip_prefix("tone_stream://")?;
                let file = spec
                    .get(..5)?
                    .eq_ignore_ascii_case("path=")
                    .then(|| &spec[5..])?;
                // `;loops=` ends the file name (mod_tone_stream cuts it off first).
                let lower = file.to_ascii_lowercase();
                Some(lower.find(";loops=").map_or(file, |i| &file[..i]))
            }
            PlayId::Url(_) | PlayId::Media(_) => None,
        }
    }
}

/// An absolute path without `.` or `..` segments: what a media root check can rely on.
fn clean_path(path: &str) -> Result<(), InvalidValue> {
    if !path.starts_with('/') {
        return Err(InvalidValue(format!(
            "a file must be an absolute path, got {}",
            super::value::preview(path)
        )));
    }
    if path.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(InvalidValue(format!(
            "a path must not contain `.` or `..` segments, got {}",
            super::value::preview(path)
        )));
    }
    Ok(())
}

/// The directories (on the FreeSWITCH host) whose files a web app's `play` may name
/// (`[media] media_roots`). The recordings directory is left out unless the operator names
/// it (or a directory inside it) as a root: a web app could otherwise play another call's
/// recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRoots {
    /// Without trailing `/` (so `/` itself is ``).
    roots: Vec<String>,
    /// The recordings directory when it is not a root itself.
    recordings: Option<String>,
}

impl MediaRoots {
    pub fn new(roots: &[String], recordings_dir: &str) -> MediaRoots {
        let roots: Vec<String> = roots.iter().map(|r| trim_dir(r).to_string()).collect();
        let recordings = trim_dir(recordings_dir).to_string();
        let named = roots
            .iter()
            .any(|r| under(r, &recordings) || *r == recordings);
        MediaRoots {
            roots,
            recordings: (!named).then_some(recordings),
        }
    }

    /// Whether a web app may play `id`: URLs, streams and media ids always; files only
    /// under a root and outside the recordings directory.
    pub fn check(&self, id: &PlayId) -> Result<(), InvalidValue> {
        let Some(file) = id.file() else {
            return Ok(());
        };
        if self.recordings.as_deref().is_some_and(|r| under(file, r)) {
            return Err(InvalidValue(
                "a file in the recordings directory cannot be played ([media] media_roots)".into(),
            ));
        }
        if !self.roots.iter().any(|r| under(file, r)) {
            return Err(InvalidValue(format!(
                "{} is not under a media directory of this server ([media] media_roots)",
                super::value::preview(file)
            )));
        }
        Ok(())
    }
}

fn trim_dir(dir: &str) -> &str {
    dir.trim_end_matches('/')
}

/// `path` is inside `dir` (a directory without trailing `/`).
fn under(path: &str, dir: &str) -> bool {
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/'))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(list: &[&str], recordings: &str) -> MediaRoots {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        MediaRoots::new(&list, recordings)
    }

    fn check(r: &MediaRoots, id: &str) -> Result<(), String> {
        let id = PlayId::parse(id).map_err(|e| e.0)?;
        r.check(&id).map_err(|e| e.0)
    }

    #[test]
    fn dot_segments_are_refused_for_everyone() {
        for bad in [
            "/var/lib/pivot/media/../../../tmp/x.wav",
            "/var/lib/pivot/media/./x.wav",
            "/..",
            "tone_stream://path=/var/lib/pivot/media/../x.ttml",
        ] {
            let e = PlayId::parse(bad).unwrap_err().0;
            assert!(e.contains("`..` segments"), "{bad}: {e}");
        }
        assert!(PlayId::parse("/var/lib/pivot/media/a..b.wav").is_ok());
        let e = PlayId::parse("tone_stream://PATH=tones.ttml")
            .unwrap_err()
            .0;
        assert!(e.contains("absolute path"), "{e}");
    }

    #[test]
    fn files_must_be_under_a_root() {
        let r = roots(&["/var/lib/pivot/media/"], "/tmp");
        assert_eq!(check(&r, "/var/lib/pivot/media/welcome.wav"), Ok(()));
        assert_eq!(check(&r, "/var/lib/pivot/media/en/hello.wav"), Ok(()));
        let e = check(&r, "/etc/passwd").unwrap_err();
        assert!(e.contains("not under a media directory"), "{e}");
        assert!(
            !e.contains("/var/lib/pivot/media"),
            "roots are not shown: {e}"
        );
        assert!(check(&r, "/var/lib/pivot/media-other/x.wav").is_err());
        assert!(
            check(&r, "/var/lib/pivot/media").is_err(),
            "the directory itself"
        );
        // A tone script is a file too; other streams, URLs and media ids are not.
        assert!(check(&r, "tone_stream://path=/etc/tones.ttml;loops=2").is_err());
        assert_eq!(
            check(&r, "tone_stream://path=/var/lib/pivot/media/t.ttml;loops=2"),
            Ok(())
        );
        for ok in [
            "tone_stream://%(250,0,800)",
            "silence_stream://1000",
            "local_stream://moh",
            "https://example.com/a.mp3",
            "welcome.wav",
        ] {
            assert_eq!(check(&r, ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn the_recordings_directory_is_never_a_root_unless_named() {
        let r = roots(&["/"], "/tmp/");
        assert_eq!(check(&r, "/usr/share/sounds/a.wav"), Ok(()));
        let e = check(&r, "/tmp/3f1e0c4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b.wav").unwrap_err();
        assert!(e.contains("recordings directory"), "{e}");
        let named = roots(&["/var/lib/pivot/media", "/tmp"], "/tmp");
        assert_eq!(check(&named, "/tmp/greeting.wav"), Ok(()));
        let inside = roots(&["/tmp/public"], "/tmp");
        assert_eq!(check(&inside, "/tmp/public/a.wav"), Ok(()));
        assert!(check(&inside, "/tmp/other.wav").is_err());
    }
}
