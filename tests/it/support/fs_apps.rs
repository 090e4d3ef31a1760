//! Applications on the fake channel: the `sendmsg` queue, event-lock and nesting, running
//! apps with their timers and DTMF, `uuid_break`, and the hangup sequences in the order a
//! real FreeSWITCH sends them. Media is not simulated: an app is a scripted duration.

use super::fake_fs::{AppScript, Park};
use super::fs_channel::{ChanState, Headers};
use super::fs_session::{Phase, Session};
use super::fs_wire::Command;
use super::transcript::{ArgForm, ExecutedApp, HangupBy};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// One execute request, as queued.
#[derive(Clone, Debug)]
pub struct Exec {
    /// Index into `Transcript::apps`.
    pub idx: usize,
    pub app: String,
    pub arg: String,
    pub app_uuid: String,
    pub uuid_name: Option<String>,
    pub lock: bool,
}

/// A queued `sendmsg` (FreeSWITCH's private event queue).
#[derive(Clone, Debug)]
pub enum Msg {
    Execute(Exec),
    Hangup(String),
}

/// An app on the execution stack; only the top one runs, the ones below are paused.
#[derive(Debug)]
pub struct Running {
    pub exec: Exec,
    pub script: AppScript,
    run_start: Option<Instant>,
    elapsed_before: Duration,
    dtmf: VecDeque<(Duration, char)>,
}

impl Running {
    pub fn deadline(&self) -> Option<Instant> {
        let start = self.run_start?;
        Some(start + self.script.duration.saturating_sub(self.elapsed_before))
    }

    pub fn next_dtmf_at(&self) -> Option<Instant> {
        let start = self.run_start?;
        let (off, _) = self.dtmf.front()?;
        Some(start + off.saturating_sub(self.elapsed_before))
    }

    fn pause(&mut self, now: Instant) {
        if let Some(s) = self.run_start.take() {
            self.elapsed_before += now - s;
        }
    }

    fn resume(&mut self, now: Instant) {
        if self.run_start.is_none() {
            self.run_start = Some(now);
        }
    }
}

fn switch_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        ["true", "yes", "on", "1", "enabled", "active", "allow"]
            .iter()
            .any(|t| v.trim().eq_ignore_ascii_case(t))
    })
}

fn app_headers(x: &Exec, response: Option<&str>) -> Headers {
    let mut v = vec![
        ("Application".to_string(), x.app.clone()),
        ("Application-Data".to_string(), x.arg.clone()),
    ];
    if let Some(r) = response {
        v.push(("Application-Response".to_string(), r.to_string()));
    }
    v.push(("Application-UUID".to_string(), x.app_uuid.clone()));
    if let Some(n) = &x.uuid_name {
        v.push(("Application-UUID-Name".to_string(), n.clone()));
    }
    v
}

impl Session {
    pub async fn on_sendmsg(&mut self, cmd: &Command) {
        let target = cmd.rest();
        if !target.is_empty() && target != self.chan.uuid {
            self.protocol_error(format!("sendmsg to another channel: {target}"));
        }
        if self.cfg.park == Park::BeforeFirstSendmsgReply
            && !self.park_sent
            && self.phase == Phase::Up
        {
            self.park_sent = true;
            self.emit("CHANNEL_PARK", ChanState::Execute, Vec::new())
                .await;
        }
        let is_execute = cmd
            .header("call-command")
            .is_some_and(|c| c.eq_ignore_ascii_case("execute"));
        // Static mode: an execute is answered when its application is over.
        let late = self.cfg.reply_after_run || (self.chan.static_mode && is_execute);
        if !late {
            self.reply("+OK").await;
        }
        if self.phase != Phase::Up {
            if late {
                self.reply("+OK").await;
            }
            self.note("sendmsg while the call is not up: +OK and nothing happens");
            return;
        }
        let cc = cmd
            .header("call-command")
            .unwrap_or("")
            .to_ascii_lowercase();
        match cc.as_str() {
            "execute" => {
                let x = self.parse_execute(cmd);
                self.queue.push_back(Msg::Execute(x));
            }
            "hangup" => {
                let cause = cmd.header("hangup-cause").unwrap_or("NORMAL_CLEARING");
                self.queue.push_back(Msg::Hangup(cause.trim().to_string()));
            }
            other => self.note(format!("call-command {other:?} ignored by the fake")),
        }
        if self.chan.static_mode && is_execute {
            self.reply_owed = true;
        }
        self.pump().await;
        if late && !self.reply_owed {
            self.reply("+OK").await;
        }
    }

