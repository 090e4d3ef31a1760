//! One call's event socket session, pipelined: commands go out without waiting for their
//! replies (FreeSWITCH answers strictly in command order, so each reply is matched to the
//! oldest command still owed one), applications are tracked by their Event-UUID from the
//! moment they are sent (a completion that arrives before its `+OK` is kept), and every
//! message read, whoever waits, updates the channel's [`ChannelState`]. Owns the socket;
//! knows nothing of flows or HTTP.
//!
//! Every wait reads the socket, so a hangup is seen at once, and every wait is bounded: a
//! reply owed for longer than its limit ends the session (a late reply would be taken for
//! the next command's), the shutdown token and the call's maximum duration stop the flow.

use bytes::BytesMut;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Poll};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

mod apps;
mod notes;
mod waits;

use super::note::CallNote;
use super::state::{causes, ChannelState, Stop};
use super::timeline::CallTimeline;
use crate::esl::{ChannelData, Command, DisconnectKind, EslCodec, EslError, Event, Message};
use notes::Notes;

/// Why a session cannot go on. Hangups are not errors: they are channel state.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error("event socket: {0}")]
    Esl(std::sync::Arc<EslError>),
    #[error("FreeSWITCH closed the event socket")]
    Closed,
    #[error("no reply to `{command}` within {ms} ms")]
    ReplyTimeout { command: &'static str, ms: u128 },
    #[error("FreeSWITCH refused `{command}`: {reply}")]
    Refused {
        command: &'static str,
        reply: String,
    },
    #[error("the first frame was not a connect reply")]
    NoChannelData,
    #[error("gave up the handshake: a newer connection needed its slot (esl.max_handshaking)")]
    Evicted,
}

impl From<EslError> for SessionError {
    fn from(e: EslError) -> Self {
        SessionError::Esl(std::sync::Arc::new(e))
    }
}

/// How an application run ended.
#[derive(Debug)]
pub enum AppOutcome {
    /// CHANNEL_EXECUTE_COMPLETE arrived for it, the channel still up.
    Done(Box<Event>),
    /// The channel hung up while it ran (or the flow was stopped): the flow must stop. The
    /// completion, when it came first (an application the hangup ended reports it with
    /// `Answer-State: hangup`), still says how it ended (a recording's length, a bridge's
    /// DIALSTATUS).
    HungUp(Option<Box<Event>>),
    /// Not run: a key had already been pressed (barge-in before the prompt).
    Skipped,
}

/// Whether a key pressed while an application runs stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnKey {
    /// Keys are kept for the next collection; the application runs on.
    Ignore,
    /// The first key sends `uuid_break` (barge-in); the key stays in the buffer.
    Break,
}

/// A handle on an application sent with [`Session::start_app`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppId(u64);

/// Sees every step of a call as it happens (the demo's and the simulator's timeline).
pub type Observer = Box<dyn FnMut(&CallNote<'_>) + Send + Sync>;

/// Who ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HungUpBy {
    /// pivot's `hangup` (or `uuid_kill`) ended it.
    Pivot,
    /// Anything else: the caller, the far end, the switch.
    Caller,
}

impl HungUpBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HungUpBy::Pivot => "pivot",
            HungUpBy::Caller => "caller",
        }
    }
}

/// What to do with a reply when it arrives.
#[derive(Debug)]
enum Then {
    /// It must be `+OK`, else the session fails (handshake commands, `sendmsg`).
    Check,
    /// Someone waits for its text under this sequence number.
    Keep(u64),
    /// Nobody needs it (`uuid_break`, a hangup that may find the channel gone).
    Ignore,
}

/// A reply FreeSWITCH owes.
#[derive(Debug)]
struct Owed {
    command: &'static str,
    due: Instant,
    limit: Duration,
    then: Then,
}

/// An application sent and not yet seen complete (or complete and not yet collected).
#[derive(Debug)]
struct App {
    id: AppId,
    uuid: String,
    name: String,
    /// Nobody waits for this one: it is dropped once complete.
    detached: bool,
    done: Option<Box<Event>>,
}

/// What pivot asked FreeSWITCH to do about the hangup so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HangupSent {
    No,
    /// `sendmsg hangup`: runs after the applications queued before it.
    Queued,
    /// `uuid_kill`: at once.
    Killed,
}

