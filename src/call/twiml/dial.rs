//! `<Dial>` on the call: the caller's variables the bridge reads (the star key, the
//! ringback), the recording (`record_session` before the bridge, `stop_record_session` after
//! it, then the upload), the dial string with each leg's variables (`sendDigits`, SIP
//! headers), `bridge` itself, and what is owed when the caller hangs up during it.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{Dial, DialRecord, DialTarget, SendDtmf};
use crate::esl::Command;
use crate::pivot::params::TwimlExtra;

use super::{dial_status, recorded_seconds};
use crate::call::owed::{OwedAction, Upload};
use crate::call::runner::{CallRun, Step};
use crate::call::session::{AppId, AppOutcome, OnKey, SessionError};

/// What an answered caller hears while the callee rings (the US ringback Twilio plays): set
/// as `transfer_ringback`, which FreeSWITCH plays only to an answered caller. A caller still
/// ringing hears the callee's own ringing and early media instead.
const RINGBACK: &str = "%(2000,4000,440,480)";

/// A `<Dial>` recording in progress: the file on the FreeSWITCH host and where it goes.
struct DialRecording {
    file: String,
    upload: Option<Upload>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// `bridge` to every target at once; `DialCallStatus` (and the recording) to `action`,
    /// else the next verb. When the caller hangs up during the bridge, the action is still
    /// requested (after the hangup, as Twilio does when the dial ends).
    pub(in crate::call) async fn dial(&mut self, d: Dial) -> Result<Step, SessionError> {
        if d.answers_first() && !self.ensure_answered().await? {
            return Ok(Step::Over);
        }
        self.caller_vars(&d).await?;
        let recording = match d.record {
            DialRecord::No => None,
            record => Some(self.start_recording(&d, record).await?),
        };
        let arg = self.dial_string(&d);
        let Some(bridge) = self.session.start_app("bridge", Some(arg), None).await? else {
            return Ok(Step::Over);
        };
        let status = match self.session.wait_app(bridge, OnKey::Ignore).await? {
            AppOutcome::Done(ev) => dial_status(&ev),
            AppOutcome::Skipped => "failed",
            AppOutcome::HungUp(done) => {
                let status = done.map(|ev| dial_status(&ev));
                return Ok(self.owe_dial(d, bridge, status, recording));
            }
        };
        self.session.note(crate::call::note::CallNote::Dialed {
            status: status.into(),
        });
        if d.hangup_on_star {
            self.unsetvar("bridge_terminate_key").await?;
        }
        let mut extra = TwimlExtra {
            dial_call_status: Some(status.into()),
            ..TwimlExtra::default()
        };
        if let Some(rec) = recording {
            if let Some(rec) = self.stop_recording(rec, &mut extra).await? {
                return Ok(self.owe_dial(d, bridge, Some(status), Some(rec)));
            }
        }
        let Some(action) = d.action else {
            return Ok(Step::Child(None));
        };
        Box::pin(self.action(action.request(self.twiml.base.as_deref()), extra)).await
    }

    /// The caller's channel variables the bridge reads, in one `uuid_setvar_multi`: a failed
    /// bridge must not hang the caller up (FreeSWITCH does, but for NO_ANSWER, without
    /// continue_on_fail: seen on 1.10.12 with a busy target) and an ended one must let the
    /// document go on; the star key that ends it; the ringback an answered caller hears
    /// (unless the dialplan chose its own). All constants pivot chose.
    async fn caller_vars(&mut self, d: &Dial) -> Result<(), SessionError> {
        let mut vars = vec!["continue_on_fail=true", "hangup_after_bridge=false"];
        if d.hangup_on_star {
            vars.push("bridge_terminate_key=*");
        }
        let ringback = format!("transfer_ringback={RINGBACK}");
        let own = self.facts.own_ringback;
        if self.session.state().is_answered() && !own {
            vars.push(&ringback);
        }
        self.setvars(&vars.join(";")).await
    }

    /// `record_session` on the caller's channel, queued right before the bridge: from the
    /// callee's answer (`RECORD_BRIDGE_REQ`: only while bridged) or from now; `-dual` puts
    /// each party on its own channel (`RECORD_STEREO`).
    async fn start_recording(
        &mut self,
        d: &Dial,
        record: DialRecord,
    ) -> Result<DialRecording, SessionError> {
        let (name, file) = self.next_recording();
        let upload = self
            .recording_upload(d.upload_url.as_ref(), &name, file.clone())
            .await?;
        let (bridged, dual) = match record {
            DialRecord::FromAnswer { dual } => (true, dual),
            DialRecord::FromRinging { dual } => (false, dual),
            DialRecord::No => (false, false),
        };
        let mut vars = Vec::new();
        if bridged {
            vars.push("RECORD_BRIDGE_REQ=true");
        }
        if dual {
            vars.push("RECORD_STEREO=true");
        }
        let arg = match vars.is_empty() {
            true => file.clone(),
            false => format!("{file} {{{}}}", vars.join(",")),
        };
        self.queue("record_session", Some(arg)).await?;
        Ok(DialRecording { file, upload })
    }