    fn parse_execute(&mut self, cmd: &Command) -> Exec {
        let app = cmd.header("execute-app-name").unwrap_or("").to_string();
        let text_body = cmd
            .header("content-type")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/plain"));
        let (arg, form) = if text_body && !cmd.body.is_empty() {
            (
                String::from_utf8_lossy(&cmd.body).into_owned(),
                ArgForm::Body,
            )
        } else if let Some(a) = cmd.header("execute-app-arg") {
            (a.to_string(), ArgForm::Header)
        } else {
            (String::new(), ArgForm::None)
        };
        if !text_body && !cmd.body.is_empty() {
            self.protocol_error(
                "sendmsg body without content-type: text/plain (FreeSWITCH ignores it)".into(),
            );
        }
        let event_uuid = cmd.header("Event-UUID").map(str::to_string);
        let lock = switch_true(cmd.header("event-lock"));
        let app_uuid = event_uuid
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let rec = ExecutedApp {
            name: app.clone(),
            arg: arg.clone(),
            form,
            event_uuid,
            app_uuid: app_uuid.clone(),
            event_lock: lock,
            started: false,
            response: None,
            nested: false,
            unknown: false,
        };
        let idx = self.shared.update(|t| {
            t.apps.push(rec);
            t.apps.len() - 1
        });
        Exec {
            idx,
            app,
            arg,
            app_uuid,
            uuid_name: cmd.header("Event-UUID-Name").map(str::to_string),
            lock,
        }
    }

    /// Starts queued messages while nothing locked runs. An unlocked running app lets the
    /// next message run nested inside it, as FreeSWITCH does.
    pub async fn pump(&mut self) {
        while self.phase == Phase::Up && !self.queue.is_empty() {
            if self.stack.last().is_some_and(|top| top.exec.lock) {
                break;
            }
            if self.stack.is_empty() && !self.awake && !self.wait_for_frame() {
                break;
            }
            match self.queue.pop_front() {
                Some(Msg::Hangup(cause)) => self.hangup(cause, HangupBy::Command).await,
                Some(Msg::Execute(x)) => self.start_app(x).await,
                None => break,
            }
        }
        if self.stack.is_empty() && self.queue.is_empty() {
            // Back in the park loop: the next message waits for a frame.
            self.awake = false;
        }
    }

    /// The channel is parked: its queue runs at the next frame. False while it waits.
    fn wait_for_frame(&mut self) -> bool {
        let frame = self.cfg.frame;
        // Static mode: the channel's own thread runs the application as soon as it reads it.
        if frame.is_zero() || self.chan.static_mode {
            self.awake = true;
            return true;
        }
        if self.tick_at.is_none() {
            let since = self.parked_since.elapsed().as_micros();
            let f = frame.as_micros();
            let wait = Duration::from_micros(((since / f + 1) * f - since) as u64);
            self.tick_at = Some(Instant::now() + wait);
            self.shared.update(|t| t.park_waits += 1);
            self.note(format!(
                "parked: the queue runs at the next frame, in {wait:?}"
            ));
        }
        false
    }

