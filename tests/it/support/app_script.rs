//! `AppScript`: how one application behaves on the fake FreeSWITCH (duration, response,
//! variables, DTMF), and the defaults for the applications the fake knows. Re-exported by
//! fake_fs.rs; holds data only.

use std::collections::HashMap;
use std::time::Duration;

/// How one application behaves when the server executes it.
#[derive(Clone, Debug)]
pub struct AppScript {
    /// How long it runs (zero: CHANNEL_EXECUTE_COMPLETE follows CHANNEL_EXECUTE at once).
    pub duration: Duration,
    /// Application-Response on a normal end or a `uuid_break` (`FILE PLAYED`, `_none_`...).
    pub response: String,
    /// Application-Response when the call is hung up while it runs (`PLAYBACK ERROR`).
    pub killed_response: String,
    /// Channel variables set when it completes (e.g. `record_ms`), shown in the event.
    pub vars: Vec<(String, String)>,
    /// DTMF events sent while it runs, at offsets from its start.
    pub dtmf: Vec<(Duration, char)>,
    /// Any DTMF ends it (besides `playback_terminators` for playback and record).
    pub stop_on_dtmf: bool,
}

impl AppScript {
    pub fn new(duration: Duration, response: &str) -> Self {
        AppScript {
            duration,
            response: response.to_string(),
            killed_response: "_none_".to_string(),
            vars: Vec::new(),
            dtmf: Vec::new(),
            stop_on_dtmf: false,
        }
    }

    /// Instant app answering `_none_` (set, answer, respond...).
    pub fn instant() -> Self {
        Self::new(Duration::ZERO, "_none_")
    }

    /// Adds a variable set on completion.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// Sends DTMF `digit` `at` after the app starts.
    pub fn dtmf(mut self, at: Duration, digit: char) -> Self {
        self.dtmf.push((at, digit));
        self
    }

    pub fn stop_on_dtmf(mut self) -> Self {
        self.stop_on_dtmf = true;
        self
    }

    pub fn killed_response(mut self, response: &str) -> Self {
        self.killed_response = response.to_string();
        self
    }

    /// The default script of each application the fake knows (FreeSWITCH would accept it).
    pub fn defaults() -> HashMap<String, AppScript> {
        let ms = Duration::from_millis;
        let mut m = HashMap::new();
        for app in [
            "answer",
            "pre_answer",
            "ring_ready",
            "respond",
            "set",
            "export",
            "unset",
            "multiset",
            "log",
            "info",
            "hangup",
            "send_dtmf",
            "flush_dtmf",
            "event",
            "sched_hangup",
            "set_zombie_exec",
        ] {
            m.insert(app.to_string(), AppScript::instant());
        }
        let playback = AppScript::new(ms(20), "FILE PLAYED")
            .killed_response("PLAYBACK ERROR")
            .var("playback_ms", "20")
            .var("playback_seconds", "0")
            .var("playback_samples", "160");
        m.insert("playback".into(), playback.clone());
        m.insert("endless_playback".into(), playback.clone());
        m.insert("gentones".into(), AppScript::new(ms(20), "_none_"));
        m.insert("speak".into(), AppScript::new(ms(20), "_none_"));
        m.insert("say".into(), AppScript::new(ms(20), "_none_"));
        m.insert("sleep".into(), AppScript::new(ms(10), "_none_"));
        let record = AppScript::new(ms(30), "_none_")
            .var("record_ms", "3000")
            .var("record_seconds", "3")
            .var("record_samples", "24000")
            .var("record_file_size", "48044")
            .var("silence_hits_exhausted", "false");
        m.insert("record".into(), record);
        // `record_session` starts a recording and returns; its variables are set when the
        // recording stops (`stop_record_session` or the hangup).
        let session = AppScript::instant()
            .var("record_ms", "5200")
            .var("record_seconds", "5")
            .var("record_samples", "41600");
        m.insert("record_session".into(), session);
        m.insert("stop_record_session".into(), AppScript::instant());
        m.insert(
            "read".into(),
            AppScript::new(ms(20), "_none_").var("read_result", "timeout"),
        );
        // A bridge that connects and ends; script DIALSTATUS / originate_disposition (as
        // FreeSWITCH sets them) for other results, e.g. `.var("DIALSTATUS", "BUSY")`.
        let bridge = AppScript::new(ms(30), "_none_")
            .var("DIALSTATUS", "SUCCESS")
            .var("originate_disposition", "SUCCESS");
        m.insert("bridge".into(), bridge);
        m.insert(
            "play_and_get_digits".into(),
            AppScript::new(ms(20), "_none_"),
        );
        m
    }
}
