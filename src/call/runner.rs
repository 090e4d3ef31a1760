//! Routing a call and walking its flow: each node's module runs (see `modules`), then the
//! child its result names, its `_` child, or the end of the flow. Applications whose result
//! does not decide the next node (answer, prompts, pauses) are queued back to back without
//! waiting for each one; the walk waits only where a result is needed (digits, a
//! recording, a request, a bridge). Teardown (`owed`) does the work the call still owes after
//! the hangup, then leaves the socket.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{HangupCause, Module, Node, PivotRequest, DEFAULT_CHILD};
use crate::esl::ChannelData;
use crate::pivot::params::CallInfo;
use crate::route::{AccountId, RouteError};

use super::facts::ChannelFacts;
use super::note::CallNote;
use super::owed::Owed;
use super::session::{Session, SessionError};
use super::state::causes;
use super::stats::AccountLabel;
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
    /// Boxed: most calls never run TwiML, and every call holds its `CallRun` for its life.
    pub base: Option<Box<PivotRequest>>,
    pub recordings: u32,
}

pub(super) struct CallRun<'a, T> {
    pub engine: &'a Engine,
    pub session: &'a mut Session<T>,
    /// The connect reply's channel data, until the call is routed (then dropped: every
    /// channel variable, kilobytes per call); `facts` is what the rest of the call reads.
    channel: Option<Box<ChannelData>>,
    /// The channel's facts; `facts.call_id` is the call's id.
    pub facts: ChannelFacts,
    pub account: AccountId,
    /// The call's facts for requests; None until the call is routed.
    pub info: Option<CallInfo>,
    /// Digits collected since the last request, by collection name.
    pub digits: BTreeMap<String, String>,
    pub owed: Owed,
    pub twiml: TwimlDoc,
    pub summary: CallSummary,
    /// When the call was routed and by what (`routed:`), for a timeline started later.
    pub routed: Option<(Duration, String)>,
    /// The call's account as `/metrics` labels it (set at routing).
    pub label: AccountLabel,
}

impl<'a, T: AsyncRead + AsyncWrite + Unpin> CallRun<'a, T> {
    pub fn new(engine: &'a Engine, channel: ChannelData, session: &'a mut Session<T>) -> Self {
        let facts = ChannelFacts::of(&channel);
        let call_id = facts.call_id.clone();
        CallRun {
            engine,
            session,
            account: engine.config.default_account.clone(),
            channel: Some(Box::new(channel)),
            facts,
            info: None,
            digits: BTreeMap::new(),
            owed: Owed::default(),
            twiml: TwimlDoc::default(),
            summary: CallSummary {
                call_id,
                ..CallSummary::default()
            },
            routed: None,
            label: AccountLabel {
                account: String::new(),
            },
        }
    }

    /// Routes, runs the flow, hangs up and tears down. Boxed: the call's state is moved in
    /// once (an `async fn` taking it by value would hold two copies in its future).
    pub async fn run(mut self: Box<Self>) -> Result<CallSummary, SessionError> {
        let cause = match self.route() {
            Some(flow) => match self.walk(flow).await {
                Ok(cause) => cause,
                Err(e) => {
                    // The call broke mid-flow: what it did so far is still worth keeping.
                    self.save_timeline();
                    return Err(e);
                }
            },
            None => causes::unallocated_number(),
        };
        self.finish(cause).await;
        self.save_timeline();
        self.summary.foreign_events = self.session.foreign_events;
        // A session that broke in teardown (a reply that never came) is a failed call.
        match self.session.take_fatal() {
            Some(e) => Err(e),
            None => Ok(self.summary),
        }
    }

