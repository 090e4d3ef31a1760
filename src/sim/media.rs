//! The simulated channel's side of the call: applications that run for a simulated time and
//! end with CHANNEL_EXECUTE_COMPLETE (Application-UUID = the command's Event-UUID), the
//! caller's DTMF, the hangup sequences in the order a real FreeSWITCH sends them, and
//! `http_put` uploads of a made-up recording. The connection itself is `peer`.

use std::time::Duration;

use tokio::time::Instant;

use super::apps::{self, End};
use super::peer::{Peer, Queued};
use super::{audio, wire, SimError};
use crate::esl::Execute;

/// The application running on the channel.
pub(super) struct Running {
    pub exec: Execute,
    pub event_uuid: String,
    pub started: Instant,
    /// Its length on the simulated call; `None` runs until broken or hung up.
    pub simulated: Option<Duration>,
    /// When it ends in real time (at once in fast mode).
    pub ends_at: Option<Instant>,
}

/// Who hung the call up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum By {
    Caller,
    /// `sendmsg` with `call-command: hangup`.
    Pivot,
    /// The `hangup` application.
    App,
    /// FreeSWITCH itself (an unknown application).
    Switch,
}

type Headers = Vec<(String, String)>;

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

impl Peer {
    /// Sends an event if `myevents` and the filters let it through; `what` is the
    /// timeline's summary of it.
    async fn emit(&mut self, name: &str, extra: Headers, what: &str) -> Result<(), SimError> {
        let headers = self.chan.event(name, extra);
        if !self.passes(&headers) {
            return Ok(());
        }
        self.note(&format!("→ {name}{what}"));
        self.send(&wire::event(&headers)).await
    }

    pub(super) async fn start_app(&mut self, exec: Execute) -> Result<(), SimError> {
        if !apps::is_known(&exec.app) {
            self.note(&format!(
                "unknown application {:?}: FreeSWITCH hangs up the call",
                exec.app
            ));
            return self.hangup("DESTINATION_OUT_OF_ORDER", By::Switch).await;
        }
        let arg = exec.arg.clone().unwrap_or_default();
        let simulated = apps::duration(&exec.app, &arg, exec.loops);
        let real = match self.chan.call.fast {
            true => simulated.map(|_| Duration::ZERO),
            false => simulated,
        };
        // Without an Event-UUID FreeSWITCH makes one up.
        let event_uuid = exec
            .event_uuid
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let now = Instant::now();
        let app = exec.app.clone();
        self.running = Some(Running {
            exec,
            event_uuid,
            started: now,
            simulated,
            ends_at: real.map(|d| now + d),
        });
        let headers = self.app_headers(None);
        self.emit("CHANNEL_EXECUTE", headers, &format!(" {app}"))
            .await?;
        if self.break_pending && apps::is_media(&app) {
            self.break_pending = false;
            self.note("a uuid_break was pending: it ends this application at once");
            self.finish_app(End::Broken).await?;
            // The channel goes on with its queue at once (no new frame).
            if !self.queue.is_empty() {
                self.tick_at = Some(Instant::now());
            }
            return Ok(());
        }
        match app.as_str() {
            "answer" if !self.chan.answered => {
                self.chan.answered = true;
                self.emit_answer().await
            }
            "hangup" => {
                let cause = arg.split_whitespace().next().unwrap_or("NORMAL_CLEARING");
                self.hangup(cause, By::App).await
            }
            _ => Ok(()),
        }
    }

    pub(super) async fn emit_answer(&mut self) -> Result<(), SimError> {
        self.emit("CHANNEL_ANSWER", Vec::new(), "").await
    }

    /// Application, Application-Data, Application-Response (when ending), Application-UUID.
    fn app_headers(&self, response: Option<&str>) -> Headers {
        let Some(run) = &self.running else {
            return Vec::new();
        };
        let mut v = vec![
            h("Application", run.exec.app.clone()),
            h("Application-Data", run.exec.arg.clone().unwrap_or_default()),
        ];
        if let Some(r) = response {
            v.push(h("Application-Response", r));
        }
        v.push(h("Application-UUID", run.event_uuid.clone()));
        v
    }

