//! The simulated FreeSWITCH's connection: it dials pivot's event socket like
//! `socket host:port async full`, reads pivot's commands with `crate::esl`'s `FrameCodec`
//! and `Command::from_frame`, and answers each one as FreeSWITCH 1.10 does. The channel's
//! side (applications, DTMF, hangup) is in `media`; the bytes written are built by `wire`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::channel::{Channel, SimCall};
use super::media::Running;
use super::timeline::{Source, Timeline};
use super::{wire, SimError};
use crate::esl::{Command, Execute, Frame, FrameCodec, Limits};

/// What the simulated FreeSWITCH saw of the call.
#[derive(Debug, Clone, Default)]
pub struct PeerReport {
    pub call_id: String,
    /// The hangup cause, once the call hung up.
    pub hangup_cause: Option<String>,
    /// pivot left with `exit` (rather than closing the socket or going silent).
    pub exited: bool,
    /// `<url> -> <status>` of every `http_put`.
    pub uploads: Vec<String>,
    /// How many times the parked channel had to wait for its next 20 ms frame before it
    /// ran what pivot queued (each wait is time the caller hears nothing new).
    pub frames_waited: u32,
}

/// How long the simulator waits for pivot to end its side once the call hung up.
const AFTER_HANGUP: Duration = Duration::from_secs(30);
/// How long a call may last when the caller never hangs up.
const LONGEST_CALL: Duration = Duration::from_secs(600);
/// The event types `myevents` subscribes to (mod_event_socket.c, FreeSWITCH 1.10.12).
pub const MYEVENTS: [&str; 23] = [
    "CHANNEL_ANSWER",
    "CHANNEL_APPLICATION",
    "CHANNEL_BRIDGE",
    "CHANNEL_CREATE",
    "CHANNEL_DATA",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_STATE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_UNPARK",
    "DETECTED_SPEECH",
    "DTMF",
    "NOTALK",
    "TALK",
];

/// Messages queued on the channel (a flow's run of prompts), at most.
const MAX_QUEUED: usize = 1000;
/// FreeSWITCH's media frame: a parked channel looks at its queue once per frame.
pub(super) const FRAME: Duration = Duration::from_millis(20);

/// A `sendmsg` waiting in the channel's queue (FreeSWITCH's private event queue): it runs
/// after the event-locked application before it, or at the next frame when none runs.
pub(super) enum Queued {
    Execute(Execute),
    Hangup(String),
}

pub(super) struct Peer {
    reader: FramedRead<OwnedReadHalf, FrameCodec>,
    writer: OwnedWriteHalf,
    pub(super) chan: Channel,
    pub(super) timeline: Timeline,
    pub(super) http: reqwest::Client,
    myevents: bool,
    /// The event types the socket receives (`myevents`' types, then `event`/`nixevent`).
    subscribed: std::collections::BTreeSet<String>,
    filters: Vec<(String, String)>,
    pub(super) linger: bool,
    pub(super) running: Option<Running>,
    pub(super) queue: VecDeque<Queued>,
    /// When the channel was parked (the `connect`): its frames count from then.
    pub(super) parked_since: Instant,
    /// The next frame at which the parked channel runs its queue.
    pub(super) tick_at: Option<Instant>,
    /// A `uuid_break` arrived while nothing ran: the next media application ends at once.
    pub(super) break_pending: bool,
    pub(super) digits: VecDeque<String>,
    pub(super) pending_dtmf: VecDeque<(Instant, char)>,
    pub(super) hangup_at: Option<Instant>,
    pub(super) give_up_at: Instant,
    /// Files `record` made: path → recorded time.
    pub(super) recordings: HashMap<String, Duration>,
    pub(super) done: bool,
    pub(super) report: PeerReport,
}

/// Places `call` on pivot's event socket at `addr` and plays it to the end. `collects`
/// receives one message each time pivot starts a digit collection (see
/// [`crate::call::CallNote::Collecting`]); the caller then presses its next group of digits.
pub async fn place_call(
    addr: SocketAddr,
    call: SimCall,
    timeline: Timeline,
    mut collects: UnboundedReceiver<()>,
) -> Result<PeerReport, SimError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| SimError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    timeline.note(
        Source::Switch,
        &format!(
            "call {} from {} to {}: socket {addr} async full",
            call.uuid, call.from, call.to
        ),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| SimError::Http(e.to_string()))?;
    let mut peer = Peer::new(stream, call, timeline, http);
    peer.serve(&mut collects).await?;
    Ok(peer.report)
}

