//! What each module does on the call (contract section 5): the FreeSWITCH applications it
//! runs and what it hands to the next step. Every argument goes through the one command
//! encoder, as a length-delimited body, so no text from a web app can add a header or a
//! command; `${...}` expansion is off on the channel (see `call::handshake`). Requests to
//! web apps are in `request`, the TwiML-only modules in `twiml`.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{
    CollectDtmf, DtmfKeys, HttpUrl, Play, PlayId, RecordCaller, Say, Tts, UploadMethod,
};
use crate::esl::Command;
use crate::pivot::params::{form_body, piston_params, ParamValue};

use super::runner::{CallRun, OwedUpload, Step};
use super::session::{AppOutcome, SessionError};
use super::COLLECT_NOTE;

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// Runs one application; the flow goes on to `_` unless the channel is gone.
    pub(super) async fn app(
        &mut self,
        app: &str,
        arg: Option<String>,
    ) -> Result<Step, SessionError> {
        match self.session.execute(app, arg, None).await? {
            AppOutcome::Done(_) | AppOutcome::Skipped => Ok(Step::Child(None)),
            AppOutcome::HungUp => Ok(Step::Over),
        }
    }

    pub(super) async fn answer(&mut self) -> Result<Step, SessionError> {
        let step = self.app("answer", None).await?;
        self.answered = true;
        if let Some(info) = self.info.as_mut() {
            info.answered = true;
        }
        Ok(step)
    }

    /// Media needs an answered channel; answers once, before the first prompt.
    pub(super) async fn ensure_answered(&mut self) -> Result<bool, SessionError> {
        if !self.answered {
            if let Step::Over = self.answer().await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sets a channel variable without any expansion (`uuid_setvar`, not the `set` app,
    /// which expands its value again). The value is made one line.
    pub(super) async fn setvar(&mut self, name: &str, value: &str) -> Result<(), SessionError> {
        if self.session.state.is_over() {
            return Ok(());
        }
        let clean: String = value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(512)
            .collect();
        let cmd = format!("uuid_setvar {} {name} {}", self.call_id, clean.trim());
        self.session.command(Command::Api(cmd)).await?;
        Ok(())
    }

    pub(super) async fn say(&mut self, say: Say) -> Result<Step, SessionError> {
        let Some(say_type) = say.say_type else {
            let mut tts = Tts::text(say.text);
            tts.language = Some(say.language);
            return self.tts(tts).await;
        };
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        let gender = say.gender.map(|g| format!(" {g}")).unwrap_or_default();
        // The model guarantees the text has no quote, `$`, brace or control character.
        let arg = format!(
            "{} {} {}{gender} '{}'",
            say.language,
            say_type,
            say.method.as_str(),
            say.text
        );
        self.app("say", Some(arg)).await
    }

    pub(super) async fn tts(&mut self, tts: Tts) -> Result<Step, SessionError> {
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        let arg = self.speak_arg(&tts);
        // Repeats are separate executes: each waits for its own EXECUTE_COMPLETE.
        for _ in 0..tts.loops.max(1) {
            if let AppOutcome::HungUp = self
                .session
                .execute("speak", Some(arg.clone()), None)
                .await?
            {
                return Ok(Step::Over);
            }
        }
        Ok(Step::Child(None))
    }

    /// `engine|voice|text`; engine and voice default from the config, and voice names of
    /// `[twiml] voices` (Twilio's `man`, `woman`, `alice`) are mapped to the engine's voices.
    pub(super) fn speak_arg(&self, tts: &Tts) -> String {
        let config = &self.engine.config;
        let engine = tts
            .engine
            .as_ref()
            .map_or(&*config.media.tts_engine, |e| e.as_str());
        let voice = tts
            .voice
            .as_ref()
            .map_or(&*config.media.tts_voice, |v| config.twiml.voice(v.as_str()));
        // speak splits on `|` into at most three parts, so the text keeps its own pipes.
        format!("{engine}|{voice}|{}", tts.text)
    }

    /// The `playback` argument of a play id.
    pub(super) fn play_source(&self, id: &PlayId) -> String {
        match id {
            PlayId::Url(url) => format!("http_cache://{}", fs_url(url)),
            PlayId::Path(p) | PlayId::Stream(p) => p.to_string(),
            PlayId::Media(id) => format!("{}/{id}", self.engine.config.media.media_dir),
        }
    }

    pub(super) async fn play(&mut self, play: Play) -> Result<Step, SessionError> {
        if play.answer && !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        if let Some(keys) = &play.terminators {
            let keys: String = keys.chars().collect();
            self.setvar("playback_terminators", &keys).await?;
        }
        let source = self.play_source(&play.id);
        if play.endless {
            return self.app("endless_playback", Some(source)).await;
        }
        let loops = (play.loop_count > 1).then_some(play.loop_count);
        match self
            .session
            .execute("playback", Some(source), loops)
            .await?
        {
            AppOutcome::Done(_) | AppOutcome::Skipped => Ok(Step::Child(None)),
            AppOutcome::HungUp => Ok(Step::Over),
        }
    }

    pub(super) async fn record_caller(&mut self, rec: RecordCaller) -> Result<Step, SessionError> {
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        // Any key ends the recording (contract 5); `record` reads its terminators here.
        self.setvar("playback_terminators", "any").await?;
        if rec.beep {
            let beep = self.engine.config.media.beep.clone();
            if let Step::Over = self.app("playback", Some(beep)).await? {
                return Ok(Step::Over);
            }
        }
        let name = format!("{}.{}", self.call_id, rec.format.extension());
        let file = format!("{}/{name}", self.engine.config.media.recordings_dir);
        let arg = format!("{file} {} 200 5", rec.time_limit);
        let outcome = self.session.execute("record", Some(arg), None).await?;
        let upload = OwedUpload {
            url: upload_url(&rec.url, &name),
            file,
            post: rec.method == UploadMethod::Post,
        };
        match outcome {
            AppOutcome::Done(_) | AppOutcome::Skipped => {
                self.upload(upload).await;
                Ok(Step::Child(None))
            }
            // The usual voicemail ends with the caller hanging up: the file is complete once
            // CHANNEL_HANGUP_COMPLETE arrives, so the upload is owed until teardown.
            AppOutcome::HungUp => {
                self.owed.push(upload);
                Ok(Step::Over)
            }
        }
    }

    /// Reads up to `max` keys: `first` to wait for the first, `next` between keys, a
    /// terminator ends it (and is not kept). Keys already buffered count.
    pub(super) async fn read_digits(
        &mut self,
        name: &str,
        max: u32,
        (first, next): (Duration, Duration),
        terminators: &DtmfKeys,
    ) -> Result<String, SessionError> {
        // The simulator presses its scripted keys when it sees this note.
        self.session
            .note(&format!("{COLLECT_NOTE} ({name}, up to {max})"));
        let mut digits = String::new();
        let mut wait = first;
        while digits.len() < max as usize {
            match self.session.next_digit(wait).await? {
                Some(d) if terminators.contains(d) => break,
                Some(d) => {
                    digits.push(d);
                    wait = next;
                }
                None => break,
            }
        }
        Ok(digits)
    }

    pub(super) async fn collect_dtmf(&mut self, c: CollectDtmf) -> Result<Step, SessionError> {
        let timeouts = (c.timeout, c.interdigit_timeout);
        let digits = self
            .read_digits(
                c.collection_name.as_str(),
                c.max_digits,
                timeouts,
                &c.terminators,
            )
            .await?;
        if self.session.state.is_over() {
            return Ok(Step::Over);
        }
        tracing::debug!(digits = %digits, collection = %c.collection_name, "digits collected");
        self.session
            .note(&format!("collected: {}={digits}", c.collection_name));
        if digits.is_empty() {
            return Ok(Step::Child(None));
        }
        self.digits
            .insert(c.collection_name.to_string(), digits.clone());
        Ok(Step::Child(Some(digits)))
    }

    /// Uploads a recording: FreeSWITCH PUTs it with mod_http_cache's `http_put` (the file is
    /// on its host); a POST is done by pivot itself, which must be able to read the file.
    /// True when the upload succeeded.
    pub(super) async fn upload(&mut self, up: OwedUpload) -> bool {
        let result = if up.post {
            self.post_file(&up).await
        } else if self.session.state.closed {
            "not uploaded: the event socket closed first".to_string()
        } else if let Err(e) = self.engine.http.check_destination(&up.url).await {
            // FreeSWITCH makes this request: pivot checks where it goes before it asks.
            format!("not uploaded: {e}")
        } else {
            let cmd = Command::Api(format!("http_put {} {}", fs_url(&up.url), up.file));
            // FreeSWITCH answers when the PUT is done: a 3-hour recording takes a while.
            match self.session.command_within(cmd, UPLOAD_TIMEOUT).await {
                Ok(reply) => reply.trim().to_string(),
                Err(e) => format!("not uploaded: {e}"),
            }
        };
        if result.starts_with("+OK") {
            tracing::info!(url = %up.url, file = %up.file, result = %result, "recording uploaded");
        } else {
            tracing::warn!(url = %up.url, file = %up.file, result = %result, "recording upload failed");
        }
        self.session
            .note(&format!("upload: {} -> {result}", up.url));
        self.summary.uploads.push(format!("{} -> {result}", up.url));
        result.starts_with("+OK")
    }

    async fn post_file(&self, up: &OwedUpload) -> String {
        let body = match tokio::fs::read(&up.file).await {
            Ok(b) => Bytes::from(b),
            Err(e) => return format!("-ERR cannot read {}: {e}", up.file),
        };
        let ct = if up.file.ends_with(".wav") {
            "audio/wav"
        } else {
            "audio/mpeg"
        };
        let sent = self
            .engine
            .http
            .send_simple(
                reqwest::Method::POST,
                &up.url,
                &self.account,
                ct,
                body,
                Duration::from_secs(60),
            )
            .await;
        match sent {
            Ok(s) if (200..300).contains(&s) => format!("+OK {s}"),
            Ok(s) => format!("-ERR {s}"),
            Err(e) => format!("-ERR {e}"),
        }
    }

    /// Posts the call's summary to the last `cdr_url` a pivot node named.
    pub(super) async fn post_cdr(&self) {
        let (Some(url), Some(info)) = (&self.cdr_url, &self.info) else {
            return;
        };
        let mut params = piston_params(info, &Default::default());
        let cause = self.summary.hangup_cause.clone().unwrap_or_default();
        params.push(("Hangup-Cause".into(), ParamValue::Str(cause)));
        let body = Bytes::from(form_body(&params));
        let sent = self
            .engine
            .http
            .send_simple(
                reqwest::Method::POST,
                url,
                &self.account,
                "application/x-www-form-urlencoded",
                body,
                Duration::from_secs(10),
            )
            .await;
        match sent {
            Ok(status) => tracing::info!(url = %url, status, "CDR posted"),
            Err(e) => tracing::warn!(url = %url, error = %e, "CDR post failed"),
        }
    }
}

/// How long FreeSWITCH's `http_put` of a recording may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// `<url>/<name>`, keeping the base URL's query string.
pub(super) fn upload_url(base: &HttpUrl, name: &str) -> HttpUrl {
    let mut url = base.as_url().clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(name);
    }
    base.derive(url).unwrap_or_else(|_| base.clone())
}

/// A URL as FreeSWITCH gets it: `$`, `{` and `}` percent-encoded (the same URL to any HTTP
/// server), so no `${...}` can appear in an argument even if expansion were on.
fn fs_url(url: &HttpUrl) -> String {
    url.as_str()
        .replace('$', "%24")
        .replace('{', "%7B")
        .replace('}', "%7D")
}
