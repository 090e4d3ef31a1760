//! What the TwiML-only modules do on the call: `<Gather>` (prompts a key interrupts, then
//! digits), `<Record>` (beep, `record`, upload, action request), `<Dial>` (in `dial`:
//! `bridge` with a dial string from the configured templates, the star key, the call's
//! recording). Their
//! action requests go through the same request path as `pivot` nodes, made like the request
//! that fetched the document; a failed action request hangs up (there is no failback branch
//! left to take).

mod dial;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{Gather, HttpUrl, PivotRequest, Prompt, TwimlRecord};
use crate::esl::Event;
use crate::pivot::params::TwimlExtra;

use super::note::CallNote;
use super::owed::{upload_url, OwedAction, Upload, UploadVerb, Uploader};
use super::runner::{CallRun, Step};
use super::session::{AppId, AppOutcome, OnKey, SessionError};
use super::state::causes;

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// Prompts until a key is pressed, then digits until `numDigits`, a finishing key or
    /// `timeout` without a key. Keys pressed before the gather started do not count.
    pub(super) async fn gather(&mut self, g: Gather) -> Result<Step, SessionError> {
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        // Keys pressed during the verbs before this one are not for it.
        self.session.settle_prompts().await?;
        self.session.clear_dtmf();
        if g.prompts.iter().any(|p| matches!(p, Prompt::Play(_))) {
            // Only pivot's uuid_break stops a prompt: a terminator ending the playback by
            // itself could leave the break pending for the next application.
            self.setvar("playback_terminators", "none").await?;
        }
        if !self.play_prompts(&g.prompts).await? {
            return Ok(Step::Over);
        }
        let timeouts = (g.timeout, g.timeout);
        let digits = self
            .read_digits("gather", g.max_digits(), timeouts, &g.finish_on_key)
            .await?;
        if self.session.is_over() {
            return Ok(Step::Over);
        }
        self.session.note(CallNote::Gathered {
            digits: digits.as_str().into(),
        });
        if digits.is_empty() {
            return Ok(Step::Child(None));
        }
        let extra = TwimlExtra {
            digits: Some(digits),
            ..TwimlExtra::default()
        };
        Box::pin(self.action(g.action.request(self.twiml.base.as_deref()), extra)).await
    }

    /// Plays the prompts until a key is pressed (the first key breaks the one playing and
    /// skips the rest); false when the call ended.
    async fn play_prompts(&mut self, prompts: &[Prompt]) -> Result<bool, SessionError> {
        for prompt in prompts {
            let (app, arg, loops) = match prompt {
                Prompt::Tts(t) => ("speak", self.speak_arg(t), t.loops),
                Prompt::Play(p) => ("playback", self.play_source(&p.id), p.loop_count),
                Prompt::Pause(d) => ("sleep", d.as_millis().to_string(), 1),
            };
            if let Step::Over = self.prompt(app, arg, loops, true).await? {
                return Ok(false);
            }
            if self.session.has_dtmf() {
                return Ok(true);
            }
        }
        Ok(true)
    }

    /// A beep, `record <dir>/<call-id>.wav <maxLength> <thresh> <timeout>` ended by the
    /// finishing keys, the upload, then the action request. An empty recording goes on to
    /// the next verb (Twilio makes no request for it).
    pub(super) async fn twiml_record(&mut self, r: TwimlRecord) -> Result<Step, SessionError> {
        let Some((outcome, record, name, file)) = self.record_wav(&r).await? else {
            return Ok(Step::Over);
        };
        let upload = self
            .recording_upload(r.upload_url.as_ref(), &name, file)
            .await?;
        let req = r.action.request(self.twiml.base.as_deref());
        let ev = match outcome {
            AppOutcome::Done(ev) => ev,
            AppOutcome::Skipped => return Ok(Step::Child(None)),
            AppOutcome::HungUp(done) => {
                // The usual voicemail: the caller hangs up. Upload and tell the web app after
                // CHANNEL_HANGUP_COMPLETE, when the file is complete.
                let upload = upload.map(|u| {
                    let owed = (u.url.clone(), self.owed.uploads.len());
                    self.owed.uploads.push(u);
                    owed
                });
                self.owed.actions.push(OwedAction::Record {
                    req,
                    upload,
                    done,
                    record,
                });
                return Ok(Step::Over);
            }
        };
        let Some(secs) = recorded_seconds(Some(&ev)) else {
            self.session.note(CallNote::RecordingEmpty {
                then: "next verb".into(),
            });
            return Ok(Step::Child(None));
        };
        let mut recording_url = None;
        if let Some(up) = upload {
            let url = up.url.to_string();
            recording_url = self.upload(up).await.ok().then_some(url);
        }
        let extra = TwimlExtra {
            recording_url,
            recording_duration: Some(secs),
            ..TwimlExtra::default()
        };
        Box::pin(self.action(req, extra)).await
    }

    /// Answer, terminators, beep and `record`; the outcome, the file's name and path. None
    /// when the call ended before the recording started.
    async fn record_wav(
        &mut self,
        r: &TwimlRecord,
    ) -> Result<Option<(AppOutcome, AppId, String, String)>, SessionError> {
        if !self.ensure_answered().await? {
            return Ok(None);
        }
        let keys: String = r.finish_on_key.chars().collect();
        let keys = if keys.is_empty() { "none" } else { &keys };
        self.setvar("playback_terminators", keys).await?;
        if r.play_beep {
            let beep = self.engine.config.media.beep.clone();
            if let Step::Over = self.queue("playback", Some(beep)).await? {
                return Ok(None);
            }
        }
        let (name, file) = self.next_recording();
        // A silence threshold of 0 turns silence detection off (timeout="0").
        let thresh = if r.timeout == 0 { 0 } else { 200 };
        let arg = format!("{file} {} {thresh} {}", r.max_length, r.timeout);
        let Some(id) = self.session.start_app("record", Some(arg), None).await? else {
            return Ok(None);
        };
        let outcome = self.session.wait_app(id, OnKey::Ignore).await?;
        Ok(Some((outcome, id, name, file)))
    }

    /// The name and path of the document's next recording: `<call-id>.wav`, then
    /// `<call-id>-2.wav`, and so on.
    fn next_recording(&mut self) -> (String, String) {
        self.twiml.recordings += 1;
        let name = match self.twiml.recordings {
            1 => format!("{}.wav", self.facts.call_id),
            n => format!("{}-{n}.wav", self.facts.call_id),
        };
        let file = format!("{}/{name}", self.engine.config.media.recordings_dir);
        (name, file)
    }

    /// Where recording `name` goes: `<base>/<name>` (the verb's `recordingUrl`, else
    /// `[twiml] recording_url`), PUT by FreeSWITCH when it has mod_http_cache, else by pivot.
    async fn recording_upload(
        &mut self,
        base: Option<&HttpUrl>,
        name: &str,
        file: String,
    ) -> Result<Option<Upload>, SessionError> {
        let Some(base) = base.or(self.engine.config.twiml.recording_url.as_ref()) else {
            return Ok(None);
        };
        let url = upload_url(base, name);
        let by = match self.modules().await?.http_put {
            true => Uploader::Switch,
            false => Uploader::Pivot(UploadVerb::Put),
        };
        Ok(Some(Upload { url, file, by }))
    }

    /// A TwiML action request; when it fails the call hangs up.
    async fn action(&mut self, req: PivotRequest, extra: TwimlExtra) -> Result<Step, SessionError> {
        match self.request(req, extra).await? {
            Step::Failback => Ok(Step::Hangup(causes::normal_clearing())),
            step => Ok(step),
        }
    }
}

/// Seconds recorded, from the channel variables of `ev`; None when the recording is empty.
/// Unknown length counts as not empty (0 s).
pub(super) fn recorded_seconds(ev: Option<&Event>) -> Option<u64> {
    let var = |name: &str| {
        ev.and_then(|e| e.variable(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    match (var("record_ms"), var("record_seconds")) {
        (Some(0), _) | (None, Some(0)) => None,
        (_, Some(secs)) => Some(secs),
        (Some(ms), None) => Some(ms.div_ceil(1000)),
        (None, None) => Some(0),
    }
}

/// Twilio's `DialCallStatus` from `DIALSTATUS`, else `originate_disposition`.
pub(super) fn dial_status(ev: &Event) -> &'static str {
    let raw = ev
        .variable("DIALSTATUS")
        .or_else(|| ev.variable("originate_disposition"))
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    match raw.as_str() {
        "SUCCESS" | "ANSWER" => "completed",
        "BUSY" | "USER_BUSY" => "busy",
        "NOANSWER" | "NO_ANSWER" | "ALLOTTED_TIMEOUT" | "NO_USER_RESPONSE" => "no-answer",
        _ => "failed",
    }
}
