//! Routing a call and walking its flow: each node's module runs (see `modules`), then the
//! child its result names, its `_` child, or the end of the flow. Teardown does the work the
//! call still owes (uploads, the CDR) after the hangup, then leaves the socket.

use std::collections::BTreeMap;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{HttpUrl, Module, Node, PivotRequest, DEFAULT_CHILD};
use crate::esl::ChannelData;
use crate::pivot::params::CallInfo;
use crate::route::{AccountId, RouteError};

use super::session::{Session, SessionError};
use super::Engine;

/// What happened on a call, for the caller of [`super::run_call`] (demo, simulator, tests).
#[derive(Debug, Clone, Default)]
pub struct CallSummary {
    pub call_id: String,
    pub account_id: String,
    pub hangup_cause: Option<String>,
    /// Requests made to web apps.
    pub requests: u32,
    /// `kind: message` of every request that took the failback.
    pub failures: Vec<String>,
    /// `url → result` of every recording upload.
    pub uploads: Vec<String>,
    /// True when the call found no flow.
    pub unrouted: bool,
}

/// Where the walk goes after a module.
pub(super) enum Step {
    /// The child with this key if there is one, else `_`.
    Child(Option<String>),
    /// A new flow replaces the children (a pivot answer).
    Flow(Box<Node>),
    /// The pivot node's `_` child (its failback), else the end.
    Failback,
    /// Hang up with this cause.
    Hangup(String),
    /// The channel is gone: stop.
    Over,
}

/// A recording whose upload is owed after the hangup.
pub(super) struct OwedUpload {
    pub url: HttpUrl,
    pub file: String,
    pub post: bool,
}

/// A TwiML action request owed after the hangup (a `<Record>` the caller ended by hanging
/// up, as the usual voicemail does): sent once the recording is uploaded, answer ignored.
pub(super) struct OwedAction {
    pub req: PivotRequest,
    pub upload: Option<HttpUrl>,
    pub upload_index: usize,
}

pub(super) struct CallRun<'a, T> {
    pub engine: &'a Engine,
    pub session: &'a mut Session<T>,
    pub channel: ChannelData,
    pub call_id: String,
    pub account: AccountId,
    pub info: Option<CallInfo>,
    pub digits: BTreeMap<String, String>,
    pub answered: bool,
    pub owed: Vec<OwedUpload>,
    pub owed_actions: Vec<OwedAction>,
    pub cdr_url: Option<HttpUrl>,
    pub summary: CallSummary,
    /// The request that fetched the running TwiML document: its actions are made like it.
    pub twiml_base: Option<PivotRequest>,
    /// Recordings made so far (TwiML file names count them).
    pub recordings: u32,
}

impl<'a, T: AsyncRead + AsyncWrite + Unpin> CallRun<'a, T> {
    pub fn new(engine: &'a Engine, channel: ChannelData, session: &'a mut Session<T>) -> Self {
        let call_id = channel.unique_id().unwrap_or("").to_string();
        let answered = channel.answer_state() == Some("answered");
        CallRun {
            engine,
            session,
            account: engine.config.default_account.clone(),
            call_id: call_id.clone(),
            channel,
            info: None,
            digits: BTreeMap::new(),
            answered,
            owed: Vec::new(),
            owed_actions: Vec::new(),
            cdr_url: None,
            twiml_base: None,
            recordings: 0,
            summary: CallSummary {
                call_id,
                ..CallSummary::default()
            },
        }
    }

