//! The per-call driver: handshake, routing, running the flow, teardown. One tokio task per
//! call runs [`run_call`]; everything it needs that is shared between calls is in [`Engine`].

mod modules;
mod request;
mod runner;
pub mod session;
mod twiml;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::callflow::FlowLimits;
use crate::config::Config;
use crate::esl::{Command, Limits};
use crate::pivot::fetch::HttpClient;
use crate::route::Router;
use crate::store::DebugSink;
pub use runner::CallSummary;
use session::{Observer, Session, SessionError};

/// What every call shares: configuration, routing, the HTTP client, the debug log.
pub struct Engine {
    pub config: Config,
    pub router: Router,
    pub http: HttpClient,
    pub debug: Option<DebugSink>,
    pub flow_limits: FlowLimits,
    pub esl_limits: Limits,
    pub stats: Stats,
}

/// Counters the metrics endpoint reads.
#[derive(Debug, Default)]
pub struct Stats {
    pub calls_total: AtomicU64,
    pub calls_active: AtomicU64,
    pub calls_failed: AtomicU64,
    pub failbacks: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub requests: AtomicU64,
}

impl Engine {
    pub fn new(config: Config, router: Router, debug: Option<DebugSink>) -> Result<Self, String> {
        let http = HttpClient::new(
            &config.http.user_agent,
            config.http.max_redirects,
            config.http.max_body_bytes,
        )?;
        let flow_limits = FlowLimits {
            max_nodes: config.http.max_flow_nodes,
            max_depth: config.http.max_flow_depth,
        };
        let esl_limits = Limits {
            max_body: config.esl.max_frame_bytes,
            ..Limits::default()
        };
        Ok(Engine {
            config,
            router,
            http,
            debug,
            flow_limits,
            esl_limits,
            stats: Stats::default(),
        })
    }
}

/// The events a call needs; FreeSWITCH duplicates and encodes every event it sends, so the
/// others are filtered out at the source (esl-notes: "What each event costs").
const EVENTS: [&str; 4] = [
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "DTMF",
];

/// Drives one call from `connect` to the socket's close. `kill` ends the call early (the
/// shutdown deadline). Errors are logged here, tagged with the call id; nothing escapes.
pub async fn run_call<T>(
    io: T,
    engine: Arc<Engine>,
    kill: CancellationToken,
    observer: Option<Observer>,
) -> Option<CallSummary>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    engine.stats.calls_total.fetch_add(1, Ordering::Relaxed);
    engine.stats.calls_active.fetch_add(1, Ordering::Relaxed);
    let mut session = Session::new(io, engine.esl_limits, engine.config.esl.reply_timeout, kill);
    if let Some(o) = observer {
        session.set_observer(o);
    }
    let result = drive(&mut session, &engine).await;
    engine.stats.calls_active.fetch_sub(1, Ordering::Relaxed);
    match result {
        Ok(summary) => Some(summary),
        Err(e) => {
            engine.stats.calls_failed.fetch_add(1, Ordering::Relaxed);
            if matches!(e, SessionError::Esl(_)) {
                engine.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            }
            tracing::warn!(error = %e, "call ended on an event socket error");
            None
        }
    }
}

async fn drive<T>(session: &mut Session<T>, engine: &Engine) -> Result<CallSummary, SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let channel = session.connect().await?;
    let call_id = channel.unique_id().unwrap_or("").to_string();
    if !is_safe_call_id(&call_id) {
        // The id goes into file names and API arguments; FreeSWITCH's are UUIDs.
        tracing::warn!(call_id = %call_id.escape_debug(), "refusing a call with an unusable Unique-ID");
        session.exit(engine.config.esl.hangup_wait).await;
        return Err(SessionError::NoChannelData);
    }
    let span = tracing::info_span!("call", call_id = %call_id);
    let _guard = span.enter();
    session.note(&format!("connected: call {call_id}"));
    handshake(session, &call_id).await?;
    let run = runner::CallRun::new(engine, channel, session);
    run.run().await
}

/// `myevents`, the event filters, `linger`, and the protection against `${...}` expansion,
/// sent in one write; FreeSWITCH replies in order.
async fn handshake<T>(session: &mut Session<T>, call_id: &str) -> Result<(), SessionError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut cmds = vec![Command::MyEvents];
    cmds.extend(EVENTS.iter().map(|e| Command::Filter {
        header: "Event-Name".into(),
        value: (*e).into(),
    }));
    cmds.push(Command::Linger(None));
    cmds.push(Command::Api(format!(
        "uuid_setvar {call_id} app_disable_expand_variables true"
    )));
    let replies = session.pipeline(cmds).await?;
    // myevents, filters and linger must succeed; the variable is checked too, since without
    // it web-app text could be expanded by FreeSWITCH.
    for reply in &replies {
        if !reply.starts_with("+OK") {
            return Err(SessionError::Refused {
                command: "handshake",
                reply: reply.trim().to_string(),
            });
        }
    }
    Ok(())
}

fn is_safe_call_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
