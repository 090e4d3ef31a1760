//! The fake FreeSWITCH's per-connection loop: reads commands, answers them in order, fires
//! timers (running apps, DTMF, outside hangup, linger) and control requests from the handle.
//! Application and hangup behaviour live in fs_apps.rs, `api` in fs_api.rs.

use super::fake_fs::{FakeCall, Shared};
use super::fs_apps::{Msg, Running};
use super::fs_channel::{ChanState, Channel, Headers};
use super::fs_wire::{disconnect_frame, parse_command, reply_frame, Command};
use super::transcript::{Dir, Linger, ServerFrame};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Requests from the test through the handle.
#[derive(Debug)]
pub enum Control {
    Hangup(String),
    Dtmf(char),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    AwaitConnect,
    Up,
    HungUp,
    Closed,
}

/// Reads whole commands; cancel-safe (bytes stay in `buf` across cancelled reads).
pub struct Reader {
    half: OwnedReadHalf,
    buf: BytesMut,
}

pub enum Read {
    Cmd(Command),
    Eof,
    Bad(String),
}

impl Reader {
    pub async fn next(&mut self) -> Read {
        loop {
            match parse_command(&self.buf) {
                Ok(Some((cmd, used))) => {
                    let _ = self.buf.split_to(used);
                    return Read::Cmd(cmd);
                }
                Ok(None) => {}
                Err(e) => return Read::Bad(e.to_string()),
            }
            match self.half.read_buf(&mut self.buf).await {
                Ok(0) => return Read::Eof,
                Ok(_) => {}
                Err(e) => return Read::Bad(format!("read error: {e}")),
            }
        }
    }
}

pub struct Session {
    pub cfg: FakeCall,
    pub shared: Arc<Shared>,
    pub writer: OwnedWriteHalf,
    pub started: Instant,
    pub phase: Phase,
    pub chan: Channel,
    pub myevents: bool,
    pub event_names: Vec<String>,
    /// The event types this socket receives.
    pub subscription: super::fs_commands::Subscription,
    pub filters: Vec<(String, String)>,
    pub linger: Linger,
    pub resumed: bool,
    pub queue: VecDeque<Msg>,
    pub stack: Vec<Running>,
    pub dtmf: VecDeque<(Instant, char)>,
    pub hangup_at: Option<Instant>,
    /// `sched_hangup`: when, and the cause.
    pub sched_hangup: Option<(Instant, String)>,
    /// When the socket application parked the channel (its frames count from then).
    pub parked_since: Instant,
    /// The next frame, when the parked channel has something queued.
    pub tick_at: Option<Instant>,
    /// The channel is running its queue (from a frame until the queue is empty and nothing
    /// runs); a message that arrives then runs without waiting for a frame.
    pub awake: bool,
    /// Static mode: commands read while an application runs wait for its end; what the
    /// fake would send meanwhile (events) goes after the application's `+OK`.
    pub held_cmds: VecDeque<Command>,
    pub outbox: Vec<(Vec<u8>, String)>,
    /// Static mode: the `sendmsg` whose application runs now owes its `+OK`.
    pub reply_owed: bool,
    /// Static mode: keys the caller pressed while no application read them (FreeSWITCH
    /// queues them on the channel; the DTMF event fires when an application takes one).
    pub unread_keys: VecDeque<char>,
    pub linger_close_at: Option<Instant>,
    pub park_sent: bool,
    /// `record_session` recordings still open (media bugs): the file, and the variables
    /// its close sets (`record_ms`...).
    pub bugs: Vec<(String, Vec<(String, String)>)>,
}

/// Runs one fake call on `stream` until the socket is closed.
pub async fn run(
    stream: TcpStream,
    cfg: FakeCall,
    shared: Arc<Shared>,
    mut ctl: mpsc::UnboundedReceiver<Control>,
) {
    let (half, writer) = stream.into_split();
    let mut reader = Reader {
        half,
        buf: BytesMut::with_capacity(8192),
    };
    let chan = Channel::new(
        &cfg.uuid,
        &cfg.destination,
        (&cfg.caller_id_name, &cfg.caller_id_number),
        cfg.answered,
        &cfg.socket_data,
        &cfg.vars,
    );
    let mut s = Session {
        cfg,
        shared,
        writer,
        started: Instant::now(),
        phase: Phase::AwaitConnect,
        chan,
        myevents: false,
        event_names: Vec::new(),
        subscription: Default::default(),
        filters: Vec::new(),
        linger: Linger::Off,
        resumed: false,
        queue: VecDeque::new(),
        stack: Vec::new(),
        dtmf: VecDeque::new(),
        hangup_at: None,
        sched_hangup: None,
        parked_since: Instant::now(),
        tick_at: None,
        awake: false,
        held_cmds: VecDeque::new(),
        outbox: Vec::new(),
        reply_owed: false,
        unread_keys: VecDeque::new(),
        linger_close_at: None,
        park_sent: false,
        bugs: Vec::new(),
    };
    let mut ctl_open = true;
    while s.phase != Phase::Closed {
        let deadline = s.next_deadline();
        tokio::select! {
            r = reader.next() => match r {
                Read::Cmd(cmd) => s.on_command(cmd).await,
                Read::Eof => s.on_server_closed().await,
                Read::Bad(e) => {
                    s.protocol_error(format!("unreadable input: {e}"));
                    s.close().await;
                }
            },
            _ = sleep_until_opt(deadline), if deadline.is_some() => s.on_timer().await,
            c = ctl.recv(), if ctl_open => match c {
                Some(c) => s.on_control(c).await,
                None => ctl_open = false,
            },
        }
    }
    s.drain(&mut reader).await;
    s.shared.update(|t| {
        t.done = true;
        t.note(s.started.elapsed(), Dir::Note, "fake call finished");
    });
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d).await;
    }
}