/// How FreeSWITCH runs what pivot sends, from `socket ... [async] full` in the dialplan
/// (the connect reply's `Socket-Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketMode {
    /// `async`: the socket has its own thread; the channel waits in FreeSWITCH's park loop,
    /// which runs queued applications once per 20 ms media frame; `api` commands (a
    /// `uuid_break`) act at once, even while an application runs.
    Async,
    /// `static` (no `async`): the channel's own thread reads the socket and runs each
    /// application as it arrives, at once (no frame to wait for), and reads nothing more
    /// until it ends: a prompt is stopped by FreeSWITCH's playback terminators, not by
    /// `uuid_break`, and keys reach pivot only while an application reads them.
    Static,
}

/// Most keys kept unread: a caller cannot make pivot buffer without limit.
const MAX_DTMF: usize = 128;

pub struct Session<T> {
    io: Framed<T, EslCodec>,
    call_id: String,
    state: ChannelState,
    stop: Option<Stop>,
    hangup_sent: HangupSent,
    /// CHANNEL_HANGUP_COMPLETE, whose channel variables say how the last app ended (e.g.
    /// `record_seconds` of a recording the hangup stopped).
    hangup_vars: Option<Box<Event>>,
    owed: VecDeque<Owed>,
    kept: VecDeque<(u64, String)>,
    seq: u64,
    apps: Vec<App>,
    dtmf: VecDeque<char>,
    /// Commands fed to the socket and not flushed yet: the next wait flushes them, so
    /// commands sent back to back leave in one write.
    unflushed: bool,
    /// Commands went out since the last [`Session::rest`]: the next wait with nothing owed
    /// gives back what they grew (once, not at every event of a long prompt).
    rest_due: bool,
    /// A failure seen while reading for someone else (a refused handshake command).
    fault: Option<Box<SessionError>>,
    /// The error that made the session unusable (a protocol error, a reply that never
    /// came), kept so a call that died in teardown still counts as failed.
    fatal: Option<Box<SessionError>>,
    reply_timeout: Duration,
    /// When the call reaches its maximum duration.
    deadline: Option<Instant>,
    kill: CancellationToken,
    notes: Notes,
    /// Who ended the call, once it ended.
    hung_up_by: Option<HungUpBy>,
    /// Events that carried another channel's Unique-ID (ignored).
    pub foreign_events: u64,
    mode: SocketMode,
    /// `playback_terminators` as pivot last set it (None: never, FreeSWITCH's default).
    terminators: Option<String>,
    /// In static mode a reply waits behind the application before it: replies are bounded
    /// by the call's own length then.
    longest_wait: Duration,
    /// How long a frame may take to arrive in full once its first bytes did
    /// (`esl.frame_timeout_ms`).
    frame_timeout: Duration,
    /// When the unfinished frame in the read buffer was first seen.
    partial_since: Option<Instant>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// A session over `io`, reading with `codec` (its limits and its share of the read
    /// budget); `frame_timeout` bounds how long a begun frame may take to finish.
    pub fn new(
        io: T,
        codec: EslCodec,
        reply_timeout: Duration,
        frame_timeout: Duration,
        kill: CancellationToken,
    ) -> Self {
        Session {
            io: Framed::new(io, codec),
            call_id: String::new(),
            state: ChannelState::Ringing,
            stop: None,
            hangup_sent: HangupSent::No,
            hangup_vars: None,
            owed: VecDeque::new(),
            kept: VecDeque::new(),
            seq: 0,
            apps: Vec::new(),
            dtmf: VecDeque::new(),
            unflushed: false,
            rest_due: false,
            fault: None,
            fatal: None,
            reply_timeout,
            longest_wait: reply_timeout,
            mode: SocketMode::Async,
            terminators: None,
            deadline: None,
            kill,
            notes: Notes::new(),
            hung_up_by: None,
            foreign_events: 0,
            frame_timeout,
            partial_since: None,
        }
    }

    pub fn set_observer(&mut self, observer: Observer) {
        self.notes.set_observer(observer);
    }

    /// Tells the observer and the timeline (when there are) what the call did.
    pub fn note(&mut self, note: CallNote<'_>) {
        self.notes.note(note);
    }

    /// True when notes go anywhere (skip building a costly one otherwise).
    pub fn noting(&self) -> bool {
        self.notes.on()
    }

    /// Time since the call's start (the connect reply).
    pub fn elapsed(&self) -> Duration {
        self.notes.elapsed()
    }

    pub fn timeline_on(&self) -> bool {
        self.notes.timeline_on()
    }

    /// Starts keeping the call's timeline (debug is on for the call).
    pub fn start_timeline(&mut self, max_entries: usize) {
        self.notes.start_timeline(max_entries);
    }

