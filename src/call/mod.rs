//! The per-call driver: handshake, routing, running the flow, teardown. One tokio task per
//! call runs [`run_call`]; everything it needs that is shared between calls is in [`Engine`].

mod admission;
mod facts;
mod modules;
pub mod note;
mod owed;
mod request;
mod runner;
pub mod session;
pub mod state;
pub mod stats;
mod switch;
pub mod timeline;
mod twiml;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::callflow::FlowLimits;
use crate::config::Config;
use crate::esl::{ChannelData, Command, EslCodec, Limits, ReadBudget};
use crate::pivot::fetch::HttpClient;
use crate::route::Router;
use crate::store::DebugSink;
use admission::{settle, CallError};
pub use admission::{Admission, ConnWarnings, LiveCalls};
pub use note::CallNote;
pub use runner::CallSummary;
pub use session::{HungUpBy, Observer, SocketMode};
use session::{Session, SessionError};
pub use timeline::TimelineEntry;

/// Makes one [`Observer`] per call: how the demo and the simulator see every call's steps.
pub type ObserverFactory = Arc<dyn Fn() -> Observer + Send + Sync>;

/// What every call shares: configuration, routing, the HTTP client, the debug log.
pub struct Engine {
    pub config: Config,
    pub router: Router,
    pub http: HttpClient,
    pub debug: Option<DebugSink>,
    pub flow_limits: FlowLimits,
    pub esl_limits: Limits,
    /// Unfinished frames' bytes on all connections (`esl.read_budget_bytes`).
    pub read_budget: Arc<ReadBudget>,
    pub stats: Stats,
    /// When set, every call gets an observer from it (see [`run_call`]).
    pub observer: Option<ObserverFactory>,
    /// The recording modules of each switch seen (see `switch`).
    pub switches: switch::Switches,
    /// The Unique-IDs of the calls in progress (a second session of one is refused).
    pub live: LiveCalls,
    /// Rate-limited warnings about connections that did not become calls.
    pub warnings: ConnWarnings,
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct Stats {
    pub calls_total: AtomicU64,
    pub calls_active: AtomicU64,
    pub calls_failed: AtomicU64,
    pub failbacks: AtomicU64,
    pub protocol_errors: AtomicU64,
    /// Connections closed before they sent anything (TCP health checks): not calls.
    pub probes: AtomicU64,
    /// Events that named another channel than the call's (ignored).
    pub foreign_events: AtomicU64,
    /// Connections closed because a frame was not finished within `esl.frame_timeout_ms`.
    pub frame_timeouts: AtomicU64,
    /// Connections closed at once: the peer is not in `esl.allow`.
    pub peers_refused: AtomicU64,
    /// Connections refused because `esl.max_calls` calls were in progress.
    pub calls_refused: AtomicU64,
    /// Handshaking connections given up for newer ones (`esl.max_handshaking`).
    pub handshakes_evicted: AtomicU64,
    /// Connections that did not answer `connect` within `esl.handshake_timeout_ms`.
    pub handshake_timeouts: AtomicU64,
    /// Connections refused because a live call holds their Unique-ID.
    pub duplicate_calls: AtomicU64,
    /// Recordings deleted after their upload.
    pub recordings_deleted: AtomicU64,
    /// Leftover recordings deleted by the periodic cleanup.
    pub recordings_cleaned: AtomicU64,
    pub requests: AtomicU64,
    /// Failbacks by failure kind (`timeout`, `http_status`, ...).
    pub failbacks_by_cause: Labelled,
    /// Ended calls by hangup cause (`NORMAL_CLEARING`, `UNALLOCATED_NUMBER`, ...).
    pub outcomes: Labelled,
    pub request_latency: stats::Latency,
    /// Calls, requests, failures, failbacks and latency by account (bounded labels).
    pub accounts: stats::AccountStats,
}

/// Counters keyed by a label value. The label sets are small and closed (failure kinds,
/// hangup causes), so a mutex-guarded map is cheap enough.
#[derive(Debug, Default)]
pub struct Labelled(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

impl Labelled {
    pub fn inc(&self, label: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a peer cannot grow the map without limit through odd hangup causes.
        if map.len() < 256 || map.contains_key(label) {
            *map.entry(label.to_string()).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

impl Engine {
    /// Fails only when the TLS backend cannot be set up for the HTTP client.
    pub fn new(
        config: Config,
        router: Router,
        debug: Option<DebugSink>,
    ) -> Result<Self, reqwest::Error> {
        let http = HttpClient::from_config(&config)?;
        // Web apps' answers may play files under the media roots only.
        let accounts = stats::AccountStats::new(config.api.metrics_max_accounts);
        let flow_limits = FlowLimits {
            max_nodes: config.http.max_flow_nodes,
            max_depth: config.http.max_flow_depth,
            media_roots: Some(config.media.roots()),
        };
        let esl_limits = Limits {
            max_body: config.esl.max_frame_bytes,
            ..Limits::default()
        };
        Ok(Engine {
            live: LiveCalls::new(config.esl.max_calls),
            read_budget: ReadBudget::new(config.esl.read_budget_bytes),
            warnings: ConnWarnings::default(),
            config,
            router,
            http,
            debug,
            flow_limits,
            esl_limits,
            stats: Stats {
                accounts,
                ..Stats::default()
            },
            observer: None,
            switches: switch::Switches::default(),
        })
    }
}

/// The events a call needs: an application's end, the hangup's end (its variables say how
/// a recording ended), keys. The hangup itself is seen from the linger notice, which comes
/// as early as CHANNEL_HANGUP would and costs FreeSWITCH no event.
const EVENTS: [&str; 3] = [
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP_COMPLETE",
    "DTMF",
];

/// How long after pivot's own maximum call duration FreeSWITCH hangs the call up by itself
/// (the safety net for a pivot that went away, see [`handshake`]).
const SAFETY_NET_MARGIN: Duration = Duration::from_secs(60);

/// Drives one call from `connect` to the socket's close. `admitted`: the deadline for the
/// connect reply, the server's way to give the connection up for a newer one, and the call
/// slots; `kill` ends the call early (the shutdown deadline). Errors are logged here,
/// tagged with the call id; nothing escapes.
pub async fn run_call<T>(
    io: T,
    engine: Arc<Engine>,
    admitted: Admission,
    kill: CancellationToken,
    observer: Option<Observer>,
) -> Option<CallSummary>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    engine.stats.calls_active.fetch_add(1, Ordering::Relaxed);
    let esl = &engine.config.esl;
    let codec = EslCodec::with_budget(engine.esl_limits, engine.read_budget.clone());
    let mut session = Session::new(io, codec, esl.reply_timeout, esl.frame_timeout, kill);
    if let Some(o) = observer {
        session.set_observer(o);
    }
    // Every log line of the call carries its id once FreeSWITCH has told it.
    let span = tracing::info_span!("call", call_id = tracing::field::Empty);
    let result = drive(&mut session, &engine, admitted)
        .instrument(span.clone())
        .await;
    let _in_span = span.enter();
    engine.stats.calls_active.fetch_sub(1, Ordering::Relaxed);
    engine
        .stats
        .foreign_events
        .fetch_add(session.foreign_events, Ordering::Relaxed);
    settle(&engine, result)
}

/// `exit` sent to a connection pivot gives up on, without waiting for the peer to close:
/// an idle peer would keep its call slot meanwhile.
const EXIT_AT_ONCE: Duration = Duration::ZERO;

async fn drive<T>(
    session: &mut Session<T>,
    engine: &Engine,
    admitted: Admission,
) -> Result<CallSummary, CallError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (run, _held) = start(session, engine, admitted).await?;
    Ok(run.run().await?)
}

/// What a running call holds until it ends: its call slot and its claim on the Unique-ID.
type Held = (tokio::sync::OwnedSemaphorePermit, admission::Claim);

/// The handshake, up to a routed-to-be call. Its own function so that its locals (the
/// connect reply, the channel data) are not kept in the call's future while the flow runs.
async fn start<'a, T>(
    session: &'a mut Session<T>,
    engine: &'a Engine,
    admitted: Admission,
) -> Result<(Box<runner::CallRun<'a, T>>, Held), CallError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let connected = session.connect(admitted.timeout, admitted.give_up()).await;
    let channel = match connected {
        Ok(c) => c,
        Err(SessionError::Closed) => return Err(CallError::Probe),
        Err(e @ (SessionError::Evicted | SessionError::ReplyTimeout { .. })) => {
            // A slow FreeSWITCH, if it is one, goes on with its dialplan.
            session.exit(EXIT_AT_ONCE).await;
            return Err(CallError::Handshake(e));
        }
        Err(e) => return Err(e.into()),
    };
    // Handshaking is over: a call needs one of the call slots from now on.
    let Some(slot) = admitted.into_call_slot() else {
        session.exit(EXIT_AT_ONCE).await;
        return Err(CallError::OverCap);
    };
    engine.stats.calls_total.fetch_add(1, Ordering::Relaxed);
    let call_id = channel.unique_id().unwrap_or("").to_string();
    if !is_safe_call_id(&call_id) {
        // The id goes into file names and API arguments; FreeSWITCH's are UUIDs.
        tracing::warn!(call_id = %call_id.escape_debug(), "refusing a call with an unusable Unique-ID");
        session.exit(engine.config.esl.hangup_wait).await;
        return Err(SessionError::NoChannelData.into());
    }
    // One session per live call: a second one could act on the call (uuid_* commands) and
    // write to its debug log.
    let Some(claim) = engine.live.claim(&call_id) else {
        session.exit(EXIT_AT_ONCE).await;
        return Err(CallError::Duplicate(call_id));
    };
    tracing::Span::current().record("call_id", call_id.as_str());
    if session.noting() {
        session.note(facts::ChannelFacts::of(&channel).connected_note(session.mode()));
    }
    handshake(session, &channel, &engine.config.esl).await?;
    let run = Box::new(runner::CallRun::new(engine, channel, session));
    Ok((run, (slot, claim)))
}

/// `myevents` narrowed to the events pivot reads, `linger`, the protection against `${...}` expansion
/// (unless the dialplan set it already) and the safety net: FreeSWITCH hangs the call up by
/// itself a little after pivot's own maximum duration, so a call ends in bounded time even
/// when pivot goes away in the middle of an endless prompt. Sent in one write and not
/// waited for: the replies are checked as they come, before the first application (the
/// first web request overlaps them).
async fn handshake<T>(
    session: &mut Session<T>,
    channel: &ChannelData,
    esl: &crate::config::EslConfig,
) -> Result<(), SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let call_id = channel.unique_id().unwrap_or("");
    // myevents ties the socket to this channel's events; `nixevent ALL` then `event plain`
    // narrows it to the three types pivot reads. Every event of the switch goes past every
    // listener's type check, and only then its filters: a narrow type list is cheaper for
    // FreeSWITCH than filters (esl-notes: "What each event costs"). FreeSWITCH reads
    // command headers one byte per read() call, so the short form counts too.
    let mut events: Vec<String> = EVENTS.iter().map(|e| e.to_string()).collect();
    if session.mode() == SocketMode::Static {
        // A static socket holds the channel's thread: CHANNEL_HANGUP_COMPLETE comes only
        // after pivot leaves, so the hangup's cause must come from CHANNEL_HANGUP.
        events.push("CHANNEL_HANGUP".into());
    }
    let mut cmds = vec![
        Command::MyEvents,
        Command::NixEvents(vec!["ALL".into()]),
        Command::Events(events),
        Command::Linger(None),
    ];
    let expansion_off = channel
        .variable("app_disable_expand_variables")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let mode = session.mode();
    let mut vars = Vec::new();
    if !expansion_off {
        vars.push("app_disable_expand_variables=true");
    }
    if mode == SocketMode::Static {
        // Static mode waits for keys with `sleep`, which then reads them.
        vars.push("sleep_eat_digits=true");
    }
    match vars.as_slice() {
        [] => {}
        [one] => {
            let (name, value) = one.split_once('=').unwrap_or((one, ""));
            cmds.push(Command::Api(format!(
                "uuid_setvar {call_id} {name} {value}"
            )));
        }
        many => cmds.push(Command::Api(format!(
            "uuid_setvar_multi {call_id} {}",
            many.join(";")
        ))),
    }
    // In static mode pivot cannot stop an application while it runs (FreeSWITCH reads the
    // socket only between applications): the switch enforces the maximum itself.
    let margin = match mode {
        SocketMode::Async => SAFETY_NET_MARGIN,
        SocketMode::Static => Duration::ZERO,
    };
    let net = esl.max_call_duration + margin;
    cmds.push(Command::Api(format!(
        "sched_hangup +{} {call_id} ALLOTTED_TIMEOUT",
        net.as_secs()
    )));
    for cmd in cmds {
        session.send_checked(cmd).await?;
    }
    session.set_max_duration(esl.max_call_duration);
    Ok(())
}

fn is_safe_call_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    /// A call's task holds, for the whole call, room for the largest state its future can
    /// reach: every idle call pays it (docs/performance.md, "Memory per call"). The large
    /// and rare states are boxed where they are awaited; this keeps a new inline one from
    /// growing every call's task unnoticed.
    #[tokio::test]
    async fn a_call_task_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (stream, _) = accepted.unwrap();
        let engine = Arc::new(Engine::new(Config::default(), Router::empty(), None).unwrap());
        let (admitted, _token) =
            admission::Admission::new(Duration::from_secs(1), Arc::new(Semaphore::new(1)));
        let call = run_call(stream, engine, admitted, CancellationToken::new(), None);
        let size = std::mem::size_of_val(&call);
        // 4,304 bytes before the module was lent to `step`, the handshake got its own
        // function and the collection was boxed; about 2,800 after. Up to 2,880, tokio's
        // task (the future, a 128-byte-aligned header and trailer) fits jemalloc's 3 KiB
        // size class; above, the next class is 3.5 KiB.
        assert!(size <= 2_880, "a call's future is {size} bytes");
        drop(client);
    }
}