impl Session {
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn note(&self, what: impl Into<String>) {
        let at = self.elapsed();
        self.shared.update(|t| t.note(at, Dir::Note, what));
    }

    pub fn protocol_error(&self, what: String) {
        let at = self.elapsed();
        self.shared.update(|t| {
            t.note(at, Dir::Note, format!("PROTOCOL ERROR: {what}"));
            t.protocol_errors.push(what);
        });
    }

    /// Static mode, while an application runs: the channel's thread is in it, nothing is
    /// read or sent until it ends.
    pub fn static_busy(&self) -> bool {
        self.chan.static_mode && self.reply_owed
    }

    /// Writes bytes to the server; a write error means the server is gone. In static mode
    /// what comes up while an application runs waits for its end.
    pub async fn send(&mut self, bytes: &[u8], what: String) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.static_busy() {
            self.outbox.push((bytes.to_vec(), what));
            return;
        }
        let at = self.elapsed();
        self.shared.update(|t| t.note(at, Dir::Out, what));
        if self.writer.write_all(bytes).await.is_err() {
            self.note("write failed: server gone");
            self.phase = Phase::Closed;
        }
    }

    pub async fn reply(&mut self, text: &str) {
        self.send(&reply_frame(text), format!("command/reply {text}"))
            .await;
    }

    /// Builds an event (always counted) and sends it if subscriptions and filters allow.
    pub async fn emit(&mut self, name: &str, state: ChanState, extra: Headers) {
        let headers = self.chan.event(name, state, extra);
        if !self.wants(&headers) {
            self.note(format!("event {name} not sent (not subscribed / filtered)"));
            return;
        }
        let summary = super::fs_commands::summarize(&headers);
        self.send(&Channel::frame(&headers), summary).await;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut ds = vec![self.hangup_at, self.linger_close_at];
        ds.push(self.sched_hangup.as_ref().map(|(at, _)| *at));
        ds.push(self.tick_at);
        ds.push(self.dtmf.front().map(|(at, _)| *at));
        if let Some(top) = self.stack.last() {
            ds.push(top.deadline());
            ds.push(top.next_dtmf_at());
        }
        ds.into_iter().flatten().min()
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.hangup_at.is_some_and(|d| d <= now) {
            self.hangup_at = None;
            let cause = self.cfg.outside_cause.clone();
            self.hangup_from_outside(cause).await;
        }
        if self.sched_hangup.as_ref().is_some_and(|(d, _)| *d <= now) {
            if let Some((_, cause)) = self.sched_hangup.take() {
                self.note("sched_hangup is due");
                self.hangup_from_outside(cause).await;
            }
        }
        if self.tick_at.is_some_and(|d| d <= now) {
            self.tick_at = None;
            self.awake = true;
            self.pump().await;
        }
        if self.linger_close_at.is_some_and(|d| d <= now) {
            self.linger_close_at = None;
            self.note("linger time over");
            self.close().await;
        }
        while self.dtmf.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, digit)) = self.dtmf.pop_front() {
                self.dtmf_now(digit).await;
            }
        }
        self.on_app_timer(now).await;
    }

    async fn on_control(&mut self, c: Control) {
        self.note(format!("test asks: {c:?}"));
        match c {
            Control::Hangup(cause) => self.hangup_from_outside(cause).await,
            Control::Dtmf(d) => self.dtmf_now(d).await,
        }
    }

    pub async fn on_command(&mut self, cmd: Command) {
        if self.static_busy() {
            self.note(format!(
                "static mode: {:?} waits for the running application",
                cmd.line
            ));
            self.held_cmds.push_back(cmd);
            return;
        }
        let at = self.elapsed();
        let hung_up = self.phase == Phase::HungUp;
        let frame = ServerFrame { at, cmd };
        self.shared.update(|t| {
            t.note(at, Dir::In, frame_summary(&frame.cmd));
            t.frames.push(frame.clone());
            if hung_up {
                t.after_hangup.push(frame.clone());
            }
        });
        let cmd = frame.cmd;
        if self.phase == Phase::AwaitConnect && cmd.verb() != "connect" {
            self.protocol_error(format!("{:?} before connect", cmd.line));
        }
        match cmd.verb().as_str() {
            "connect" => self.on_connect().await,
            "myevents" => self.on_myevents(&cmd).await,
            "event" => self.on_event_cmd(&cmd).await,
            "nixevent" => self.on_nixevent(&cmd).await,
            "noevents" => {
                self.myevents = false;
                self.event_names.clear();
                self.reply("+OK no longer listening for events").await;
            }
            "linger" => self.on_linger(&cmd).await,
            "nolinger" => {
                self.linger = Linger::Off;
                self.shared.update(|t| t.linger = Linger::Off);
                self.reply("+OK will not linger").await;
            }
            "filter" => self.on_filter(&cmd).await,
            "resume" => {
                self.resumed = true;
                self.shared.update(|t| t.resumed = true);
                self.reply("+OK").await;
            }
            "exit" => self.on_exit().await,
            "sendmsg" => self.on_sendmsg(&cmd).await,
            "api" => self.on_api(cmd.rest().to_string()).await,
            "bgapi" => self.on_bgapi(cmd.rest().to_string()).await,
            "getvar" => {
                let v = self.chan.var(cmd.rest()).unwrap_or("").to_string();
                self.reply(&v).await;
            }
            _ => self.reply("-ERR command not found").await,
        }
    }

    async fn on_connect(&mut self) {
        if self.phase != Phase::AwaitConnect {
            self.protocol_error("second connect".into());
            self.reply("+OK").await;
            return;
        }
        let bytes = self.chan.connect_reply();
        self.send(&bytes, "connect reply (CHANNEL_DATA, command/reply)".into())
            .await;
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Up;
        let now = Instant::now();
        self.parked_since = now;
        let mut dtmf = self.cfg.dtmf.clone();
        dtmf.sort_by_key(|(d, _)| *d);
        self.dtmf = dtmf.into_iter().map(|(d, c)| (now + d, c)).collect();
        self.hangup_at = self.cfg.hangup_after.map(|d| now + d);
    }

    async fn on_exit(&mut self) {
        self.shared.update(|t| t.server_sent_exit = true);
        self.reply("+OK bye").await;
        self.socket_gone().await;
        self.close().await;
    }

    async fn on_server_closed(&mut self) {
        self.shared.update(|t| t.server_closed = true);
        self.note("server closed the socket");
        self.socket_gone().await;
        self.phase = Phase::Closed;
    }

    /// The server left while the call was up: FreeSWITCH hangs up (after the running app)
    /// unless `resume` was sent.
    async fn socket_gone(&mut self) {
        if self.phase != Phase::Up {
            return;
        }
        if self.resumed {
            self.note("socket gone after resume: the dialplan continues");
            return;
        }
        let at = self.elapsed();
        self.shared.update(|t| {
            t.hangup = Some(super::transcript::Hangup {
                cause: "NORMAL_CLEARING".into(),
                by: super::transcript::HangupBy::SocketGone,
                at,
            })
        });
        self.phase = Phase::HungUp;
    }

    /// Sends the goodbye notice and ends the session.
    pub async fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        let uuid = self.chan.uuid.clone();
        self.send(
            &disconnect_frame(&uuid),
            "disconnect-notice (disconnect)".into(),
        )
        .await;
        let _ = self.writer.shutdown().await;
        self.phase = Phase::Closed;
    }

    /// After closing, reads what the server still sends (so our close is a clean FIN, not a
    /// reset that could destroy frames in flight), for a short while.
    async fn drain(&mut self, reader: &mut Reader) {
        let _ = self.writer.shutdown().await;
        let until = Instant::now() + Duration::from_millis(500);
        while let Ok(Read::Cmd(cmd)) = tokio::time::timeout_at(until, reader.next()).await {
            let at = self.elapsed();
            let frame = ServerFrame { at, cmd };
            self.shared.update(|t| {
                t.note(
                    at,
                    Dir::In,
                    format!("(after close) {}", frame_summary(&frame.cmd)),
                );
                t.frames.push(frame.clone());
                t.after_hangup.push(frame);
            });
        }
    }
}

/// One line about a command for the timeline.
pub fn frame_summary(cmd: &Command) -> String {
    let mut out = cmd.line.clone();
    for (n, v) in &cmd.headers {
        if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("content-type") {
            continue;
        }
        out.push_str(&format!(" | {n}: {v}"));
    }
    if !cmd.body.is_empty() {
        let body = String::from_utf8_lossy(&cmd.body);
        out.push_str(&format!(" | body {body:?}"));
    }
    out
}