    async fn start_app(&mut self, x: Exec) {
        let nested = !self.stack.is_empty();
        let Some(script) = self.cfg.apps.get(&x.app).cloned() else {
            self.shared.update(|t| t.apps[x.idx].unknown = true);
            self.note(format!("unknown application {:?}: hangup", x.app));
            self.hangup("DESTINATION_OUT_OF_ORDER".into(), HangupBy::UnknownApp)
                .await;
            return;
        };
        self.shared.update(|t| {
            t.apps[x.idx].started = true;
            t.apps[x.idx].nested = nested;
        });
        let reads_keys = matches!(
            x.app.as_str(),
            "playback" | "endless_playback" | "speak" | "say" | "record" | "sleep" | "read"
        );
        self.chan.set_var("current_application", &x.app);
        self.chan.set_var("current_application_data", &x.arg);
        self.emit("CHANNEL_EXECUTE", ChanState::Execute, app_headers(&x, None))
            .await;
        if self.cfg.foreign_events_on_app.as_deref() == Some(x.app.as_str()) {
            self.emit_foreign().await;
        }
        if self.cfg.hangup_on_app.as_deref() == Some(x.app.as_str()) {
            self.hangup_at = Some(Instant::now());
        }
        self.app_effects(&x).await;
        let now = Instant::now();
        if let Some(top) = self.stack.last_mut() {
            top.pause(now);
        }
        let mut dtmf = script.dtmf.clone();
        dtmf.sort_by_key(|(d, _)| *d);
        let instant = script.duration.is_zero() && dtmf.is_empty();
        let is_hangup = x.app == "hangup";
        let cause = x.arg.trim().to_string();
        self.stack.push(Running {
            exec: x,
            script,
            run_start: Some(now),
            elapsed_before: Duration::ZERO,
            dtmf: dtmf.into(),
        });
        if reads_keys {
            while let Some(key) = self.unread_keys.pop_front() {
                Box::pin(self.dtmf_now(key)).await;
                if self.stack.is_empty() {
                    break;
                }
            }
        }
        if is_hangup {
            let cause = if cause.is_empty() {
                "NORMAL_CLEARING".into()
            } else {
                cause
            };
            self.hangup(cause, HangupBy::App).await;
        } else if instant {
            self.complete_top(None, ChanState::Execute).await;
        }
    }

    /// `uuid_answer`: the channel is answered now, outside its queue.
    pub async fn answer_now(&mut self) {
        if self.phase == Phase::Up && !self.chan.answered {
            self.chan.answer();
            self.shared.update(|t| t.answered_by_api = true);
            self.emit("CHANNEL_ANSWER", ChanState::Execute, Vec::new())
                .await;
        }
    }

    /// A DTMF and a CHANNEL_HANGUP of another channel, on this socket.
    async fn emit_foreign(&mut self) {
        let other = uuid::Uuid::new_v4().to_string();
        for (name, extra) in [
            ("DTMF", vec![("DTMF-Digit".to_string(), "9".to_string())]),
            (
                "CHANNEL_HANGUP",
                vec![("Hangup-Cause".to_string(), "CALL_REJECTED".to_string())],
            ),
        ] {
            let mut headers = self.chan.event(name, ChanState::Execute, extra);
            for (n, v) in headers.iter_mut() {
                if n == "Unique-ID" || n == "Channel-Call-UUID" {
                    *v = other.clone();
                }
            }
            self.note(format!("foreign {name} of channel {other}"));
            let frame = super::fs_channel::Channel::frame(&headers);
            self.send(&frame, format!("event {name} of another channel"))
                .await;
        }
    }