    /// `stop_record_session` (its CHANNEL_EXECUTE_COMPLETE carries the length), then the
    /// upload: `RecordingDuration` and `RecordingUrl` into `extra`, none for an empty
    /// recording. The recording back when the call ended first (it is owed then).
    async fn stop_recording(
        &mut self,
        rec: DialRecording,
        extra: &mut TwimlExtra,
    ) -> Result<Option<DialRecording>, SessionError> {
        let file = Some(rec.file.clone());
        let stopped = self
            .session
            .execute("stop_record_session", file, None, OnKey::Ignore)
            .await?;
        let AppOutcome::Done(ev) = stopped else {
            return Ok(Some(rec));
        };
        extra.recording_duration = recorded_seconds(Some(&ev));
        if let (Some(up), Some(_)) = (rec.upload, extra.recording_duration) {
            let url = up.url.to_string();
            extra.recording_url = self.upload(up).await.ok().then_some(url);
        }
        Ok(None)
    }

    /// The caller hung up during the dial: the recording (closed by the hangup) is uploaded
    /// and the action requested after CHANNEL_HANGUP_COMPLETE.
    fn owe_dial(
        &mut self,
        d: Dial,
        bridge: AppId,
        status: Option<&'static str>,
        recording: Option<DialRecording>,
    ) -> Step {
        let upload = recording.map(|rec| {
            rec.upload.map(|u| {
                let owed = (u.url.clone(), self.owed.uploads.len());
                self.owed.uploads.push(u);
                owed
            })
        });
        if let Some(action) = d.action {
            let req = action.request(self.twiml.base.as_deref());
            self.owed.actions.push(OwedAction::Dial {
                req,
                bridge,
                status,
                recording: upload,
            });
        }
        Step::Over
    }

    /// Removes a channel variable (`uuid_setvar <uuid> <name>` without a value), once what
    /// was queued has run.
    async fn unsetvar(&mut self, name: &str) -> Result<(), SessionError> {
        self.session.wait_idle().await?;
        if self.session.is_over() {
            return Ok(());
        }
        let cmd = format!("uuid_setvar {} {name}", self.facts.call_id);
        self.session.command(Command::Api(cmd)).await?;
        Ok(())
    }

    /// `{leg_timeout=..,origination_caller_id_number=..,execute_on_answer=..}[leg]a,[leg]b`:
    /// every part was validated (numbers, digits, URIs, headers, caller id, templates), none
    /// can split the string. FreeSWITCH 1.10 ignores `call_timeout` inside a dial string
    /// (seen: it rang on); `leg_timeout` ends each leg after its seconds.
    fn dial_string(&self, d: &Dial) -> String {
        let mut vars = vec![format!("leg_timeout={}", d.timeout.as_secs())];
        if let Some(c) = &d.caller_id {
            vars.push(format!("origination_caller_id_number={}", c.as_str()));
        }
        if let Some(limit) = d.time_limit {
            vars.push(format!(
                "execute_on_answer=sched_hangup +{} ALLOTTED_TIMEOUT",
                limit.as_secs()
            ));
        }
        let targets: Vec<String> = d.targets.iter().map(|t| self.target(t)).collect();
        format!("{{{}}}{}", vars.join(","), targets.join(","))
    }

    /// One target from its template, with its own variables in `[...]`: the digits sent
    /// when it answers, its SIP headers.
    fn target(&self, t: &DialTarget) -> String {
        let config = &self.engine.config.twiml;
        match t {
            DialTarget::Number {
                number,
                send_digits,
            } => {
                // Every `execute_on_answer*` variable runs (FreeSWITCH matches the prefix),
                // so the digits do not replace the time limit's.
                let leg = send_digits.iter().map(|digits| {
                    format!(
                        "execute_on_answer_send_digits=send_dtmf {}@{}",
                        digits.as_str(),
                        SendDtmf::TWIML_TONE.as_millis()
                    )
                });
                let target = config.dial_number.replace("{number}", number.as_str());
                with_leg_vars(leg.collect(), target)
            }
            DialTarget::Sip(u) => {
                let leg = u
                    .headers()
                    .iter()
                    .map(|h| format!("sip_h_{}={}", h.name(), h.value()));
                with_leg_vars(leg.collect(), config.dial_sip.replace("{uri}", u.as_str()))
            }
        }
    }
}

/// `[a=1,b=2]target`, or the target alone.
fn with_leg_vars(vars: Vec<String>, target: String) -> String {
    match vars.is_empty() {
        true => target,
        false => format!("[{}]{target}", vars.join(",")),
    }
}