    /// Routes, runs the flow, hangs up and tears down.
    pub async fn run(mut self) -> Result<CallSummary, SessionError> {
        let destination = self.channel.destination_number().unwrap_or("").to_string();
        let channel = &self.channel;
        let vars = |name: &str| channel.variable(name).map(str::to_string);
        let routed =
            self.engine
                .router
                .route(&destination, &vars, &self.engine.config.default_account);
        let cause = match routed {
            Ok(route) => {
                self.account = route.account_id;
                self.summary.account_id = self.account.to_string();
                let get = |name: &str| self.channel.header(name).map(str::to_string);
                self.info = Some(CallInfo::from_channel(&get, &self.account.to_string()));
                tracing::info!(destination = %destination, source = ?route.source, "call routed");
                self.session.note(&format!("routed: {:?}", route.source));
                self.walk(route.flow).await?
            }
            Err(e) => {
                self.summary.unrouted = true;
                log_unrouted(&destination, &e);
                self.session.note(&format!("no route: {e}"));
                "UNALLOCATED_NUMBER".to_string()
            }
        };
        self.finish(&cause).await;
        Ok(self.summary)
    }

    async fn walk(&mut self, root: Node) -> Result<String, SessionError> {
        let mut node = root;
        loop {
            if self.session.state.is_over() {
                return Ok("NORMAL_CLEARING".into());
            }
            let Node {
                module,
                mut children,
            } = node;
            let next = match self.step(module).await? {
                Step::Child(key) => key
                    .and_then(|k| children.remove(&k))
                    .or_else(|| children.remove(DEFAULT_CHILD)),
                Step::Flow(flow) => Some(*flow),
                Step::Failback => children.remove(DEFAULT_CHILD),
                Step::Hangup(cause) => return Ok(cause),
                Step::Over => None,
            };
            match next {
                Some(n) => node = n,
                None => return Ok("NORMAL_CLEARING".into()),
            }
        }
    }

    async fn step(&mut self, module: Module) -> Result<Step, SessionError> {
        match module {
            Module::Say(say) => self.say(say).await,
            Module::Tts(tts) => self.tts(tts).await,
            Module::Play(play) => self.play(play).await,
            Module::RecordCaller(rec) => self.record_caller(rec).await,
            Module::CollectDtmf(c) => self.collect_dtmf(c).await,
            Module::Pivot(req) => self.pivot(req).await,
            Module::Hangup { cause } => Ok(Step::Hangup(
                cause.map_or_else(|| "NORMAL_CLEARING".into(), |c| c.to_string()),
            )),
            Module::Answer => self.answer().await,
            Module::Sleep { duration } => {
                let arg = duration.as_millis().to_string();
                self.app("sleep", Some(arg)).await
            }
            Module::Response { code, message } => {
                let arg = format!("{code} {message}").trim_end().to_string();
                self.app("respond", Some(arg)).await
            }
            Module::Gather(g) => self.gather(g).await,
            Module::Record(r) => self.twiml_record(r).await,
            Module::Dial(d) => self.dial(d).await,
            Module::Redirect(action) => {
                let req = action.request(self.twiml_base.as_ref());
                self.request(req, Default::default()).await
            }
        }
    }

    /// Hangs up (unless the caller did), waits for CHANNEL_HANGUP_COMPLETE, pays what the call
    /// owes, and leaves with `exit`.
    async fn finish(&mut self, cause: &str) {
        if let Err(e) = self.session.hangup(&self.call_id, cause).await {
            tracing::debug!(error = %e, "hangup command failed");
        }
        self.session
            .wait_hangup_complete(self.engine.config.esl.hangup_wait)
            .await;
        self.summary.hangup_cause = self.session.state.hangup_cause.clone();
        let owed = std::mem::take(&mut self.owed);
        let mut results = Vec::with_capacity(owed.len());
        for upload in owed {
            results.push(self.upload(upload).await);
        }
        for action in std::mem::take(&mut self.owed_actions) {
            let uploaded = results.get(action.upload_index).copied().unwrap_or(false);
            self.owed_action(action, uploaded).await;
        }
        self.post_cdr().await;
        self.session.exit(std::time::Duration::from_secs(2)).await;
        tracing::info!(cause = ?self.summary.hangup_cause, requests = self.summary.requests, "call ended");
    }
}

fn log_unrouted(destination: &str, e: &RouteError) {
    tracing::warn!(destination = %destination, error = %e, "no flow for this call: hanging up UNALLOCATED_NUMBER");
}
