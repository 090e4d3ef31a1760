//! Applications on the channel: sending them (queued, or to be waited for), answering,
//! waiting for one's CHANNEL_EXECUTE_COMPLETE (a key may break it: barge-in), and for
//! everything sent to have run.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{App, AppId, AppOutcome, OnKey, Session, SessionError, SocketMode};
use crate::call::note::CallNote;
use crate::call::state::ChannelState;
use crate::esl::{Command, Event, Execute};

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// Sends an application with event-lock and a fresh Event-UUID, without waiting for
    /// anything: it runs after everything sent before it. None when the flow is over
    /// (nothing is sent then). Wait for it with [`Session::wait_app`].
    pub async fn start_app(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
    ) -> Result<Option<AppId>, SessionError> {
        self.send_app(app, arg, loops, false).await
    }

    /// Like [`Session::start_app`] for an application whose result nobody needs (answer,
    /// a prompt, a pause): it is forgotten once complete. False when nothing was sent.
    pub async fn queue_app(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
    ) -> Result<bool, SessionError> {
        Ok(self.send_app(app, arg, loops, true).await?.is_some())
    }

    async fn send_app(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
        detached: bool,
    ) -> Result<Option<AppId>, SessionError> {
        if self.is_over() {
            return Ok(None);
        }
        // No application before the handshake is confirmed: it turns `${...}` expansion off.
        self.confirm().await?;
        if self.is_over() {
            return Ok(None);
        }
        // Unique within the socket, which only carries this channel's events; short, since
        // FreeSWITCH reads command headers a byte at a time.
        self.seq += 1;
        let uuid = format!("pivot-{}", self.seq);
        self.note(CallNote::Execute {
            app: app.into(),
            arg: arg.as_deref().map(Into::into),
        });
        let exec = Execute {
            app: app.to_string(),
            arg,
            event_lock: true,
            event_uuid: Some(uuid.clone()),
            loops,
        };
        self.send_checked(Command::Execute(exec)).await?;
        let id = AppId(self.seq);
        self.apps.push(App {
            id,
            uuid,
            name: app.to_string(),
            detached,
            done: None,
        });
        Ok(Some(id))
    }

    /// Queues `answer` unless the channel is answered or answering already (a `bridge`
    /// answers it too); media sent after it runs after it. False when the flow is over.
    pub async fn answer(&mut self) -> Result<bool, SessionError> {
        if self.state != ChannelState::Ringing {
            return Ok(!self.is_over());
        }
        if self.app_running() {
            // Behind what is queued, in order.
            if !self.queue_app("answer", None, None).await? {
                return Ok(false);
            }
        } else {
            // Nothing queued: answered at once by the socket's own thread, without an
            // application (whose EXECUTE and EXECUTE_COMPLETE events FreeSWITCH would build
            // with every channel variable). The next events say it is answered.
            if self.is_over() {
                return Ok(false);
            }
            self.confirm().await?;
            self.note(CallNote::Answer);
            let cmd = Command::Api(format!("uuid_answer {}", self.call_id));
            self.send_ignored(cmd).await?;
        }
        if self.state == ChannelState::Ringing {
            self.state = ChannelState::Answering;
        }
        Ok(true)
    }

    /// The completion of an application the flow stopped waiting for (a `bridge` the
    /// caller ended), if it arrived since.
    pub fn take_done(&mut self, id: AppId) -> Option<Box<Event>> {
        let i = self
            .apps
            .iter()
            .position(|a| a.id == id && a.done.is_some())?;
        self.apps.remove(i).done
    }

    /// Sends an application and waits for it (see [`Session::wait_app`]).
    pub async fn execute(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
        on_key: OnKey,
    ) -> Result<AppOutcome, SessionError> {
        if on_key == OnKey::Break {
            // A key pressed already skips the prompt; the break must only hit this prompt,
            // so what runs before it finishes first.
            if self.has_dtmf() && !self.is_over() {
                return Ok(AppOutcome::Skipped);
            }
            self.settle_prompts().await?;
            if self.has_dtmf() && !self.is_over() {
                return Ok(AppOutcome::Skipped);
            }
        }
        if on_key == OnKey::Break && self.mode == SocketMode::Static {
            return self.execute_until_key(app, arg, loops).await;
        }
        match self.start_app(app, arg, loops).await? {
            Some(id) => self.wait_app(id, on_key).await,
            None => Ok(AppOutcome::HungUp(None)),
        }
    }

    /// Static mode's barge-in: FreeSWITCH reads nothing while the prompt runs, so it stops
    /// the prompt itself on any key (`playback_terminators=any`; the key still comes as a
    /// DTMF event), and the terminators pivot had are put back after.
    async fn execute_until_key(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
    ) -> Result<AppOutcome, SessionError> {
        let before = self.terminators.clone();
        self.with_terminators(Some("any")).await?;
        let outcome = match self.start_app(app, arg, loops).await? {
            Some(id) => self.wait_app(id, OnKey::Ignore).await?,
            None => AppOutcome::HungUp(None),
        };
        self.with_terminators(before.as_deref()).await?;
        Ok(outcome)
    }

    /// Sets (or, with None, removes) `playback_terminators`, unless it is so already.
    pub(super) async fn with_terminators(
        &mut self,
        keys: Option<&str>,
    ) -> Result<(), SessionError> {
        if self.terminators.as_deref() == keys || self.is_over() {
            return Ok(());
        }
        let cmd = match keys {
            Some(k) => format!("uuid_setvar {} playback_terminators {k}", self.call_id),
            None => format!("uuid_setvar {} playback_terminators", self.call_id),
        };
        self.command(Command::Api(cmd)).await?;
        self.terminators = keys.map(str::to_string);
        Ok(())
    }

    /// Waits for the application's CHANNEL_EXECUTE_COMPLETE, or the end of the flow.
    pub async fn wait_app(&mut self, id: AppId, on_key: OnKey) -> Result<AppOutcome, SessionError> {
        let mut break_on_key = on_key == OnKey::Break;
        loop {
            if let Some(i) = self.apps.iter().position(|a| a.id == id) {
                if self.apps[i].done.is_some() {
                    let app = self.apps.remove(i);
                    if let Some(ev) = app.done {
                        if self.is_over() {
                            return Ok(AppOutcome::HungUp(Some(ev)));
                        }
                        return Ok(AppOutcome::Done(ev));
                    }
                }
            }
            if self.is_over() {
                return Ok(AppOutcome::HungUp(None));
            }
            if break_on_key && self.has_dtmf() {
                // Once: the app's EXECUTE_COMPLETE follows the break.
                break_on_key = false;
                self.note(CallNote::Break);
                let cmd = Command::Api(format!("uuid_break {}", self.call_id));
                self.send_ignored(cmd).await?;
            }
            self.pump().await?;
        }
    }

    /// Waits until every application sent so far has completed (or the flow is over).
    pub async fn wait_idle(&mut self) -> Result<(), SessionError> {
        loop {
            self.apps.retain(|a| !(a.detached && a.done.is_some()));
            if self.apps.iter().all(|a| a.done.is_some()) || self.is_over() {
                return Ok(());
            }
            self.pump().await?;
        }
    }

    /// Waits until no application sent before is still running, but a queued `answer`:
    /// what runs next then starts when the caller can first hear it, so a key pressed from
    /// now on is meant for it.
    pub async fn settle_prompts(&mut self) -> Result<(), SessionError> {
        loop {
            self.apps.retain(|a| !(a.detached && a.done.is_some()));
            let busy = self
                .apps
                .iter()
                .any(|a| a.done.is_none() && a.name != "answer");
            if !busy || self.is_over() {
                return Ok(());
            }
            self.pump().await?;
        }
    }

    /// True while an application pivot sent may still be running.
    pub fn app_running(&self) -> bool {
        self.apps.iter().any(|a| a.done.is_none())
    }
}