    /// Finds the call's flow and account (none found: the call is unrouted). Not async, so
    /// that nothing of the route but its flow stays in the call's future.
    fn route(&mut self) -> Option<Node> {
        let channel = self.channel.take()?;
        let destination = self.facts.to.clone();
        let vars = |name: &str| channel.variable(name).map(str::to_string);
        let routed =
            self.engine
                .router
                .route(&destination, &vars, &self.engine.config.default_account);
        if let Ok(route) = &routed {
            self.account = route.account_id.clone();
        }
        let accounts = &self.engine.stats.accounts;
        self.label = accounts.label(&self.account.to_string());
        accounts.call(&self.label);
        match routed {
            Ok(route) => {
                self.summary.account_id = self.account.to_string();
                let get = |name: &str| channel.header(name).map(str::to_string);
                self.info = Some(CallInfo::from_channel(&get, &self.account.to_string()));
                tracing::info!(destination = %destination, source = ?route.source, "call routed");
                if has_debug(&route.flow) {
                    self.start_timeline(None);
                }
                self.note_routed(&route.source);
                Some(route.flow)
            }
            Err(e) => {
                self.summary.unrouted = true;
                log_unrouted(&destination, &e);
                if self.session.noting() {
                    let error = e.to_string();
                    self.session.note(CallNote::NoRoute {
                        error: error.into(),
                    });
                }
                None
            }
        }
    }

    fn note_routed(&mut self, source: &crate::route::RouteSource) {
        let source = format!("{source:?}");
        let account = self.account.to_string();
        self.session.note(CallNote::Routed {
            source: source.as_str().into(),
            account: account.into(),
        });
        self.routed = Some((self.session.elapsed(), source));
    }

    /// Debug is on for the call: keeps its timeline from now on. `late_from`: the request
    /// that turned debug on, when the call had begun without it (its start and routing
    /// are added; what came between is not kept).
    pub(super) fn start_timeline(&mut self, late_from: Option<u32>) {
        if self.session.timeline_on() || self.engine.debug.is_none() {
            return;
        }
        let max = self.engine.config.store.timeline_max_entries;
        self.session.start_timeline(max);
        let connected = self.facts.connected_note(self.session.mode());
        self.session.keep_at(Duration::ZERO, connected);
        if let Some((at, source)) = &self.routed {
            let routed = CallNote::Routed {
                source: source.as_str().into(),
                account: self.account.to_string().into(),
            };
            self.session.keep_at(*at, routed);
        }
        if let Some(iteration) = late_from {
            let now = self.session.elapsed();
            self.session.keep_at(now, CallNote::DebugOn { iteration });
        }
    }