    /// What some applications do to the channel (without `${}` expansion).
    async fn app_effects(&mut self, x: &Exec) {
        match x.app.as_str() {
            "set" | "export" => {
                let (n, v) = x.arg.split_once('=').unwrap_or((&x.arg, ""));
                let (n, v) = (n.to_string(), v.to_string());
                self.chan.set_var(&n, &v);
                self.shared.update(|t| t.vars_set.push((n, v)));
            }
            "unset" => {
                let n = x.arg.trim().to_string();
                self.chan.vars.retain(|(k, _)| *k != n);
            }
            "bridge" => {
                if x.arg.contains("call_timeout=") && x.arg.starts_with('{') {
                    // Seen on 1.10.12: `<Dial timeout="3">` with `{call_timeout=3}` rang on.
                    self.protocol_error(
                        "call_timeout inside a dial string is ignored by FreeSWITCH 1.10 \
                         (it rings on); use leg_timeout"
                            .into(),
                    );
                }
                let connects = self.cfg.apps.get("bridge").is_some_and(|s| {
                    s.vars
                        .iter()
                        .any(|(n, v)| n == "DIALSTATUS" && v == "SUCCESS")
                });
                if connects && !self.chan.answered {
                    // The callee answered: the bridge answers the caller's channel itself.
                    self.chan.answer();
                    self.emit("CHANNEL_ANSWER", ChanState::Execute, Vec::new())
                        .await;
                }
            }
            "record_session" => {
                // A media bug: it records until `stop_record_session` or the hangup, which
                // set the script's variables (record_ms...) and close the file.
                let path = x.arg.split_whitespace().next().unwrap_or("").to_string();
                let vars = self
                    .cfg
                    .apps
                    .get("record_session")
                    .map(|s| s.vars.clone())
                    .unwrap_or_default();
                self.bugs.push((path, vars));
            }
            "stop_record_session" => {
                let path = x.arg.trim().to_string();
                self.close_bugs(|p| p == path).await;
            }
            "answer" | "pre_answer" if !self.chan.answered => {
                self.chan.answer();
                if x.app == "answer" {
                    self.emit("CHANNEL_ANSWER", ChanState::Execute, Vec::new())
                        .await;
                }
            }
            _ => {}
        }
    }

    /// Ends the top app: its vars, CHANNEL_EXECUTE_COMPLETE, and the app below resumes.
    pub async fn complete_top(&mut self, response: Option<String>, state: ChanState) {
        let Some(r) = self.stack.pop() else { return };
        // A recording's variables come when it stops, not when it starts.
        if r.exec.app != "record_session" {
            for (n, v) in &r.script.vars {
                self.chan.set_var(n, v);
            }
        }
        let resp = response.unwrap_or_else(|| r.script.response.clone());
        if resp != "_none_" {
            self.chan.set_var("current_application_response", &resp);
        }
        if r.exec.app == "record" {
            self.record_file_closed(&r.exec.arg).await;
        }
        let headers = app_headers(&r.exec, Some(&resp));
        self.emit("CHANNEL_EXECUTE_COMPLETE", state, headers).await;
        let idx = r.exec.idx;
        self.shared.update(|t| t.apps[idx].response = Some(resp));
        if let Some(top) = self.stack.last_mut() {
            top.resume(Instant::now());
        }
        if r.exec.app == "bridge" && self.phase == Phase::Up {
            Box::pin(self.after_failed_bridge()).await;
        }
        if self.chan.static_mode && self.reply_owed && self.stack.is_empty() {
            Box::pin(self.static_app_over()).await;
        }
    }

    /// Static mode: the application is over: its `+OK`, what came up meanwhile, then the
    /// commands that waited.
    async fn static_app_over(&mut self) {
        self.reply_owed = false;
        self.reply("+OK").await;
        for (bytes, what) in std::mem::take(&mut self.outbox) {
            self.send(&bytes, what).await;
        }
        while !self.static_busy() {
            let Some(cmd) = self.held_cmds.pop_front() else {
                break;
            };
            Box::pin(self.on_command(cmd)).await;
        }
    }

    /// mod_dptools' bridge: when it fails for any reason but NO_ANSWER, NO_USER_RESPONSE
    /// or ORIGINATOR_CANCEL, the caller is hung up with that cause unless the caller's
    /// channel has continue_on_fail=true (seen on 1.10.12: a busy target hung the caller up).
    async fn after_failed_bridge(&mut self) {
        let status = self
            .chan
            .var("DIALSTATUS")
            .unwrap_or("")
            .to_ascii_uppercase();
        let cause = match status.as_str() {
            "SUCCESS" | "NOANSWER" | "NO_ANSWER" | "" => return,
            "BUSY" => "USER_BUSY",
            "CHANUNAVAIL" => "CHANNEL_UNACCEPTABLE",
            _ => "NORMAL_TEMPORARY_FAILURE",
        };
        let keep = self
            .chan
            .var("continue_on_fail")
            .is_some_and(|v| switch_true(Some(v)));
        if !keep {
            self.note(format!(
                "bridge failed ({status}) without continue_on_fail: hangup"
            ));
            self.hangup(cause.to_string(), HangupBy::App).await;
        }
    }