async fn at(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

impl Peer {
    fn new(stream: TcpStream, call: SimCall, timeline: Timeline, http: reqwest::Client) -> Peer {
        let (read, writer) = stream.into_split();
        Peer {
            reader: FramedRead::new(read, FrameCodec::new(Limits::default())),
            writer,
            digits: call.digits.iter().cloned().collect(),
            report: PeerReport {
                call_id: call.uuid.clone(),
                ..PeerReport::default()
            },
            chan: Channel::new(call),
            timeline,
            http,
            myevents: false,
            subscribed: Default::default(),
            filters: Vec::new(),
            linger: false,
            running: None,
            queue: VecDeque::new(),
            parked_since: Instant::now(),
            tick_at: None,
            break_pending: false,
            pending_dtmf: VecDeque::new(),
            hangup_at: None,
            give_up_at: Instant::now() + LONGEST_CALL,
            recordings: HashMap::new(),
            done: false,
        }
    }

    async fn serve(&mut self, collects: &mut UnboundedReceiver<()>) -> Result<(), SimError> {
        while !self.done {
            let app_due = self.running.as_ref().and_then(|r| r.ends_at);
            let dtmf_due = self.pending_dtmf.front().map(|(t, _)| *t);
            tokio::select! {
                frame = self.reader.next() => match frame {
                    Some(Ok(frame)) => self.on_frame(frame).await?,
                    Some(Err(e)) => return Err(SimError::Esl(e)),
                    None => {
                        self.note("pivot closed the event socket");
                        self.done = true;
                    }
                },
                Some(()) = collects.recv() => self.offer_digits(),
                _ = at(app_due) => self.app_due().await?,
                _ = at(self.tick_at) => self.frame_tick().await?,
                _ = at(dtmf_due) => self.press_due_digits().await?,
                _ = at(self.hangup_at) => self.caller_hangs_up().await?,
                _ = tokio::time::sleep_until(self.give_up_at) => {
                    return Err(SimError::Stuck(match self.chan.is_up() {
                        true => "the call was still up after 10 minutes".into(),
                        false => format!("pivot did not leave within {AFTER_HANGUP:?} of the hangup"),
                    }));
                }
            }
        }
        Ok(())
    }

    pub(super) fn note(&self, text: &str) {
        self.timeline.note(Source::Switch, text);
    }

    pub(super) async fn send(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        self.writer.write_all(bytes).await?;
        Ok(())
    }

    /// Notes `← what → reply` and sends the reply (noted first, so the timeline shows it
    /// before pivot's reaction).
    async fn reply(&mut self, what: &str, reply: &str) -> Result<(), SimError> {
        self.note(&format!("← {what} → {reply}"));
        self.send(&wire::reply(reply)).await
    }

    async fn on_frame(&mut self, frame: Frame) -> Result<(), SimError> {
        let cmd = match Command::from_frame(&frame) {
            Ok(cmd) => cmd,
            Err(e) => {
                let what = format!("unreadable command ({e})");
                return self.reply(&what, "-ERR command not found").await;
            }
        };
        match cmd {
            Command::Connect => self.connect().await,
            Command::Api(line) => self.api(&line).await,
            Command::BgApi(line) => {
                let what = format!("bgapi {line}");
                self.reply(&what, "-ERR the simulator does not run bgapi")
                    .await
            }
            Command::Execute(exec) => self.execute(exec).await,
            Command::Hangup { cause } => {
                let cause = cause.unwrap_or_else(|| "NORMAL_CLEARING".into());
                self.reply(&format!("sendmsg hangup {cause}"), "+OK")
                    .await?;
                if self.chan.is_up() {
                    self.enqueue(Queued::Hangup(cause));
                }
                Ok(())
            }
            Command::Exit => self.exit().await,
            other => self.setting(other).await,
        }
    }

    /// Commands that change what the socket delivers: events, filters, linger.
    async fn setting(&mut self, cmd: Command) -> Result<(), SimError> {
        match cmd {
            Command::MyEvents => {
                self.myevents = true;
                self.subscribed
                    .extend(MYEVENTS.iter().map(|n| n.to_string()));
                self.reply("myevents", "+OK Events Enabled").await
            }
            Command::NixEvents(names) => {
                let what = format!("nixevent {}", names.join(" "));
                for n in &names {
                    match n.as_str() {
                        "ALL" => self.subscribed.clear(),
                        n => {
                            self.subscribed.remove(n);
                        }
                    }
                }
                self.reply(&what, "+OK events nixed").await
            }
            Command::Events(names) => {
                self.myevents = true;
                self.subscribed.extend(names.iter().cloned());
                let what = format!("event plain {}", names.join(" "));
                self.reply(&what, "+OK event listener enabled plain").await
            }
            Command::Filter { header, value } => {
                let what = format!("filter {header} {value}");
                let ok = format!("+OK filter added. [{header}]=[{value}]");
                self.filters.push((header, value));
                self.reply(&what, &ok).await
            }
            Command::Linger(_) => {
                self.linger = true;
                self.reply("linger", "+OK will linger").await
            }
            Command::NoLinger => {
                self.linger = false;
                self.reply("nolinger", "+OK will not linger").await
            }
            Command::Resume => self.reply("resume", "+OK").await,
            _ => {
                self.reply("unexpected command", "-ERR command not found")
                    .await
            }
        }
    }

    async fn connect(&mut self) -> Result<(), SimError> {
        let data = self.chan.channel_data();
        let call = &self.chan.call;
        self.note(&format!(
            "← connect → channel data: {} → {}, ringing, {} channel variable(s)",
            call.from,
            call.to,
            call.vars.len()
        ));
        self.hangup_at = call.hangup_after.map(|d| Instant::now() + d);
        // The socket application parks the channel as soon as `connect` arrives.
        self.parked_since = Instant::now();
        self.send(&wire::connect_reply(&data)).await
    }

    /// True when the event passes the subscription (`myevents` less what `nixevent`
    /// removed) and the `filter`s pivot set (none set: every event passes).
    pub(super) fn passes(&self, headers: &[(String, String)]) -> bool {
        let name = headers
            .iter()
            .find(|(h, _)| h == "Event-Name")
            .map_or("", |(_, v)| v.as_str());
        self.myevents
            && self.subscribed.contains(name)
            && (self.filters.is_empty()
                || self.filters.iter().any(|(fh, fv)| {
                    headers
                        .iter()
                        .any(|(h, v)| h.eq_ignore_ascii_case(fh) && v == fv)
                }))
    }

    async fn execute(&mut self, exec: Execute) -> Result<(), SimError> {
        let what = format!(
            "sendmsg execute {} {}",
            exec.app,
            exec.arg.as_deref().unwrap_or("")
        );
        self.reply(what.trim_end(), "+OK").await?;
        if !self.chan.is_up() {
            // Seen on a real FreeSWITCH: +OK, and nothing runs.
            return Ok(());
        }
        self.enqueue(Queued::Execute(exec));
        Ok(())
    }

    /// Puts a message in the channel's queue. It runs after the running application, or,
    /// when the channel is parked, at its next frame.
    fn enqueue(&mut self, msg: Queued) {
        if self.queue.len() >= MAX_QUEUED {
            self.note("too many queued messages: this one is dropped");
            return;
        }
        self.queue.push_back(msg);
        if self.running.is_none() && self.tick_at.is_none() {
            let since = self.parked_since.elapsed().as_micros();
            let frame = FRAME.as_micros();
            let next = (since / frame + 1) * frame;
            let wait = Duration::from_micros((next - since) as u64);
            self.tick_at = Some(Instant::now() + wait);
            self.report.frames_waited += 1;
            self.note(&format!(
                "parked: the queue runs at the next 20 ms frame, in {:.1} ms",
                wait.as_secs_f64() * 1000.0
            ));
        }
    }

    async fn api(&mut self, line: &str) -> Result<(), SimError> {
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or("");
        let target = words.next().unwrap_or("");
        let ours = target == self.chan.call.uuid && self.chan.is_up();
        let no_channel = "-ERR No such channel!\n".to_string();
        let body = match verb {
            "uuid_setvar" | "uuid_setvar_multi" if ours => "+OK".to_string(),
            "uuid_break" if ours => "+OK\n".to_string(),
            "uuid_kill" if ours => "+OK\n".to_string(),
            "uuid_answer" if ours => "+OK\n".to_string(),
            "uuid_answer" => "-ERROR\n".to_string(),
            "uuid_setvar" | "uuid_setvar_multi" | "uuid_break" | "uuid_kill" => no_channel,
            "module_exists" => "true".to_string(),
            // The safety net pivot sets at call start; a simulated call never lasts that long.
            "sched_hangup" if words.clone().next() == Some(self.chan.call.uuid.as_str()) => {
                "+OK\n".to_string()
            }
            "http_put" => self.http_put(target, words.next()).await,
            _ => format!("-ERR {verb} Command not found!\n"),
        };
        self.note(&format!("← api {line} → {}", body.trim_end()));
        self.send(&wire::api_response(&body)).await?;
        match verb {
            "uuid_answer" if ours && !self.chan.answered => {
                self.chan.answered = true;
                self.emit_answer().await
            }
            "uuid_break" if ours => self.break_app().await,
            "uuid_kill" if ours => {
                let cause = words.next().unwrap_or("NORMAL_CLEARING").to_string();
                self.hangup(&cause, super::media::By::Caller).await
            }
            _ => Ok(()),
        }
    }

    /// `+OK bye`, the disconnect notice, and the socket closes.
    async fn exit(&mut self) -> Result<(), SimError> {
        self.report.exited = true;
        self.reply("exit", "+OK bye").await?;
        if self.chan.is_up() {
            self.note("the call was still up: it hangs up as the socket closes");
            self.chan.hangup_cause = Some("NORMAL_CLEARING".into());
            self.report.hangup_cause = self.chan.hangup_cause.clone();
        }
        let notice = wire::disconnect_notice(&self.chan.call.uuid);
        self.note("→ disconnect notice; closing the socket");
        self.send(&notice).await?;
        self.close().await;
        Ok(())
    }

    pub(super) async fn close(&mut self) {
        let _ = self.writer.shutdown().await;
        self.done = true;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "peer_tests.rs"]
mod tests;