    /// The running application reached its end.
    pub(super) async fn app_due(&mut self) -> Result<(), SimError> {
        let is_record = self
            .running
            .as_ref()
            .is_some_and(|r| r.exec.app == "record");
        if is_record && self.chan.call.hangup_in_record {
            self.note("the caller hangs up after leaving the message");
            return self.hangup("NORMAL_CLEARING", By::Caller).await;
        }
        self.finish_app(End::Done).await?;
        self.start_next().await
    }

    /// `uuid_break`: the running application ends now. With nothing running FreeSWITCH
    /// still sets the channel's break flag, and the next media application ends at once.
    pub(super) async fn break_app(&mut self) -> Result<(), SimError> {
        if self.running.is_none() {
            self.break_pending = true;
            return Ok(());
        }
        self.finish_app(End::Broken).await?;
        self.start_next().await
    }

    /// The parked channel's frame: it runs what was queued, back to back.
    pub(super) async fn frame_tick(&mut self) -> Result<(), SimError> {
        self.tick_at = None;
        self.start_next().await
    }

    /// Runs the next queued message when nothing runs (a `hangup` message hangs up).
    async fn start_next(&mut self) -> Result<(), SimError> {
        if self.running.is_none() && self.chan.is_up() {
            match self.queue.pop_front() {
                Some(Queued::Execute(next)) => return self.start_app(next).await,
                Some(Queued::Hangup(cause)) => return self.hangup(&cause, By::Pivot).await,
                None => {}
            }
        }
        Ok(())
    }

    async fn finish_app(&mut self, end: End) -> Result<(), SimError> {
        let Some(run) = &self.running else {
            return Ok(());
        };
        let app = run.exec.app.clone();
        let response = apps::response(&app, end);
        let mut extra = self.app_headers(Some(response));
        if app == "record" {
            extra.extend(self.recorded());
        }
        self.running = None;
        self.emit(
            "CHANNEL_EXECUTE_COMPLETE",
            extra,
            &format!(" {app} {response}"),
        )
        .await
    }

    /// The `record` that just ended: its file is kept for `http_put`, and its result goes
    /// into the channel variables FreeSWITCH reports.
    fn recorded(&mut self) -> Headers {
        let Some(run) = &self.running else {
            return Vec::new();
        };
        let simulated = run.simulated.unwrap_or(apps::RECORDING);
        let length = match self.chan.call.fast {
            true => simulated,
            false => run.started.elapsed().min(simulated),
        };
        let arg = run.exec.arg.clone().unwrap_or_default();
        let Some(path) = apps::record_path(&arg) else {
            return Vec::new();
        };
        let size = audio::recording(path, length).0.len();
        self.note(&format!(
            "recorded {path}: {:.1} s of the caller's voice ({size} bytes)",
            length.as_secs_f64()
        ));
        self.recordings.insert(path.to_string(), length);
        vec![
            h("variable_record_ms", length.as_millis().to_string()),
            h("variable_record_seconds", length.as_secs().to_string()),
            h("variable_record_file_size", size.to_string()),
        ]
    }

