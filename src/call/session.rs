//! One call's event socket session: send a command and wait for its reply, execute an
//! application and wait for its CHANNEL_EXECUTE_COMPLETE by Event-UUID, and keep track of
//! what the events say about the channel (hung up, hangup complete, DTMF pressed) while
//! waiting for anything. Owns the socket; knows nothing of flows or HTTP.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::esl::{ChannelData, Command, EslCodec, EslError, Event, Execute, Limits, Message};

/// Why a session cannot go on. Hangups are not errors: they are channel state.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("event socket: {0}")]
    Esl(#[from] EslError),
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
}

/// How an application run ended.
#[derive(Debug)]
pub enum AppOutcome {
    /// CHANNEL_EXECUTE_COMPLETE arrived for it.
    Done(Box<Event>),
    /// The channel hung up first (or already had): the flow must stop.
    HungUp,
    /// Not run: a key had already been pressed (barge-in before the prompt).
    Skipped,
}

/// The channel as the events describe it.
#[derive(Debug, Default)]
pub struct ChannelState {
    pub hangup_cause: Option<String>,
    pub hangup_complete: bool,
    pub closed: bool,
    /// Set when pivot was told to stop (shutdown deadline passed).
    pub killed: bool,
    /// CHANNEL_HANGUP_COMPLETE, whose channel variables say how the last app ended (e.g.
    /// `record_seconds` of a recording the hangup stopped).
    pub hangup_complete_event: Option<Box<Event>>,
}

impl ChannelState {
    pub fn is_over(&self) -> bool {
        self.hangup_cause.is_some() || self.closed || self.killed
    }
}

/// A notice of something the call did, for the timeline (demo, simulator, logs).
pub type Observer = Box<dyn FnMut(&str) + Send + Sync>;

pub struct Session<T> {
    io: Framed<T, EslCodec>,
    pub state: ChannelState,
    dtmf: VecDeque<char>,
    reply_timeout: Duration,
    kill: CancellationToken,
    observer: Option<Observer>,
    /// The app being waited for: its Event-UUID, and its completion once seen.
    running: Option<(String, Option<Box<Event>>)>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    pub fn new(io: T, limits: Limits, reply_timeout: Duration, kill: CancellationToken) -> Self {
        Session {
            io: Framed::new(io, EslCodec::new(limits)),
            state: ChannelState::default(),
            dtmf: VecDeque::new(),
            reply_timeout,
            kill,
            observer: None,
            running: None,
        }
    }

    pub fn set_observer(&mut self, observer: Observer) {
        self.observer = Some(observer);
    }

    pub fn note(&mut self, what: &str) {
        if let Some(o) = self.observer.as_mut() {
            o(what);
        }
    }

