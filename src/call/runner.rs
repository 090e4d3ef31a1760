//! Routing a call and walking its flow: each node's module runs (see `modules`), then the
//! child its result names, its `_` child, or the end of the flow. Applications whose result
//! does not decide the next node (answer, prompts, pauses) are queued back to back without
//! waiting for each one; the walk waits only where a result is needed (digits, a
//! recording, a request, a bridge). Teardown (`owed`) does the work the call still owes after
//! the hangup, then leaves the socket.

use std::collections::BTreeMap;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{HangupCause, Module, Node, PivotRequest, DEFAULT_CHILD};
use crate::esl::ChannelData;
use crate::pivot::params::CallInfo;
use crate::route::{AccountId, RouteError};

use super::owed::Owed;
use super::session::{Session, SessionError};
use super::state::causes;
use super::Engine;

/// What happened on a call, for the caller of [`super::run_call`] (demo, simulator, tests).
#[derive(Debug, Clone, Default)]
pub struct CallSummary {
    pub call_id: String,
    pub account_id: String,
    pub hangup_cause: Option<HangupCause>,
    /// Requests made to web apps.
    pub requests: u32,
    /// `kind: message` of every request that took the failback.
    pub failures: Vec<String>,
    /// `url → result` of every recording upload.
    pub uploads: Vec<String>,
    /// True when the call found no flow.
    pub unrouted: bool,
    /// Events that named another channel (ignored).
    pub foreign_events: u64,
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
    Hangup(HangupCause),
    /// The channel is gone: stop.
    Over,
}

/// What the running TwiML document needs: the request that fetched it (its own requests
/// are made like it) and how many recordings it made (their file names count them).
#[derive(Default)]
pub(super) struct TwimlDoc {
    pub base: Option<PivotRequest>,
    pub recordings: u32,
}

pub(super) struct CallRun<'a, T> {
    pub engine: &'a Engine,
    pub session: &'a mut Session<T>,
    pub channel: ChannelData,
    pub call_id: String,
    pub account: AccountId,
    /// The call's facts for requests; None until the call is routed.
    pub info: Option<CallInfo>,
    /// Digits collected since the last request, by collection name.
    pub digits: BTreeMap<String, String>,
    pub owed: Owed,
    pub twiml: TwimlDoc,
    pub summary: CallSummary,
}

