//! `[media]`: speech defaults, the directories on the FreeSWITCH host (media, recordings),
//! which files web apps may play (`media_roots`) and how long recordings stay. Same
//! validator style as the rest of the file.

use std::time::Duration;

use serde::Deserialize;

use super::{set, ConfigError, Validator};
use crate::callflow::MediaRoots;

#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub tts_engine: String,
    pub tts_voice: String,
    /// Directory on the FreeSWITCH host where `record_caller` writes its files.
    pub recordings_dir: String,
    /// Directory on the FreeSWITCH host where `play` looks up media ids.
    pub media_dir: String,
    /// Directories whose files a web app's `play` may name; None: `media_dir` only.
    pub media_roots: Option<Vec<String>>,
    pub beep: String,
    /// Keep recordings after their upload (and never clean up leftovers).
    pub keep_recordings: bool,
    /// Leftover recordings (pivot's own file names) older than this are deleted, at start
    /// and periodically; None: never.
    pub recordings_max_age: Option<Duration>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            tts_engine: "flite".into(),
            tts_voice: "slt".into(),
            recordings_dir: "/tmp".into(),
            media_dir: "/var/lib/pivot/media".into(),
            media_roots: None,
            beep: "tone_stream://%(250,0,800)".into(),
            keep_recordings: false,
            recordings_max_age: Some(Duration::from_secs(86_400)),
        }
    }
}

impl MediaConfig {
    /// What a web app's `play` may name (see [`MediaRoots`]).
    pub fn roots(&self) -> MediaRoots {
        let default = [self.media_dir.clone()];
        let roots = self.media_roots.as_deref().unwrap_or(&default);
        MediaRoots::new(roots, &self.recordings_dir)
    }

    /// How old a leftover recording must be before the cleanup deletes it; None: no cleanup.
    pub fn cleanup_age(&self) -> Option<Duration> {
        self.recordings_max_age.filter(|_| !self.keep_recordings)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMedia {
    tts_engine: Option<String>,
    tts_voice: Option<String>,
    recordings_dir: Option<String>,
    media_dir: Option<String>,
    media_roots: Option<Vec<String>>,
    beep: Option<String>,
    keep_recordings: Option<bool>,
    recordings_max_age_secs: Option<u64>,
}

impl Validator<'_> {
    pub(super) fn media(&self, c: &mut MediaConfig, m: RawMedia) -> Result<(), ConfigError> {
        set(&mut c.tts_engine, m.tts_engine);
        set(&mut c.tts_voice, m.tts_voice);
        set(&mut c.recordings_dir, m.recordings_dir);
        set(&mut c.media_dir, m.media_dir);
        set(&mut c.beep, m.beep);
        set(&mut c.keep_recordings, m.keep_recordings);
        self.word("media.tts_engine", &c.tts_engine)?;
        self.word("media.tts_voice", &c.tts_voice)?;
        self.dir("media.recordings_dir", &c.recordings_dir)?;
        self.dir("media.media_dir", &c.media_dir)?;
        self.path_text("media.beep", &c.beep)?;
        if let Some(roots) = m.media_roots {
            for (i, root) in roots.iter().enumerate() {
                self.dir(&format!("media.media_roots[{i}]"), root)?;
            }
            c.media_roots = Some(roots);
        }
        if let Some(secs) = m.recordings_max_age_secs {
            c.recordings_max_age = (secs > 0).then(|| Duration::from_secs(secs));
        }
        Ok(())
    }

    /// Checks across sections, once everything is read.
    pub(super) fn media_against(
        &self,
        c: &MediaConfig,
        upload_timeout: Duration,
    ) -> Result<(), ConfigError> {
        if c.media_dir.trim_end_matches('/') == c.recordings_dir.trim_end_matches('/') {
            return Err(self.err(
                "media.media_dir",
                "must not be media.recordings_dir: a media id could name another call's recording",
            ));
        }
        if c.recordings_max_age.is_some_and(|age| age < upload_timeout) {
            return Err(self.err(
                "media.recordings_max_age_secs",
                "must be 0 (no cleanup) or at least esl.upload_timeout_secs: a recording may \
                 wait that long for its upload",
            ));
        }
        Ok(())
    }

    /// An absolute directory FreeSWITCH's paths can start with.
    fn dir(&self, key: &str, s: &str) -> Result<(), ConfigError> {
        self.path_text(key, s)?;
        if !s.starts_with('/') || s.split('/').any(|seg| seg == ".." || seg == ".") {
            return Err(self.err(key, "must be an absolute path without `.` or `..` segments"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use crate::callflow::PlayId;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("pivot.toml"), Path::new("/etc/pivot"))
    }

    fn plays(c: &Config, id: &str) -> bool {
        c.media.roots().check(&PlayId::parse(id).unwrap()).is_ok()
    }

    #[test]
    fn media_roots_default_to_the_media_dir() {
        let c = parse("[media]\nmedia_dir = \"/srv/media\"\n").unwrap();
        assert!(plays(&c, "/srv/media/a.wav"));
        assert!(!plays(&c, "/var/lib/pivot/media/a.wav"));
        let c =
            parse("[media]\nmedia_roots = [\"/srv/media\", \"/usr/share/freeswitch/sounds\"]\n")
                .unwrap();
        assert!(plays(
            &c,
            "/usr/share/freeswitch/sounds/en/us/callie/ivr/8000/ivr-welcome.wav"
        ));
        assert!(
            !plays(&c, "/var/lib/pivot/media/a.wav"),
            "the list replaces the default"
        );
    }

    #[test]
    fn recordings_are_kept_out_and_cleaned_up_unless_told() {
        let c = parse("[media]\nmedia_roots = [\"/\"]\n").unwrap();
        assert!(
            !plays(&c, "/tmp/x.wav"),
            "the default recordings_dir is /tmp"
        );
        assert_eq!(
            c.media.cleanup_age(),
            Some(Duration::from_secs(86_400)),
            "a day by default"
        );
        let keep = parse("[media]\nkeep_recordings = true\n").unwrap();
        assert_eq!(
            keep.media.cleanup_age(),
            None,
            "kept recordings are never cleaned"
        );
        let never = parse("[media]\nrecordings_max_age_secs = 0\n").unwrap();
        assert_eq!(never.media.cleanup_age(), None);
    }

    #[test]
    fn bad_media_keys_are_named() {
        for (text, key) in [
            ("media_roots = [\"media\"]", "media.media_roots[0]"),
            ("media_roots = [\"/a/../b\"]", "media.media_roots[0]"),
            ("recordings_dir = \"rec\"", "media.recordings_dir"),
            ("media_dir = \"/tmp/\"", "media.media_dir"),
            (
                "recordings_max_age_secs = 60",
                "media.recordings_max_age_secs",
            ),
        ] {
            let e = parse(&format!("[media]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
        }
    }
}