    /// `connect`, then the channel data from the connect reply.
    pub async fn connect(&mut self) -> Result<ChannelData, SessionError> {
        self.send(Command::Connect).await?;
        let first = tokio::time::timeout(self.reply_timeout, self.io.next()).await;
        match first {
            Err(_) => Err(SessionError::ReplyTimeout {
                command: "connect",
                ms: self.reply_timeout.as_millis(),
            }),
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

    async fn send(&mut self, cmd: Command) -> Result<(), SessionError> {
        self.io.send(cmd).await?;
        Ok(())
    }

    /// Sends several commands at once and waits for all their replies, in order (FreeSWITCH
    /// answers strictly in command order). Returns the reply texts.
    pub async fn pipeline(&mut self, cmds: Vec<Command>) -> Result<Vec<String>, SessionError> {
        let names: Vec<&'static str> = cmds.iter().map(command_name).collect();
        for cmd in cmds {
            self.io.feed(cmd).await?;
        }
        SinkExt::<Command>::flush(&mut self.io).await?;
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            replies.push(self.reply(name).await?);
        }
        Ok(replies)
    }

    /// Sends one command and waits for its reply text.
    pub async fn command(&mut self, cmd: Command) -> Result<String, SessionError> {
        self.command_within(cmd, self.reply_timeout).await
    }

    /// Like [`Session::command`] with its own reply timeout, for commands that are slow on
    /// purpose (an `api http_put` of a long recording). A reply that never comes ends the
    /// call: a late one would be taken for the next command's.
    pub async fn command_within(
        &mut self,
        cmd: Command,
        limit: Duration,
    ) -> Result<String, SessionError> {
        let name = command_name(&cmd);
        self.send(cmd).await?;
        self.reply_within(name, limit).await
    }

    /// Waits for the next reply, handling events that arrive first.
    async fn reply(&mut self, name: &'static str) -> Result<String, SessionError> {
        self.reply_within(name, self.reply_timeout).await
    }

    async fn reply_within(
        &mut self,
        name: &'static str,
        limit: Duration,
    ) -> Result<String, SessionError> {
        let wait = async {
            loop {
                match self.recv().await? {
                    Some(Message::Reply(r)) => return Ok(r.text),
                    Some(Message::ApiResponse(body)) => return Ok(body),
                    other => self.observe_any(other),
                }
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(r) => r,
            Err(_) => {
                // Replies come in order: a late one would answer the next command. The
                // session is unusable; treat it as closed (the socket is dropped).
                self.state.closed = true;
                Err(SessionError::ReplyTimeout {
                    command: name,
                    ms: limit.as_millis(),
                })
            }
        }
    }

    /// Reads the next message; the end of the stream is an error. `None` means the kill
    /// token just fired: the channel is marked over (callers see it through `state`, and
    /// every wait returns), and the token is not watched again.
    async fn recv(&mut self) -> Result<Option<Message>, SessionError> {
        let msg = if self.state.killed {
            self.io.next().await
        } else {
            tokio::select! {
                m = self.io.next() => m,
                _ = self.kill.cancelled() => {
                    self.state.killed = true;
                    return Ok(None);
                }
            }
        };
        match msg {
            Some(Ok(m)) => Ok(Some(m)),
            Some(Err(e)) => {
                self.state.closed = true;
                Err(e.into())
            }
            None => {
                self.state.closed = true;
                Err(SessionError::Closed)
            }
        }
    }

    fn observe_any(&mut self, msg: Option<Message>) {
        if let Some(msg) = msg {
            self.observe(msg);
        }
    }

    /// Applies what an unsolicited message says to the channel state.
    fn observe(&mut self, msg: Message) {
        match msg {
            Message::Event(ev) => self.observe_event(ev),
            Message::Disconnect { .. } => {
                // A linger notice means the channel hung up; the stream goes on.
                if self.state.hangup_cause.is_none() {
                    self.state.hangup_cause = Some("UNKNOWN".into());
                }
                self.note("FreeSWITCH: disconnect notice");
            }
            _ => {}
        }
    }

    fn observe_event(&mut self, ev: Event) {
        match ev.name() {
            Some("CHANNEL_HANGUP") => {
                let cause = ev.hangup_cause().unwrap_or("UNKNOWN").to_string();
                self.note(&format!("event: CHANNEL_HANGUP {cause}"));
                self.state.hangup_cause.get_or_insert(cause);
            }
            Some("CHANNEL_HANGUP_COMPLETE") => {
                let cause = ev.hangup_cause().unwrap_or("UNKNOWN").to_string();
                self.note(&format!("event: CHANNEL_HANGUP_COMPLETE {cause}"));
                self.state.hangup_cause.get_or_insert(cause);
                self.state.hangup_complete = true;
                self.state.hangup_complete_event = Some(Box::new(ev));
            }
            Some("CHANNEL_EXECUTE_COMPLETE") => {
                let ours = matches!(&self.running, Some((id, _)) if ev.application_uuid() == Some(id.as_str()));
                if ours {
                    let what = format!(
                        "event: CHANNEL_EXECUTE_COMPLETE {} {}",
                        ev.application().unwrap_or(""),
                        ev.application_response().unwrap_or("")
                    );
                    self.note(&what);
                    if let Some((_, done)) = self.running.as_mut() {
                        *done = Some(Box::new(ev));
                    }
                }
            }
            Some("DTMF") => {
                if let Some(d) = ev.dtmf_digit().and_then(|d| d.chars().next()) {
                    self.note(&format!("event: DTMF {d}"));
                    // Bounded: a caller cannot make pivot buffer without limit.
                    if self.dtmf.len() < 128 {
                        self.dtmf.push_back(d);
                    }
                }
            }
            _ => {}
        }
    }

    /// Runs an application with event-lock and a fresh Event-UUID, and waits for its
    /// completion or the hangup. Sends nothing once the channel is over.
    pub async fn execute(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
    ) -> Result<AppOutcome, SessionError> {
        self.run_app(app, arg, loops, None).await
    }

    /// Like [`Session::execute`], but the first DTMF key pressed while the application runs
    /// stops it (`api uuid_break`, as a TwiML `<Gather>` prompt or a barge-in needs). The key
    /// stays in the DTMF buffer for the collection that follows. Keys pressed before it
    /// started skip it entirely.
    pub async fn execute_until_dtmf(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
        call_id: &str,
    ) -> Result<AppOutcome, SessionError> {
        if !self.dtmf.is_empty() && !self.state.is_over() {
            return Ok(AppOutcome::Skipped);
        }
        self.run_app(app, arg, loops, Some(call_id)).await
    }

    async fn run_app(
        &mut self,
        app: &str,
        arg: Option<String>,
        loops: Option<u32>,
        break_on_dtmf: Option<&str>,
    ) -> Result<AppOutcome, SessionError> {
        if self.state.is_over() {
            return Ok(AppOutcome::HungUp);
        }
        let id = uuid::Uuid::new_v4().to_string();
        match &arg {
            Some(arg) => self.note(&format!("execute: {app} {arg}")),
            None => self.note(&format!("execute: {app}")),
        }
        let exec = Execute {
            app: app.to_string(),
            arg,
            event_lock: true,
            event_uuid: Some(id.clone()),
            loops,
        };
        let reply = self.command(Command::Execute(exec)).await?;
        if !reply.starts_with("+OK") {
            return Err(SessionError::Refused {
                command: "sendmsg",
                reply,
            });
        }
        self.running = Some((id, None));
        let outcome = self.wait_app(break_on_dtmf).await;
        // Kept while the app may still run (the flow stopped before its completion): a
        // hangup must then not queue behind it.
        if matches!(outcome, Ok(AppOutcome::Done(_))) {
            self.running = None;
        }
        outcome
    }

    /// Waits for the running app's CHANNEL_EXECUTE_COMPLETE (kept by `observe_event`, so it
    /// is not lost while another reply is awaited) or the hangup.
    async fn wait_app(
        &mut self,
        mut break_on_dtmf: Option<&str>,
    ) -> Result<AppOutcome, SessionError> {
        loop {
            if let Some(ev) = self.running.as_mut().and_then(|(_, done)| done.take()) {
                return Ok(AppOutcome::Done(ev));
            }
            if self.state.is_over() {
                return Ok(AppOutcome::HungUp);
            }
            let msg = self.recv().await?;
            self.observe_any(msg);
            if let (Some(call_id), false) = (break_on_dtmf, self.dtmf.is_empty()) {
                // Once: the app's EXECUTE_COMPLETE follows the break.
                break_on_dtmf = None;
                self.note("uuid_break: a key was pressed");
                self.command(Command::Api(format!("uuid_break {call_id}")))
                    .await?;
            }
        }
    }

    /// Runs `work` while still reading the socket, so a hangup is seen at once. Returns None
    /// (and drops `work`) when the channel is over first.
    pub async fn listen_while<F: Future>(
        &mut self,
        work: F,
    ) -> Result<Option<F::Output>, SessionError> {
        tokio::pin!(work);
        loop {
            if self.state.is_over() {
                return Ok(None);
            }
            tokio::select! {
                out = &mut work => return Ok(Some(out)),
                msg = self.recv() => {
                    let msg = msg?;
                    self.observe_any(msg);
                }
            }
        }
    }

    /// True when a key was pressed and not yet read.
    pub fn has_dtmf(&self) -> bool {
        !self.dtmf.is_empty()
    }

    /// Forgets the keys pressed so far (a TwiML `<Gather>` only counts its own).
    pub fn clear_dtmf(&mut self) {
        self.dtmf.clear();
    }

    /// The next DTMF digit, pressed already or within `wait`; None on timeout or hangup.
    pub async fn next_digit(&mut self, wait: Duration) -> Result<Option<char>, SessionError> {
        if let Some(d) = self.dtmf.pop_front() {
            return Ok(Some(d));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.state.is_over() {
                return Ok(None);
            }
            let msg = match tokio::time::timeout_at(deadline, self.recv()).await {
                Ok(m) => m?,
                Err(_) => return Ok(None),
            };
            self.observe_any(msg);
            if let Some(d) = self.dtmf.pop_front() {
                return Ok(Some(d));
            }
        }
    }

    /// Waits (bounded) until FreeSWITCH reports CHANNEL_HANGUP_COMPLETE or closes.
    pub async fn wait_hangup_complete(&mut self, limit: Duration) {
        let wait = async {
            while !self.state.hangup_complete && !self.state.closed {
                match self.recv().await {
                    Ok(m) => self.observe_any(m),
                    Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Asks FreeSWITCH to hang up (once), without waiting for anything. With nothing
    /// running, `sendmsg hangup`; while an application may still run (the flow was stopped
    /// in the middle of it, e.g. at the shutdown deadline), `api uuid_kill`, because a
    /// hangup message would wait behind the event-locked application.
    pub async fn hangup(&mut self, call_id: &str, cause: &str) -> Result<(), SessionError> {
        if self.state.hangup_cause.is_some() || self.state.closed {
            return Ok(());
        }
        self.note(&format!("hangup: {cause}"));
        let cmd = if self.running.is_some() {
            Command::Api(format!("uuid_kill {call_id} {cause}"))
        } else {
            Command::Hangup {
                cause: Some(cause.to_string()),
            }
        };
        self.command(cmd).await?;
        Ok(())
    }

    /// `exit`, then reads until FreeSWITCH closes (bounded); the socket is dropped after.
    pub async fn exit(&mut self, limit: Duration) {
        if self.state.closed {
            return;
        }
        self.note("exit");
        if self.send(Command::Exit).await.is_err() {
            return;
        }
        let drain = async { while let Some(Ok(_)) = self.io.next().await {} };
        let _ = tokio::time::timeout(limit, drain).await;
        self.state.closed = true;
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
        Command::Api(_) => "api",
        Command::BgApi(_) => "bgapi",
        Command::Execute(_) => "sendmsg execute",
        Command::Hangup { .. } => "sendmsg hangup",
    }
}