    /// Adds to the timeline a step that happened `at`, before it started.
    pub fn keep_at(&mut self, at: Duration, note: CallNote<'_>) {
        self.notes.keep_at(at, note);
    }

    pub fn take_timeline(&mut self) -> Option<CallTimeline> {
        self.notes.take_timeline()
    }

    /// Who ended the call, if it ended while pivot read the socket.
    pub fn hung_up_by(&self) -> Option<HungUpBy> {
        self.hung_up_by
    }

    pub fn state(&self) -> &ChannelState {
        &self.state
    }

    /// Why pivot stopped the flow, if it did.
    pub fn stopped(&self) -> Option<Stop> {
        self.stop
    }

    /// The flow must stop: the channel is not up, or pivot stopped it.
    pub fn is_over(&self) -> bool {
        !self.state.is_up() || self.stop.is_some()
    }

    /// CHANNEL_HANGUP_COMPLETE, once it arrived.
    pub fn hangup_vars(&self) -> Option<&Event> {
        self.hangup_vars.as_deref()
    }

    /// The call stops by itself `after` from now (`esl.max_call_secs`).
    pub fn set_max_duration(&mut self, after: Duration) {
        self.deadline = Some(Instant::now() + after);
        self.longest_wait = after.max(self.reply_timeout);
    }

    pub fn mode(&self) -> SocketMode {
        self.mode
    }

    /// Remembers `playback_terminators` as pivot set it.
    pub fn terminators_set(&mut self, keys: Option<&str>) {
        self.terminators = keys.map(str::to_string);
    }

    pub fn terminators(&self) -> Option<&str> {
        self.terminators.as_deref()
    }

    /// `connect`, then the channel data from the connect reply, which must come `within`
    /// (`esl.handshake_timeout_ms`) unless `give_up` fires first (the server evicts the
    /// connection). The channel's Unique-ID is this session's from now on: events of other
    /// channels are ignored.
    pub async fn connect(
        &mut self,
        within: Duration,
        give_up: &CancellationToken,
    ) -> Result<ChannelData, SessionError> {
        let first = tokio::select! {
            // A reply that is in wins over an eviction decided at the same moment.
            biased;
            r = tokio::time::timeout(within, async {
                self.io.send(Command::Connect).await?;
                let limit = self.frame_timeout;
                Ok::<_, EslError>(next_message(&mut self.io, &mut self.partial_since, limit).await)
            }) => r,
            _ = give_up.cancelled() => return Err(SessionError::Evicted),
        };
        let Ok(first) = first else {
            return Err(SessionError::ReplyTimeout {
                command: "connect",
                ms: within.as_millis(),
            });
        };
        let data = self.connect_reply(first)?;
        self.call_id = data.unique_id().unwrap_or("").to_string();
        self.notes.restart_clock();
        if data.header("Socket-Mode") == Some("static") {
            self.mode = SocketMode::Static;
        }
        if data.answer_state() == Some("answered") {
            self.state = ChannelState::Answered;
        }
        Ok(data)
    }

    /// The channel data of the first frame, or why there is none. A peer that resets the
    /// connection before sending a byte (a health check that closes without reading
    /// pivot's `connect`) has closed it, like one that ends it cleanly: not a protocol error.
    fn connect_reply(
        &self,
        first: Result<Option<Result<Message, EslError>>, EslError>,
    ) -> Result<ChannelData, SessionError> {
        let reset = |e: &EslError| matches!(e, EslError::Io(_));
        match first {
            Err(e) if reset(&e) => Err(SessionError::Closed),
            Err(e) => Err(e.into()),
            Ok(Some(Err(e))) if reset(&e) && self.io.read_buffer().is_empty() => {
                Err(SessionError::Closed)
            }
            Ok(Some(Ok(Message::ConnectReply(data)))) => Ok(data),
            Ok(Some(Ok(Message::Reply(r)))) if !r.is_ok() => Err(SessionError::Refused {
                command: "connect",
                reply: r.text,
            }),
            Ok(Some(Ok(_))) => Err(SessionError::NoChannelData),
            Ok(Some(Err(e))) => Err(e.into()),
            Ok(None) => Err(SessionError::Closed),
        }
    }

    /// Queues a command whose reply must be `+OK`; nothing waits for it here (a refusal
    /// fails the session at the next wait).
    pub async fn send_checked(&mut self, cmd: Command) -> Result<(), SessionError> {
        self.feed(cmd, Then::Check, self.reply_timeout).await
    }