    /// The hangup, in FreeSWITCH's order: from the caller while an app runs, the linger
    /// notice comes right after CHANNEL_HANGUP and before the app's EXECUTE_COMPLETE;
    /// otherwise it comes last. Without linger the socket closes after CHANNEL_HANGUP.
    pub(super) async fn hangup(&mut self, cause: &str, by: By) -> Result<(), SimError> {
        if !self.chan.is_up() {
            return Ok(());
        }
        self.chan.hangup_cause = Some(cause.to_string());
        self.report.hangup_cause = Some(cause.to_string());
        self.hangup_at = None;
        self.pending_dtmf.clear();
        self.queue.clear();
        self.tick_at = None;
        self.give_up_at = Instant::now() + Duration::from_secs(30);
        self.emit("CHANNEL_HANGUP", Vec::new(), &format!(" {cause}"))
            .await?;
        if !self.linger {
            self.note("no linger: FreeSWITCH drops the socket after CHANNEL_HANGUP");
            self.close().await;
            return Ok(());
        }
        let mid_app = by == By::Caller && self.running.is_some();
        if mid_app {
            self.linger_notice().await?;
        }
        self.finish_app(End::Killed).await?;
        self.emit("CHANNEL_HANGUP_COMPLETE", Vec::new(), &format!(" {cause}"))
            .await?;
        if !mid_app {
            self.linger_notice().await?;
        }
        Ok(())
    }

    async fn linger_notice(&mut self) -> Result<(), SimError> {
        self.note("→ disconnect notice (linger): the channel hung up, the socket stays open");
        let notice = wire::linger_notice(&self.chan.call.uuid, &self.chan.name);
        self.send(&notice).await
    }

    /// `--hangup-after` is up.
    pub(super) async fn caller_hangs_up(&mut self) -> Result<(), SimError> {
        self.hangup_at = None;
        self.note("the caller hangs up (--hangup-after)");
        self.hangup("NORMAL_CLEARING", By::Caller).await
    }

    /// pivot started a digit collection: the caller presses its next group of digits.
    pub(super) fn offer_digits(&mut self) {
        if !self.chan.is_up() {
            return;
        }
        let group = match self.digits.pop_front() {
            None => return self.note("the caller has no more digits to press"),
            Some(g) if g.is_empty() => return self.note("the caller presses nothing this time"),
            Some(g) => g,
        };
        let keys: Vec<String> = group.chars().map(String::from).collect();
        self.note(&format!("the caller presses {}", keys.join(" ")));
        // A person needs a moment to react and to move between keys.
        let (first, gap) = match self.chan.call.fast {
            true => (Duration::ZERO, Duration::ZERO),
            false => (Duration::from_millis(400), Duration::from_millis(150)),
        };
        let mut t = Instant::now() + first;
        for key in group.chars() {
            self.pending_dtmf.push_back((t, key));
            t += gap;
        }
    }

    pub(super) async fn press_due_digits(&mut self) -> Result<(), SimError> {
        let now = Instant::now();
        while let Some(&(t, key)) = self.pending_dtmf.front() {
            if t > now {
                break;
            }
            self.pending_dtmf.pop_front();
            let extra = vec![
                h("DTMF-Digit", key.to_string()),
                h("DTMF-Duration", "2000"),
                h("DTMF-Source", "RTP"),
            ];
            self.emit("DTMF", extra, &format!(" {key}")).await?;
        }
        Ok(())
    }

    /// mod_http_cache's `http_put <url> <file>`: PUTs the file and answers `+OK <status>`
    /// or `-ERR <status>` (`-ERR 0` when no HTTP answer came).
    pub(super) async fn http_put(&mut self, url: &str, file: Option<&str>) -> String {
        let Some(file) = file else {
            return "-USAGE: <url> <file>\n".into();
        };
        let Some(length) = self.recordings.get(file).copied() else {
            self.note(&format!("http_put: there is no recording {file}"));
            return "-ERR 0".into();
        };
        let url = match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => return "-ERR 0".into(),
        };
        let (body, content_type) = audio::recording(file, length);
        self.note(&format!(
            "http_put: PUT {url} with {} bytes of {content_type}",
            body.len()
        ));
        let sent = self
            .http
            .put(url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await;
        let status = match sent {
            Ok(resp) => resp.status().as_u16(),
            Err(e) => {
                self.note(&format!("PUT {url} failed: {e}"));
                0
            }
        };
        self.report.uploads.push(format!("{url} -> {status}"));
        match status {
            200..=299 => format!("+OK {status}"),
            s => format!("-ERR {s}"),
        }
    }
}