impl<'a, T: AsyncRead + AsyncWrite + Unpin> CallRun<'a, T> {
    pub fn new(engine: &'a Engine, channel: ChannelData, session: &'a mut Session<T>) -> Self {
        let call_id = channel.unique_id().unwrap_or("").to_string();
        CallRun {
            engine,
            session,
            account: engine.config.default_account.clone(),
            call_id: call_id.clone(),
            channel,
            info: None,
            digits: BTreeMap::new(),
            owed: Owed::default(),
            twiml: TwimlDoc::default(),
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
                causes::unallocated_number()
            }
        };
        self.finish(cause).await;
        self.summary.foreign_events = self.session.foreign_events;
        // A session that broke in teardown (a reply that never came) is a failed call.
        match self.session.take_fatal() {
            Some(e) => Err(e),
            None => Ok(self.summary),
        }
    }

    async fn walk(&mut self, root: Node) -> Result<HangupCause, SessionError> {
        let mut node = root;
        loop {
            if self.session.is_over() {
                return Ok(causes::normal_clearing());
            }
            let barge_in = leads_to_collection(&node);
            let Node {
                module,
                mut children,
            } = node;
            let next = match self.step(module, barge_in).await? {
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
                None => return Ok(causes::normal_clearing()),
            }
        }
    }

    /// Runs one module. `barge_in`: the module is a prompt that leads to a digit collection,
    /// so the first key stops it.
    async fn step(&mut self, module: Module, barge_in: bool) -> Result<Step, SessionError> {
        match module {
            Module::Say(say) => self.say(say, barge_in).await,
            Module::Tts(tts) => self.tts(tts, barge_in).await,
            Module::Play(play) => self.play(play, barge_in).await,
            Module::RecordCaller(rec) => self.record_caller(rec).await,
            Module::CollectDtmf(c) => self.collect_dtmf(c).await,
            Module::Pivot(req) => self.pivot(req).await,
            Module::Hangup { cause } => {
                Ok(Step::Hangup(cause.unwrap_or_else(causes::normal_clearing)))
            }
            Module::Answer => self.answer().await,
            Module::Sleep { duration } => {
                let arg = duration.as_millis().to_string();
                self.prompt("sleep", arg, 1, barge_in).await
            }
            Module::Response { code, message } => {
                let arg = format!("{code} {message}").trim_end().to_string();
                self.queue("respond", Some(arg)).await
            }
            Module::SendDtmf(s) => self.send_dtmf(s).await,
            Module::Gather(g) => self.gather(g).await,
            Module::Record(r) => self.twiml_record(r).await,
            Module::Dial(d) => self.dial(d).await,
            Module::Redirect(action) => {
                let req = action.request(self.twiml.base.as_ref());
                self.request(req, Default::default()).await
            }
        }
    }

    /// Hangs up (unless the caller did), waits until what was queued has run and
    /// CHANNEL_HANGUP_COMPLETE came, pays what the call owes, and leaves with `exit`.
    async fn finish(&mut self, cause: HangupCause) {
        let cause = self.session.stopped().map_or(cause, |s| s.cause());
        // Queued behind the flow's last applications, so it runs right after them.
        if let Err(e) = self.session.hangup(&cause).await {
            tracing::debug!(error = %e, "hangup command failed");
        }
        if let Err(e) = self.session.wait_idle().await {
            tracing::debug!(error = %e, "the socket ended before the last applications ran");
        }
        if let Some(stop) = self.session.stopped() {
            // Stopped meanwhile (shutdown, maximum duration): now it cannot wait.
            if let Err(e) = self.session.hangup(&stop.cause()).await {
                tracing::debug!(error = %e, "hangup command failed");
            }
        }
        self.session
            .wait_hangup_complete(self.engine.config.esl.hangup_wait)
            .await;
        self.summary.hangup_cause = self.session.state().hangup_cause().cloned();
        self.pay_owed().await;
        self.session.exit(std::time::Duration::from_secs(2)).await;
        tracing::info!(cause = ?self.summary.hangup_cause.as_ref().map(|c| c.as_str()), requests = self.summary.requests, "call ended");
    }
}

/// A prompt module (say, tts, play, sleep) whose `_` path, through prompts only, reaches a
/// `collect_dtmf`: a key pressed during it is meant for the collection, so it stops the
/// prompt (barge-in, as Kazoo does).
fn leads_to_collection(node: &Node) -> bool {
    let mut node = node;
    loop {
        match node.module {
            Module::Say(_) | Module::Tts(_) | Module::Play(_) | Module::Sleep { .. } => {}
            _ => return false,
        }
        match node.default_child() {
            Some(child) if matches!(child.module, Module::CollectDtmf(_)) => return true,
            Some(child) => node = child,
            None => return false,
        }
    }
}

fn log_unrouted(destination: &str, e: &RouteError) {
    tracing::warn!(destination = %destination, error = %e, "no flow for this call: hanging up UNALLOCATED_NUMBER");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::callflow::{CollectDtmf, Say, Text};

    fn say() -> Module {
        Module::Say(Say::text(Text::new("hi").unwrap()))
    }

    fn chain(modules: Vec<Module>) -> Node {
        let mut it = modules.into_iter().rev();
        let mut node = Node::leaf(it.next().unwrap());
        for m in it {
            let mut parent = Node::leaf(m);
            parent.children.insert(DEFAULT_CHILD.into(), node);
            node = parent;
        }
        node
    }

    #[test]
    fn prompts_before_a_collection_are_interruptible() {
        let collect = || Module::CollectDtmf(CollectDtmf::default());
        assert!(leads_to_collection(&chain(vec![say(), collect()])));
        assert!(leads_to_collection(&chain(vec![say(), say(), collect()])));
        assert!(!leads_to_collection(&chain(vec![say()])));
        assert!(!leads_to_collection(&chain(vec![
            say(),
            Module::Answer,
            collect()
        ])));
        assert!(!leads_to_collection(&chain(vec![collect()])));
    }
}