    /// Queues a command whose reply nobody needs.
    pub async fn send_ignored(&mut self, cmd: Command) -> Result<(), SessionError> {
        self.feed(cmd, Then::Ignore, self.reply_timeout).await
    }

    /// Sends one command and waits for its reply text.
    pub async fn command(&mut self, cmd: Command) -> Result<String, SessionError> {
        self.command_within(cmd, self.reply_timeout).await
    }

    /// Like [`Session::command`] with its own reply limit, for commands that are slow on
    /// purpose (an `api http_put` of a long recording).
    pub async fn command_within(
        &mut self,
        cmd: Command,
        limit: Duration,
    ) -> Result<String, SessionError> {
        self.seq += 1;
        let seq = self.seq;
        self.feed(cmd, Then::Keep(seq), limit).await?;
        loop {
            if let Some(i) = self.kept.iter().position(|(s, _)| *s == seq) {
                if let Some((_, text)) = self.kept.remove(i) {
                    return Ok(text);
                }
            }
            self.pump().await?;
        }
    }

    /// Waits until every reply owed to a checked command (the handshake) has arrived.
    pub async fn confirm(&mut self) -> Result<(), SessionError> {
        while self.owed.iter().any(|o| matches!(o.then, Then::Check)) {
            self.pump().await?;
        }
        match self.fault.take() {
            Some(e) => Err(*e),
            None => Ok(()),
        }
    }

