//! What each module does on the call (contract section 5): the FreeSWITCH applications it
//! runs and what it hands to the next step. Every argument goes through the one command
//! encoder, as a length-delimited body, so no text from a web app can add a header or a
//! command; `${...}` expansion is off on the channel (see `call::handshake`).
//!
//! Prompts, pauses and `answer` are queued without waiting (they run back to back on the
//! channel); a prompt that leads to a digit collection is run alone and stopped by the
//! first key (barge-in). Requests to web apps are in `request`, the TwiML-only modules in
//! `twiml`, what is owed after the hangup in `owed`.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{
    CollectDtmf, DtmfKeys, Play, PlayId, RecordCaller, RecordFormat, Say, SendDtmf, Tts,
    UploadMethod,
};
use crate::esl::Command;

use super::note::CallNote;
use super::owed::{fs_url, upload_url, Upload, UploadVerb, Uploader};
use super::runner::{CallRun, Step};
use super::session::{AppOutcome, OnKey, SessionError};

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// Queues one application; the flow goes on to `_` at once unless the channel is gone.
    pub(super) async fn queue(
        &mut self,
        app: &str,
        arg: Option<String>,
    ) -> Result<Step, SessionError> {
        if self.session.queue_app(app, arg, None).await? {
            Ok(Step::Child(None))
        } else {
            Ok(Step::Over)
        }
    }

    /// A prompt (`speak`, `say`, `playback`, `sleep`) played `loops` times: queued, or with
    /// `barge_in` run one at a time until a key is pressed (the rest is skipped then).
    pub(super) async fn prompt(
        &mut self,
        app: &str,
        arg: String,
        loops: u32,
        barge_in: bool,
    ) -> Result<Step, SessionError> {
        // Repeats are separate executes, so a key stops them all.
        for _ in 0..loops.max(1) {
            if !barge_in {
                if !self.session.queue_app(app, Some(arg.clone()), None).await? {
                    return Ok(Step::Over);
                }
                continue;
            }
            match self
                .session
                .execute(app, Some(arg.clone()), None, OnKey::Break)
                .await?
            {
                AppOutcome::HungUp(_) => return Ok(Step::Over),
                AppOutcome::Skipped => break,
                AppOutcome::Done(_) if self.session.has_dtmf() => break,
                AppOutcome::Done(_) => {}
            }
        }
        Ok(Step::Child(None))
    }

    pub(super) async fn answer(&mut self) -> Result<Step, SessionError> {
        if self.session.answer().await? {
            Ok(Step::Child(None))
        } else {
            Ok(Step::Over)
        }
    }

    /// Media needs an answered channel: queues `answer` once, ahead of the first prompt.
    pub(super) async fn ensure_answered(&mut self) -> Result<bool, SessionError> {
        self.session.answer().await
    }

    /// Sets a channel variable without any expansion (`uuid_setvar`, not the `set` app,
    /// which expands its value again). The value is made one line. `uuid_setvar` acts at
    /// once, not in the channel's queue, so it waits until what was queued has run.
    pub(super) async fn setvar(&mut self, name: &str, value: &str) -> Result<(), SessionError> {
        self.session.wait_idle().await?;
        if self.session.is_over() {
            return Ok(());
        }
        let clean: String = value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(512)
            .collect();
        let cmd = format!("uuid_setvar {} {name} {}", self.facts.call_id, clean.trim());
        self.session.command(Command::Api(cmd)).await?;
        if name == "playback_terminators" {
            // The session puts them back after a prompt it makes interruptible.
            self.session.terminators_set(Some(clean.trim()));
        }
        Ok(())
    }

    /// Sets constant channel variables pivot chose (`a=1;b=2`), at once, in one command
    /// (`uuid_setvar_multi`); waits, like [`Self::setvar`], for what was queued.
    pub(super) async fn setvars(&mut self, pairs: &str) -> Result<(), SessionError> {
        self.session.wait_idle().await?;
        if self.session.is_over() {
            return Ok(());
        }
        let cmd = format!("uuid_setvar_multi {} {pairs}", self.facts.call_id);
        self.session.command(Command::Api(cmd)).await?;
        Ok(())
    }

    pub(super) async fn say(&mut self, say: &Say, barge_in: bool) -> Result<Step, SessionError> {
        let Some(say_type) = &say.say_type else {
            let mut tts = Tts::text(say.text.clone());
            tts.language = Some(say.language.clone());
            return Box::pin(self.tts(&tts, barge_in)).await;
        };
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        let gender = say
            .gender
            .as_ref()
            .map(|g| format!(" {g}"))
            .unwrap_or_default();
        // The model guarantees the text has no quote, `$`, brace or control character.
        let arg = format!(
            "{} {} {}{gender} '{}'",
            say.language,
            say_type,
            say.method.as_str(),
            say.text
        );
        self.prompt("say", arg, 1, barge_in).await
    }

    pub(super) async fn tts(&mut self, tts: &Tts, barge_in: bool) -> Result<Step, SessionError> {
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        let arg = self.speak_arg(tts);
        self.prompt("speak", arg, tts.loops, barge_in).await
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

    pub(super) async fn play(&mut self, play: &Play, barge_in: bool) -> Result<Step, SessionError> {
        if play.answer && !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        if let Some(keys) = &play.terminators {
            let keys: String = keys.chars().collect();
            self.setvar("playback_terminators", &keys).await?;
        }
        let source = self.play_source(&play.id);
        if play.endless {
            return self.prompt("endless_playback", source, 1, barge_in).await;
        }
        if barge_in {
            return self.prompt("playback", source, play.loop_count, true).await;
        }
        // Not interruptible: FreeSWITCH repeats it itself (`loops`).
        let loops = (play.loop_count > 1).then_some(play.loop_count);
        if self
            .session
            .queue_app("playback", Some(source), loops)
            .await?
        {
            Ok(Step::Child(None))
        } else {
            Ok(Step::Over)
        }
    }

    /// `send_dtmf <digits>@<ms>`, then a `sleep` as long as the tones take: FreeSWITCH
    /// queues them in the media stream and returns at once, so what comes next would start
    /// (and a hangup would cut them) while they are still being sent.
    pub(super) async fn send_dtmf(&mut self, s: &SendDtmf) -> Result<Step, SessionError> {
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        let arg = format!("{}@{}", s.digits.as_str(), s.tone.as_millis());
        if let Step::Over = self.queue("send_dtmf", Some(arg)).await? {
            return Ok(Step::Over);
        }
        let wait = s.duration().as_millis().to_string();
        self.queue("sleep", Some(wait)).await
    }

    pub(super) async fn record_caller(&mut self, rec: &RecordCaller) -> Result<Step, SessionError> {
        if !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        // Any key ends the recording (contract 5); `record` reads its terminators here.
        self.setvar("playback_terminators", "any").await?;
        if rec.beep {
            let beep = self.engine.config.media.beep.clone();
            if let Step::Over = self.queue("playback", Some(beep)).await? {
                return Ok(Step::Over);
            }
        }
        let modules = self.modules().await?;
        let format = match rec.format {
            RecordFormat::Mp3 if !modules.mp3 => RecordFormat::Wav,
            f => f,
        };
        let name = format!("{}.{}", self.facts.call_id, format.extension());
        let file = format!("{}/{name}", self.engine.config.media.recordings_dir);
        let arg = format!("{file} {} 200 5", rec.time_limit);
        let outcome = self
            .session
            .execute("record", Some(arg), None, OnKey::Ignore)
            .await?;
        let by = match rec.method {
            UploadMethod::Post => Uploader::Pivot(UploadVerb::Post),
            UploadMethod::Put if modules.http_put => Uploader::Switch,
            UploadMethod::Put => Uploader::Pivot(UploadVerb::Put),
        };
        let upload = Upload {
            url: upload_url(&rec.url, &name),
            file,
            by,
        };
        match outcome {
            AppOutcome::Done(_) | AppOutcome::Skipped => {
                self.upload(upload).await;
                Ok(Step::Child(None))
            }
            // The usual voicemail ends with the caller hanging up: the file is complete once
            // CHANNEL_HANGUP_COMPLETE arrives, so the upload is owed until teardown.
            AppOutcome::HungUp(_) => {
                self.owed.uploads.push(upload);
                Ok(Step::Over)
            }
        }
    }

    /// Reads up to `max` keys: `first` to wait for the first, `next` between keys, a
    /// terminator ends it (and is not kept). Keys already buffered count. The wait starts
    /// once what was queued before (the prompts) has run.
    pub(super) async fn read_digits(
        &mut self,
        name: &str,
        max: u32,
        (first, next): (Duration, Duration),
        terminators: &DtmfKeys,
    ) -> Result<String, SessionError> {
        self.session.settle_prompts().await?;
        // The simulator presses its scripted keys when it sees this note.
        self.session.note(CallNote::Collecting {
            name: name.into(),
            max,
        });
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

    pub(super) async fn collect_dtmf(&mut self, c: &CollectDtmf) -> Result<Step, SessionError> {
        let timeouts = (c.timeout, c.interdigit_timeout);
        let digits = self
            .read_digits(
                c.collection_name.as_str(),
                c.max_digits,
                timeouts,
                &c.terminators,
            )
            .await?;
        if self.session.is_over() {
            return Ok(Step::Over);
        }
        tracing::debug!(digits = %digits, collection = %c.collection_name, "digits collected");
        self.session.note(CallNote::Collected {
            name: c.collection_name.as_str().into(),
            digits: digits.as_str().into(),
        });
        if digits.is_empty() {
            return Ok(Step::Child(None));
        }
        self.digits
            .insert(c.collection_name.to_string(), digits.clone());
        Ok(Step::Child(Some(digits)))
    }
}
