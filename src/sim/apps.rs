//! The dialplan applications the simulator knows: how long each one takes on a simulated
//! call, and the `Application-Response` FreeSWITCH reports when it ends (esl-notes,
//! "Running applications"). No media is played or read; no I/O here.

use std::time::Duration;

/// Applications the simulated FreeSWITCH runs. Any other makes FreeSWITCH hang up the call
/// (DESTINATION_OUT_OF_ORDER) without an execute event, as a real one does.
const KNOWN: &[&str] = &[
    "answer",
    "pre_answer",
    "playback",
    "endless_playback",
    "speak",
    "say",
    "record",
    "sleep",
    "hangup",
    "respond",
    "set",
    "export",
    "bridge",
    "send_dtmf",
    "record_session",
    "stop_record_session",
];

pub(super) fn is_known(app: &str) -> bool {
    KNOWN.contains(&app)
}

/// How an application ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// It ran to its end.
    Done,
    /// `uuid_break` stopped it.
    Broken,
    /// The channel hung up while it ran.
    Killed,
}

/// Longest a simulated application takes in normal mode, so a demo stays short.
const MAX_SIMULATED: Duration = Duration::from_secs(5);
/// How long a simulated caller speaks into a `record`.
pub(super) const RECORDING: Duration = Duration::from_secs(3);

/// How long `app` plays on the simulated call; `None` runs until broken or hung up.
/// Applications a `uuid_break` ends (FreeSWITCH's channel break flag).
pub(super) fn is_media(app: &str) -> bool {
    matches!(
        app,
        "playback" | "endless_playback" | "speak" | "say" | "sleep" | "record"
    )
}

pub(super) fn duration(app: &str, arg: &str, loops: Option<u32>) -> Option<Duration> {
    let ms = |n: u64| Duration::from_millis(n);
    let one = match app {
        "endless_playback" => return None,
        // About the pace of flite: a quarter second, then 60 ms a word.
        "speak" => {
            let text = arg.splitn(3, '|').nth(2).unwrap_or(arg);
            ms(250 + 60 * text.split_whitespace().count() as u64)
        }
        "say" => ms(1000),
        "playback" => playback(arg),
        "record" => RECORDING,
        "sleep" => ms(arg.trim().parse().unwrap_or(0)),
        "bridge" => ms(2000),
        _ => Duration::ZERO,
    };
    let loops = loops.unwrap_or(1).clamp(1, 100);
    Some((one * loops).min(MAX_SIMULATED))
}

fn playback(arg: &str) -> Duration {
    if let Some(ms) = arg.strip_prefix("silence_stream://") {
        let ms = ms.split(',').next().unwrap_or("").trim();
        return Duration::from_millis(ms.parse().unwrap_or(1000));
    }
    if arg.starts_with("tone_stream://") {
        return Duration::from_millis(300);
    }
    Duration::from_millis(1500)
}

/// `Application-Response` for `app` ended by `end`.
pub(super) fn response(app: &str, end: End) -> &'static str {
    match (app, end) {
        ("playback" | "endless_playback", End::Killed) => "PLAYBACK ERROR",
        // A break is a normal end for playback (`SWITCH_STATUS_BREAK` → FILE PLAYED).
        ("playback" | "endless_playback", _) => "FILE PLAYED",
        _ => "_none_",
    }
}

/// `record <path> [limit] ...` → the path.
pub(super) fn record_path(arg: &str) -> Option<&str> {
    arg.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_plausible_and_bounded() {
        let speak = duration("speak", "flite|slt|one two three", None);
        assert_eq!(speak, Some(Duration::from_millis(430)));
        assert_eq!(
            duration("playback", "silence_stream://700", Some(2)),
            Some(Duration::from_millis(1400))
        );
        assert_eq!(duration("sleep", "999999", None), Some(MAX_SIMULATED));
        assert_eq!(duration("sleep", "junk", None), Some(Duration::ZERO));
        assert_eq!(duration("endless_playback", "x", None), None);
    }

    #[test]
    fn responses_follow_freeswitch() {
        assert_eq!(response("playback", End::Done), "FILE PLAYED");
        assert_eq!(response("playback", End::Killed), "PLAYBACK ERROR");
        assert_eq!(response("speak", End::Killed), "_none_");
        assert!(is_known("record") && !is_known("conference"));
        assert_eq!(record_path("/tmp/a.mp3 3600 200 5"), Some("/tmp/a.mp3"));
    }
}
