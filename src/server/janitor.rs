//! The cleanup of leftover recordings: at start and then periodically, files in
//! `media.recordings_dir` that carry pivot's own recording names (`<uuid>.mp3`,
//! `<uuid>.wav`, `<uuid>-<n>.wav`) and are older than `media.recordings_max_age_secs` are
//! deleted (a recording whose upload failed, or that had nowhere to go). Nothing else in
//! the directory is ever touched. Each pass is bounded; none runs when
//! `media.keep_recordings` is set, and it only finds files when pivot sees the directory
//! (same host or a shared volume).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::Engine;

/// Directory entries looked at in one pass, and files deleted in one pass.
const MAX_SCAN: usize = 100_000;
const MAX_DELETE: usize = 10_000;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub scanned: usize,
    pub deleted: usize,
    pub failed: usize,
}

/// Starts the periodic cleanup (when it is on); it ends when `stop` fires.
pub(super) fn spawn(tracker: &TaskTracker, engine: Arc<Engine>, stop: CancellationToken) {
    let Some(age) = engine.config.media.cleanup_age() else {
        return;
    };
    let dir = PathBuf::from(&engine.config.media.recordings_dir);
    // Often enough that leftovers never live much past their age, rarely enough to cost
    // nothing: a quarter of the age, between a minute and an hour.
    let every = (age / 4).clamp(Duration::from_secs(60), Duration::from_secs(3600));
    tracker.spawn(async move {
        loop {
            pass(&engine, dir.clone(), age).await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
        }
    });
}

async fn pass(engine: &Engine, dir: PathBuf, age: Duration) {
    let shown = dir.display().to_string();
    let swept = tokio::task::spawn_blocking(move || sweep(&dir, age, SystemTime::now())).await;
    match swept {
        Ok(Ok(s)) => {
            let deleted = s.deleted as u64;
            engine
                .stats
                .recordings_cleaned
                .fetch_add(deleted, Ordering::Relaxed);
            if s.deleted > 0 || s.failed > 0 {
                tracing::info!(dir = %shown, deleted = s.deleted, failed = s.failed, "leftover recordings cleaned up");
            }
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            // FreeSWITCH on another host: the directory is its, not pivot's.
            tracing::debug!(dir = %shown, "no leftover recordings to clean up: pivot does not see media.recordings_dir");
        }
        Ok(Err(e)) => {
            tracing::warn!(dir = %shown, error = %e, "cannot clean up leftover recordings")
        }
        Err(e) => tracing::warn!(error = %e, "the recordings cleanup failed"),
    }
}

/// Deletes the recordings in `dir` last modified more than `age` before `now`. Bounded:
/// at most [`MAX_SCAN`] entries looked at and [`MAX_DELETE`] files deleted per call.
pub fn sweep(dir: &Path, age: Duration, now: SystemTime) -> std::io::Result<Swept> {
    let mut swept = Swept::default();
    for entry in std::fs::read_dir(dir)?.take(MAX_SCAN) {
        swept.scanned += 1;
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_recording_name) {
            continue;
        }
        // Not followed: a symlink or a directory with such a name is left alone.
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|d| d > age);
        if !meta.is_file() || !old {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => swept.deleted += 1,
            Err(_) => swept.failed += 1,
        }
        if swept.deleted + swept.failed >= MAX_DELETE {
            break;
        }
    }
    Ok(swept)
}

/// pivot's own recording names: `<uuid>.mp3`, `<uuid>.wav` and `<uuid>-<n>.wav` (the
/// later recordings of a TwiML document), the uuid being FreeSWITCH's Unique-ID.
pub fn is_recording_name(name: &str) -> bool {
    let (stem, ext) = match name.rsplit_once('.') {
        Some(split) => split,
        None => return false,
    };
    match ext {
        "mp3" => is_uuid(stem),
        "wav" => match stem.get(36..) {
            Some("") => is_uuid(stem),
            Some(n) => {
                let digits = n.strip_prefix('-').unwrap_or("");
                is_uuid(&stem[..36])
                    && !digits.is_empty()
                    && digits.len() <= 9
                    && digits.bytes().all(|b| b.is_ascii_digit())
            }
            None => false,
        },
        _ => false,
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal digits in any case.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1e0c4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn only_pivots_own_names_are_recordings() {
        for ok in [
            format!("{ID}.mp3"),
            format!("{ID}.wav"),
            format!("{ID}-2.wav"),
            format!("{ID}-17.wav"),
            ID.to_uppercase() + ".wav",
        ] {
            assert!(is_recording_name(&ok), "{ok}");
        }
        for bad in [
            format!("{ID}.txt"),
            format!("{ID}-2.mp3"),
            format!("{ID}-.wav"),
            format!("{ID}-x.wav"),
            format!("{ID}.wav.bak"),
            format!("x{ID}.wav"),
            "greeting.wav".to_string(),
            "3f1e0c4a5b6d4e7f8a9b0c1d2e3f4a5b.wav".to_string(),
            ".wav".to_string(),
            "wav".to_string(),
        ] {
            assert!(!is_recording_name(&bad), "{bad}");
        }
    }

    #[test]
    fn old_recordings_go_and_everything_else_stays() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| std::fs::write(dir.path().join(name), b"RIFF").unwrap();
        write(&format!("{ID}.wav"));
        write(&format!("{ID}-2.wav"));
        write("greeting.wav");
        write("notes.txt");
        std::fs::create_dir(dir.path().join(format!("{ID}.mp3"))).unwrap();
        let day = Duration::from_secs(86_400);
        // Just written: nothing is old enough yet.
        let s = sweep(dir.path(), day, SystemTime::now()).unwrap();
        assert_eq!((s.deleted, s.failed), (0, 0));
        // A day and a bit later, the two recordings go; the rest stays.
        let later = SystemTime::now() + day + Duration::from_secs(60);
        let s = sweep(dir.path(), day, later).unwrap();
        assert_eq!((s.scanned, s.deleted, s.failed), (5, 2, 0));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!("{ID}.mp3"),
                "greeting.wav".into(),
                "notes.txt".into()
            ]
        );
    }

    #[test]
    fn a_directory_pivot_cannot_see_is_an_error_not_a_panic() {
        let e = sweep(
            Path::new("/nonexistent/pivot/recordings"),
            Duration::ZERO,
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