    /// Hands the call's timeline (if debug was on) to the store.
    fn save_timeline(&mut self) {
        let (Some(timeline), Some(sink)) = (self.session.take_timeline(), &self.engine.debug)
        else {
            return;
        };
        let entries = timeline.finish();
        let json = match serde_json::to_string(&entries) {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!(error = %e, "the call's timeline could not be encoded");
                return;
            }
        };
        let started = SystemTime::now()
            .checked_sub(self.session.elapsed())
            .unwrap_or_else(SystemTime::now);
        sink.timeline(crate::store::TimelineRecord {
            call_id: self.facts.call_id.clone(),
            account_id: self.account.to_string(),
            created: started,
            entries: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            json,
        });
    }

    async fn walk(&mut self, root: Node) -> Result<HangupCause, SessionError> {
        // The node stays boxed and the module is lent to `step`: a module moved into the
        // walk's future would take room there (and again in the module's future) for
        // the whole call.
        let mut node = Box::new(root);
        loop {
            if self.session.is_over() {
                return Ok(causes::normal_clearing());
            }
            let barge_in = leads_to_collection(&node);
            let children = &mut node.children;
            let next = match self.step(&node.module, barge_in).await? {
                Step::Child(key) => key
                    .and_then(|k| children.remove(&k))
                    .or_else(|| children.remove(DEFAULT_CHILD))
                    .map(Box::new),
                Step::Flow(flow) => Some(flow),
                Step::Failback => children.remove(DEFAULT_CHILD).map(Box::new),
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
    /// so the first key stops it. The modules whose futures are large (requests, Gather,
    /// Record, Dial: several KB each) are boxed, allocated only while they run: inline, the
    /// task of every call would hold room for the largest of them (docs/performance.md).
    /// The module is borrowed, for the same reason; the boxed ones take a copy.
    async fn step(&mut self, module: &Module, barge_in: bool) -> Result<Step, SessionError> {
        match module {
            Module::Say(say) => self.say(say, barge_in).await,
            Module::Tts(tts) => self.tts(tts, barge_in).await,
            Module::Play(play) => self.play(play, barge_in).await,
            Module::RecordCaller(rec) => self.record_caller(rec).await,
            Module::CollectDtmf(c) => Box::pin(self.collect_dtmf(c)).await,
            Module::Pivot(req) => Box::pin(self.pivot((**req).clone())).await,
            Module::Hangup { cause } => Ok(Step::Hangup(
                cause.clone().unwrap_or_else(causes::normal_clearing),
            )),
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
            Module::Gather(g) => Box::pin(self.gather((**g).clone())).await,
            Module::Record(r) => Box::pin(self.twiml_record((**r).clone())).await,
            Module::Dial(d) => Box::pin(self.dial((**d).clone())).await,
            Module::Redirect(action) => {
                let req = action.request(self.twiml.base.as_deref());
                Box::pin(self.request(req, Default::default())).await
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
        if self.session.noting() {
            let cause = self.summary.hangup_cause.as_ref();
            let by = self.session.hung_up_by().map_or("unknown", |b| b.as_str());
            self.session.note(CallNote::Ended {
                cause: cause.map_or("UNKNOWN", |c| c.as_str()).into(),
                by: by.into(),
            });
        }
        // Boxed, as the larger modules are in `step`: a call's task holds, for its whole life,
        // room for the largest state it could reach; these are rare or short.
        Box::pin(self.pay_owed()).await;
        self.session.exit(std::time::Duration::from_secs(2)).await;
        tracing::info!(cause = ?self.summary.hangup_cause.as_ref().map(|c| c.as_str()), requests = self.summary.requests, "call ended");
    }
}

/// True when a `pivot` node of the flow has `debug` on: the call's timeline is kept.
fn has_debug(root: &Node) -> bool {
    any_module(root, |m| matches!(m, Module::Pivot(req) if req.debug))
}

/// True when the flow makes requests the TwiML way, like the request that fetched it
/// (`<Gather>`, `<Record>`, `<Dial>` actions, `<Redirect>`): only then is that request kept.
pub(super) fn uses_request_base(root: &Node) -> bool {
    any_module(root, |m| {
        matches!(
            m,
            Module::Gather(_) | Module::Record(_) | Module::Dial(_) | Module::Redirect(_)
        )
    })
}

fn any_module(root: &Node, found: impl Fn(&Module) -> bool) -> bool {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if found(&node.module) {
            return true;
        }
        stack.extend(node.children.values());
    }
    false
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

    #[test]
    fn only_a_flow_that_makes_twiml_requests_keeps_the_request_that_fetched_it() {
        use crate::callflow::FlowLimits;
        use crate::pivot::{piston::parse_piston, twiml::parse_twiml};
        let limits = FlowLimits::default();
        let base = url::Url::parse("http://app.example/voice").unwrap();
        let twiml = |doc: &str| parse_twiml(doc.as_bytes(), &base, &limits).unwrap();
        assert!(uses_request_base(&twiml(
            "<Response><Say>hi</Say><Redirect>/next</Redirect></Response>"
        )));
        assert!(uses_request_base(&twiml(
            "<Response><Gather action=\"/keys\"><Say>press</Say></Gather></Response>"
        )));
        assert!(!uses_request_base(&twiml(
            "<Response><Play>http://app.example/a.wav</Play><Hangup/></Response>"
        )));
        let piston = br#"{"module":"play","data":{"id":"tone_stream://%(100,0,440)"}}"#;
        assert!(!uses_request_base(&parse_piston(piston, &limits).unwrap()));
    }
}