    async fn feed(
        &mut self,
        cmd: Command,
        then: Then,
        limit: Duration,
    ) -> Result<(), SessionError> {
        let command = command_name(&cmd);
        // Static mode: FreeSWITCH answers an execute when the application is over, and any
        // command queued behind one when it is.
        let waits_behind = matches!(cmd, Command::Execute(_)) || self.app_running();
        let limit = match self.mode {
            SocketMode::Static if waits_behind => limit.max(self.longest_wait),
            _ => limit,
        };
        // `feed` only encodes into the write buffer (it writes only when the buffer is over
        // its limit); the next wait flushes.
        if let Err(e) = self.io.feed(cmd).await {
            if matches!(e, EslError::Io(_)) {
                self.state.close();
            }
            return Err(e.into());
        }
        self.unflushed = true;
        self.rest_due = true;
        self.owed.push_back(Owed {
            command,
            due: Instant::now() + limit,
            limit,
            then,
        });
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SessionError> {
        if self.unflushed {
            self.unflushed = false;
            if let Err(e) = SinkExt::<Command>::flush(&mut self.io).await {
                self.state.close();
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Sends what is queued, then reads and applies one message (or notices the kill
    /// token, the call's deadline or an overdue reply).
    async fn pump(&mut self) -> Result<(), SessionError> {
        if let Some(e) = self.fault.take() {
            return Err(*e);
        }
        if self.state.is_gone() {
            return Err(SessionError::Closed);
        }
        self.flush().await?;
        if self.rest_due && self.owed.is_empty() {
            self.rest();
        }
        let reply_due = self.owed.front().map(|o| o.due);
        let deadline = self.deadline.filter(|_| self.stop.is_none());
        let watch_kill = self.stop.is_none();
        let frame_timeout = self.frame_timeout;
        let msg = tokio::select! {
            m = next_message(&mut self.io, &mut self.partial_since, frame_timeout) => m,
            _ = self.kill.cancelled(), if watch_kill => {
                self.stop_flow(Stop::Shutdown);
                return Ok(());
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                self.stop_flow(Stop::MaxDuration);
                return Ok(());
            }
            _ = sleep_until(reply_due), if reply_due.is_some() => {
                // Replies come in order: a late one would answer the next command. The
                // session is unusable; the socket is dropped.
                let (command, ms) = self
                    .owed
                    .front()
                    .map_or(("command", 0), |o| (o.command, o.limit.as_millis()));
                self.state.close();
                return Err(self.die(SessionError::ReplyTimeout { command, ms }));
            }
        };
        match msg {
            Some(Ok(m)) => {
                self.observe(m);
                Ok(())
            }
            Some(Err(e)) => {
                self.state.close();
                Err(self.die(e.into()))
            }
            None => {
                self.state.close();
                Err(SessionError::Closed)
            }
        }
    }

    /// Nothing is owed, so this wait may be long (a prompt, a recording, a bridge): the
    /// queues and the write buffer the last commands grew give their memory back, so an idle
    /// call holds only what it still uses (docs/performance.md, "Memory per call"). Costs
    /// an allocation when the next commands go out, next to their write.
    fn rest(&mut self) {
        self.rest_due = false;
        if self.owed.capacity() > 0 {
            self.owed = VecDeque::new();
        }
        if self.kept.is_empty() && self.kept.capacity() > 0 {
            self.kept = VecDeque::new();
        }
        if self.dtmf.is_empty() && self.dtmf.capacity() > 0 {
            self.dtmf = VecDeque::new();
        }
        if self.apps.capacity() > self.apps.len() {
            self.apps.shrink_to_fit();
        }
        // Flushed bytes are advanced past, not freed: `capacity()` does not show what the
        // buffer still holds, so an empty one is replaced (`BytesMut::new` allocates nothing).
        let written = self.io.write_buffer_mut();
        if written.is_empty() {
            *written = BytesMut::new();
        }
    }

    /// Keeps the first error that made the session unusable.
    fn die(&mut self, e: SessionError) -> SessionError {
        self.fatal.get_or_insert_with(|| Box::new(e.clone()));
        e
    }

    /// The error that made the session unusable, if one did.
    pub fn take_fatal(&mut self) -> Option<SessionError> {
        self.fatal.take().map(|e| *e)
    }

    fn stop_flow(&mut self, why: Stop) {
        let why_text = match why {
            Stop::Shutdown => "Shutdown",
            Stop::MaxDuration => "MaxDuration",
        };
        self.note(CallNote::Stop {
            why: why_text.into(),
        });
        self.stop = Some(why);
    }

    /// Applies one message to the session: a reply settles the oldest owed one, an event
    /// updates the channel.
    fn observe(&mut self, msg: Message) {
        // A hangup pivot asked for ends the call once what was queued before it has run.
        let pivot_ends_it = match self.hangup_sent {
            HangupSent::No => false,
            HangupSent::Queued => !self.app_running(),
            HangupSent::Killed => true,
        };
        let was_up = self.state.is_up();
        self.apply(msg);
        if was_up && !self.state.is_up() && self.hung_up_by.is_none() {
            self.hung_up_by = Some(if pivot_ends_it {
                HungUpBy::Pivot
            } else {
                HungUpBy::Caller
            });
        }
    }

    fn apply(&mut self, msg: Message) {
        match msg {
            Message::Reply(r) => self.settle(r.is_ok(), r.text),
            Message::ApiResponse(body) => self.settle(body.starts_with("+OK"), body),
            Message::Event(ev) => self.on_event(ev),
            Message::Disconnect { kind, .. } => {
                if kind == DisconnectKind::Linger {
                    // A linger notice means the channel hung up; the stream goes on.
                    self.state.hang_up(causes::unknown());
                }
                self.note(CallNote::Disconnect);
            }
            _ => {}
        }
    }

    fn settle(&mut self, ok: bool, text: String) {
        let Some(owed) = self.owed.pop_front() else {
            tracing::debug!(reply = %text.trim(), "a reply nobody asked for: ignored");
            return;
        };
        match owed.then {
            Then::Check if !ok => {
                self.fault.get_or_insert_with(|| {
                    Box::new(SessionError::Refused {
                        command: owed.command,
                        reply: text.trim().to_string(),
                    })
                });
            }
            Then::Keep(seq) => self.kept.push_back((seq, text)),
            Then::Check | Then::Ignore => {}
        }
    }

    fn on_event(&mut self, ev: Event) {
        if let Some(id) = ev.unique_id() {
            if id != self.call_id {
                // Another channel's event (a confused or hostile peer): never applied here.
                self.foreign_events += 1;
                tracing::debug!(event = ?ev.name(), other = %id.escape_debug(), "event of another channel ignored");
                return;
            }
        }
        // Every channel event says where the channel is: answered (a bridge answers it), or
        // hanging up (the completion of the application the hangup ended comes before
        // CHANNEL_HANGUP_COMPLETE, seen on 1.10.12).
        match ev.header("Answer-State") {
            Some("answered") => self.state.answered(),
            Some("hangup") => self.state.hang_up(causes::from_event(ev.hangup_cause())),
            _ => {}
        }
        match ev.name() {
            Some("CHANNEL_HANGUP") => {
                let cause = causes::from_event(ev.hangup_cause());
                self.notes.note(CallNote::ChannelHangup {
                    cause: cause.as_str().into(),
                });
                self.state.hang_up(cause);
            }
            Some("CHANNEL_HANGUP_COMPLETE") => {
                let cause = causes::from_event(ev.hangup_cause());
                self.notes.note(CallNote::HangupComplete {
                    cause: cause.as_str().into(),
                });
                self.state.complete(cause);
                self.hangup_vars = Some(Box::new(ev));
            }
            Some("CHANNEL_EXECUTE_COMPLETE") => self.on_complete(ev),
            Some("DTMF") => {
                if let Some(d) = ev.dtmf_digit().and_then(|d| d.chars().next()) {
                    self.note(CallNote::Dtmf { digit: d });
                    if self.dtmf.len() < MAX_DTMF {
                        self.dtmf.push_back(d);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_complete(&mut self, ev: Event) {
        let Some(i) = self
            .apps
            .iter()
            .position(|a| Some(a.uuid.as_str()) == ev.application_uuid())
        else {
            return;
        };
        self.notes.note(CallNote::AppDone {
            app: ev.application().unwrap_or("").into(),
            response: ev.application_response().unwrap_or("").into(),
        });
        if self.apps[i].detached {
            self.apps.remove(i);
        } else {
            self.apps[i].done = Some(Box::new(ev));
        }
    }
}

/// The next message, or the end of the stream. A frame whose first bytes are in must be
/// finished within `limit` (`esl.frame_timeout_ms`): a peer that stops in the middle of one
/// would otherwise pin what it sent, and its share of the read budget, for as long as it
/// likes. Cancel-safe: when the frame began is kept in `partial_since`, not in this future.
async fn next_message<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Framed<T, EslCodec>,
    partial_since: &mut Option<Instant>,
    limit: Duration,
) -> Option<Result<Message, EslError>> {
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(m) = io.poll_next_unpin(cx) {
            *partial_since = None;
            return Poll::Ready(m);
        }
        // Pending: what the buffer holds is the beginning of one frame.
        let pending = io.read_buffer().len();
        if pending == 0 {
            *partial_since = None;
            return Poll::Pending;
        }
        let since = *partial_since.get_or_insert_with(Instant::now);
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(since + limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(EslError::FrameTimeout {
            ms: limit.as_millis(),
            pending,
        })))
    })
    .await
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Connect => "connect",
        Command::MyEvents => "myevents",
        Command::Linger(_) => "linger",
        Command::NoLinger => "nolinger",
        Command::Exit => "exit",
        Command::Resume => "resume",
        Command::Filter { .. } => "filter",
        Command::Events(_) => "event",
        Command::NixEvents(_) => "nixevent",
        Command::Api(_) => "api",
        Command::BgApi(_) => "bgapi",
        Command::Execute(_) => "sendmsg execute",
        Command::Hangup { .. } => "sendmsg hangup",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const REPLY: &[u8] = b"Content-Type: command/reply\nReply-Text: +OK\n\n";

    #[tokio::test]
    async fn a_waiting_session_gives_back_what_its_last_commands_grew() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let limit = Duration::from_secs(5);
        let kill = CancellationToken::new();
        let mut session = Session::new(ours, EslCodec::default(), limit, limit, kill);
        for _ in 0..8 {
            let filter = Command::Filter {
                header: "Unique-ID".into(),
                value: "x".repeat(100),
            };
            session.feed(filter, Then::Check, limit).await.unwrap();
        }
        assert!(session.io.write_buffer().capacity() >= 8 * 100);
        session.flush().await.unwrap();
        assert!(session.owed.capacity() >= 8);
        theirs.write_all(&REPLY.repeat(8)).await.unwrap();
        session.confirm().await.unwrap();
        assert!(session.owed.is_empty());
        // The next wait has nothing owed: it may be long, and holds nothing it doesn't use.
        // (A reply nobody asked for ends this one.)
        theirs.write_all(REPLY).await.unwrap();
        session.pump().await.unwrap();
        assert_eq!(session.owed.capacity(), 0);
        // And the next command still goes out whole.
        session
            .feed(Command::Exit, Then::Ignore, limit)
            .await
            .unwrap();
        // In a new small buffer, not the one the filters grew.
        assert!(session.io.write_buffer().capacity() < 100);
        session.flush().await.unwrap();
        let mut wire = vec![0; 8 * 160 + 6];
        let mut read = 0;
        while !wire[..read].ends_with(b"exit\n\n") {
            read += tokio::io::AsyncReadExt::read(&mut theirs, &mut wire[read..])
                .await
                .unwrap();
        }
        assert_eq!(
            wire[..read].windows(6).filter(|w| w == b"filter").count(),
            8
        );
    }
}