    /// Closes the open `record_session` recordings whose file `which` picks: their
    /// variables are set on the channel and the file is written.
    pub async fn close_bugs(&mut self, which: impl Fn(&str) -> bool) {
        let (closing, open) = std::mem::take(&mut self.bugs)
            .into_iter()
            .partition(|(path, _)| which(path));
        self.bugs = open;
        for (path, vars) in closing {
            for (n, v) in &vars {
                self.chan.set_var(n, v);
            }
            self.note(format!("record_session {path} closed"));
            self.record_file_closed(&path).await;
        }
    }

    /// Fires the due DTMF of the running app and ends it when its time is over.
    pub async fn on_app_timer(&mut self, now: Instant) {
        while self.phase == Phase::Up {
            let Some(top) = self.stack.last_mut() else {
                break;
            };
            if top.next_dtmf_at().is_some_and(|d| d <= now) {
                if let Some((_, digit)) = top.dtmf.pop_front() {
                    self.dtmf_now(digit).await;
                }
                continue;
            }
            if top.deadline().is_some_and(|d| d <= now) {
                self.complete_top(None, ChanState::Execute).await;
                self.pump().await;
                continue;
            }
            break;
        }
    }

    /// The caller pressed `digit`: DTMF event; a terminator ends playback/record.
    pub async fn dtmf_now(&mut self, digit: char) {
        if self.phase != Phase::Up {
            self.note(format!("DTMF {digit} not sent: call not up"));
            return;
        }
        if self.chan.static_mode && self.stack.is_empty() {
            // Static mode: no application reads the channel: the key waits in its queue.
            self.note(format!(
                "DTMF {digit} queued on the channel (static mode, nothing reads it)"
            ));
            self.unread_keys.push_back(digit);
            return;
        }
        let extra = vec![
            ("DTMF-Digit".to_string(), digit.to_string()),
            ("DTMF-Duration".to_string(), "2000".to_string()),
            ("DTMF-Source".to_string(), "RTP".to_string()),
        ];
        self.emit("DTMF", ChanState::Execute, extra).await;
        let Some(top) = self.stack.last() else { return };
        let terminators = self.chan.var("playback_terminators").unwrap_or("*");
        let is_term = match terminators {
            "none" => false,
            "any" => true,
            t => t.contains(digit),
        };
        // playback, record and speak stop on playback_terminators (mod_dptools' on_dtmf);
        // sleep too when sleep_eat_digits is set.
        let eats = self
            .chan
            .var("sleep_eat_digits")
            .is_some_and(|v| switch_true(Some(v)));
        let by_term = match top.exec.app.as_str() {
            "playback" | "record" | "speak" => is_term,
            "sleep" => eats && is_term,
            _ => false,
        };
        if by_term {
            self.chan
                .set_var("playback_terminator_used", &digit.to_string());
        }
        // The caller's `bridge_terminate_key` ends the bridge (mod_dptools' bridge_on_dtmf:
        // any of its characters); the caller's channel goes on.
        let by_bridge_key = top.exec.app == "bridge"
            && self
                .chan
                .var("bridge_terminate_key")
                .is_some_and(|k| k.contains(digit));
        if by_bridge_key {
            self.note(format!("bridge_terminate_key {digit}: the bridge ends"));
        }
        if by_term || by_bridge_key || top.script.stop_on_dtmf {
            self.complete_top(None, ChanState::Execute).await;
            self.pump().await;
        }
    }

    /// `uuid_break`: the running app ends now with its normal response (playback: FILE
    /// PLAYED, as mod_dptools reports a break); `all` also drops the queue.
    pub async fn break_app(&mut self, all: bool) {
        if all {
            self.queue.clear();
        }
        if self.phase == Phase::Up && !self.stack.is_empty() {
            self.complete_top(None, ChanState::Execute).await;
            self.pump().await;
        }
    }
}
