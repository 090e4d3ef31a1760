//! A fake FreeSWITCH 1.10.12 for integration tests: it dials the server under test like
//! `socket host:port async full` does and plays one call, answering commands with the frames
//! and event order seen in fixtures/esl. It does not play media, expand `${...}`, or model
//! more than one channel per connection.
//!
//! How a test uses it:
//!
//! ```ignore
//! use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
//! use std::time::Duration;
//!
//! // pivot is listening on `addr`
//! let call = FakeCall::new()
//!     .destination("3004")
//!     .var("pivot_voice_url", &web.url("/flow"))
//!     .app("playback", AppScript::new(Duration::from_millis(50), "FILE PLAYED"))
//!     .hangup_after(Duration::from_secs(2)); // the caller hangs up (like uuid_kill)
//! let handle = FakeFs::connect(addr, call).await;
//! // optional, while the call runs:
//! handle.wait_for_app_start("playback").await;
//! handle.send_dtmf('1');
//! let t = handle.finish().await; // panics with the timeline if the call never ends
//! assert_eq!(t.app_names(), ["answer", "playback"]);
//! assert!(t.executes_after_hangup().is_empty());
//! assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
//! t.assert_no_protocol_errors();
//! ```
//!
//! Every frame the server sent is in `t.frames` (raw bytes and parsed); `println!("{t}")`
//! prints the timeline of both directions.

pub use super::app_script::AppScript;
use super::fs_session::{self, Control};
use super::transcript::Transcript;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// When the fake sends CHANNEL_PARK (seen in 6 of 10 real runs, at varying moments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Park {
    /// Right after the `+OK Events Enabled` reply to `myevents`.
    AfterMyevents,
    /// Before the `+OK` reply to the first `sendmsg` (as in fixtures/esl/full): an event
    /// that arrives before the reply the server waits for.
    BeforeFirstSendmsgReply,
    Never,
}

/// One call the fake FreeSWITCH will place. Build with `FakeCall::new()` and the setters.
#[derive(Clone, Debug)]
pub struct FakeCall {
    pub uuid: String,
    pub destination: String,
    pub caller_id_name: String,
    pub caller_id_number: String,
    /// Extra channel variables (`pivot_voice_url`...), sent as `variable_<name>`.
    pub vars: Vec<(String, String)>,
    pub answered: bool,
    /// Known applications and their scripts; an app not in here is unknown to FreeSWITCH.
    pub apps: HashMap<String, AppScript>,
    /// DTMF sent at offsets after the connect reply.
    pub dtmf: Vec<(Duration, char)>,
    /// The caller hangs up this long after connect (NORMAL_CLEARING, like uuid_kill).
    pub hangup_after: Option<Duration>,
    /// The caller hangs up as soon as this app has started (its EXECUTE was sent).
    pub hangup_on_app: Option<String>,
    /// When this app starts, the fake also sends a DTMF and a CHANNEL_HANGUP that carry
    /// another channel's Unique-ID (a confused or hostile peer).
    pub foreign_events_on_app: Option<String>,
    /// `sendmsg` is answered after the queue ran, so an instant app's EXECUTE_COMPLETE
    /// arrives before its `+OK` (a peer may order them so).
    pub reply_after_run: bool,
    /// Cause used for hangups from outside.
    pub outside_cause: String,
    /// Answers to `api` commands, by prefix of the command line (checked first, in order).
    pub api_answers: Vec<(String, String)>,
    /// Real time standing for one second of `linger N` (default 50 ms, to keep tests fast).
    pub linger_second: Duration,
    /// Real time standing for one second of `sched_hangup +N` (default one second).
    pub second: Duration,
    /// The media frame: a parked channel (nothing running) runs its queued messages only at
    /// its next frame, as FreeSWITCH's park loop does (default 20 ms; zero: at once).
    pub frame: Duration,
    /// When CHANNEL_PARK is sent (a real FreeSWITCH sends it only sometimes, and at
    /// different moments).
    pub park: Park,
    /// How long `finish` waits for the call to end before failing the test.
    pub finish_timeout: Duration,
    /// `record <path>` writes fake audio to `<path>` when its directory exists (default on).
    pub write_recordings: bool,
    /// The `socket` app's data (`host:port async full`), shown in variables.
    pub socket_data: String,
}

impl Default for FakeCall {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeCall {
    pub fn new() -> Self {
        FakeCall {
            uuid: uuid::Uuid::new_v4().to_string(),
            destination: "3004".into(),
            caller_id_name: "Lab Caller".into(),
            caller_id_number: "5551000".into(),
            vars: Vec::new(),
            answered: true,
            apps: AppScript::defaults(),
            dtmf: Vec::new(),
            hangup_after: None,
            hangup_on_app: None,
            foreign_events_on_app: None,
            reply_after_run: false,
            outside_cause: "NORMAL_CLEARING".into(),
            api_answers: Vec::new(),
            linger_second: Duration::from_millis(50),
            second: Duration::from_secs(1),
            frame: Duration::from_millis(20),
            park: Park::BeforeFirstSendmsgReply,
            finish_timeout: Duration::from_secs(20),
            write_recordings: true,
            socket_data: "127.0.0.1:8084 async full".into(),
        }
    }

    pub fn uuid(mut self, uuid: &str) -> Self {
        self.uuid = uuid.to_string();
        self
    }
    pub fn destination(mut self, number: &str) -> Self {
        self.destination = number.to_string();
        self
    }
    pub fn caller_id(mut self, name: &str, number: &str) -> Self {
        self.caller_id_name = name.to_string();
        self.caller_id_number = number.to_string();
        self
    }
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_string(), value.to_string()));
        self
    }
    /// The call arrives not yet answered (Answer-State: ringing).
    pub fn unanswered(mut self) -> Self {
        self.answered = false;
        self
    }
    /// Sets (or adds) the script of an application, making it known.
    pub fn app(mut self, name: &str, script: AppScript) -> Self {
        self.apps.insert(name.to_string(), script);
        self
    }
    /// Makes an application unknown: executing it hangs up with DESTINATION_OUT_OF_ORDER.
    pub fn unknown_app(mut self, name: &str) -> Self {
        self.apps.remove(name);
        self
    }
    pub fn dtmf_at(mut self, at: Duration, digit: char) -> Self {
        self.dtmf.push((at, digit));
        self
    }
    pub fn hangup_after(mut self, after: Duration) -> Self {
        self.hangup_after = Some(after);
        self
    }
    pub fn foreign_events_when_app_starts(mut self, app: &str) -> Self {
        self.foreign_events_on_app = Some(app.to_string());
        self
    }
    /// Replies to `sendmsg` after running what it queued (see `reply_after_run`).
    pub fn reply_after_run(mut self) -> Self {
        self.reply_after_run = true;
        self
    }
    pub fn hangup_when_app_starts(mut self, app: &str) -> Self {
        self.hangup_on_app = Some(app.to_string());
        self
    }
    pub fn outside_cause(mut self, cause: &str) -> Self {
        self.outside_cause = cause.to_string();
        self
    }
    /// Answers `api <command...>` whose command line starts with `prefix` with `body`.
    pub fn api_answer(mut self, prefix: &str, body: &str) -> Self {
        self.api_answers
            .push((prefix.to_string(), body.to_string()));
        self
    }
    /// The park loop's frame (zero: queued messages run at once).
    pub fn frame(mut self, d: Duration) -> Self {
        self.frame = d;
        self
    }
    /// How long one second of `sched_hangup` lasts (a safety net test shortens it).
    pub fn second(mut self, d: Duration) -> Self {
        self.second = d;
        self
    }
    pub fn linger_second(mut self, d: Duration) -> Self {
        self.linger_second = d;
        self
    }
    pub fn park(mut self, park: Park) -> Self {
        self.park = park;
        self
    }
    /// The dialplan runs `socket ... full` without `async`: FreeSWITCH's static mode (the
    /// channel's thread reads the socket and runs each application at once, answering its
    /// `sendmsg` when it is over; nothing else is read meanwhile).
    pub fn static_socket(mut self) -> Self {
        self.socket_data = "127.0.0.1:8084 full".into();
        self
    }
    /// `record` does not write files.
    pub fn no_recording_files(mut self) -> Self {
        self.write_recordings = false;
        self
    }
    pub fn finish_timeout(mut self, d: Duration) -> Self {
        self.finish_timeout = d;
        self
    }
}

/// Shared between the session task and the handle.
pub(crate) struct Shared {
    pub transcript: Mutex<Transcript>,
    pub version: watch::Sender<u64>,
}

impl Shared {
    /// Runs `f` on the transcript and wakes anyone waiting on it.
    pub fn update<R>(&self, f: impl FnOnce(&mut Transcript) -> R) -> R {
        let r = {
            let mut t = self.transcript.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut t)
        };
        self.version.send_modify(|v| *v += 1);
        r
    }

    pub fn snapshot(&self) -> Transcript {
        self.transcript
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Entry point: `FakeFs::connect(addr, call)`.
pub struct FakeFs;

impl FakeFs {
    /// Connects to the server like FreeSWITCH's `socket` app and plays `call`.
    /// Panics if the connection is refused (use `try_connect` to test that).
    pub async fn connect(addr: impl ToSocketAddrs, call: FakeCall) -> FakeCallHandle {
        match Self::try_connect(addr, call).await {
            Ok(h) => h,
            Err(e) => panic!("fake FreeSWITCH could not connect to the server: {e}"),
        }
    }

    pub async fn try_connect(
        addr: impl ToSocketAddrs,
        call: FakeCall,
    ) -> std::io::Result<FakeCallHandle> {
        let stream = TcpStream::connect(addr).await?;
        // As FreeSWITCH's socket application does (SWITCH_SO_TCP_NODELAY): a reply and the
        // event after it must not wait for each other's acknowledgement (Nagle).
        stream.set_nodelay(true)?;
        let (version, changed) = watch::channel(0);
        let shared = Arc::new(Shared {
            transcript: Mutex::new(Transcript {
                uuid: call.uuid.clone(),
                ..Transcript::default()
            }),
            version,
        });
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let timeout = call.finish_timeout;
        let uuid = call.uuid.clone();
        let task = tokio::spawn(fs_session::run(stream, call, shared.clone(), ctl_rx));
        Ok(FakeCallHandle {
            uuid,
            ctl: ctl_tx,
            shared,
            changed,
            task,
            timeout,
        })
    }
}

/// A call in progress; `finish` waits for its end and returns the transcript.
pub struct FakeCallHandle {
    uuid: String,
    ctl: mpsc::UnboundedSender<Control>,
    shared: Arc<Shared>,
    changed: watch::Receiver<u64>,
    task: JoinHandle<()>,
    timeout: Duration,
}

impl FakeCallHandle {
    /// The channel's Unique-ID.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The caller hangs up now (NORMAL_CLEARING), like `uuid_kill` from another socket.
    pub fn hangup_now(&self) {
        self.hangup_now_with("NORMAL_CLEARING");
    }

    pub fn hangup_now_with(&self, cause: &str) {
        let _ = self.ctl.send(Control::Hangup(cause.to_string()));
    }

    /// The caller presses a key now.
    pub fn send_dtmf(&self, digit: char) {
        let _ = self.ctl.send(Control::Dtmf(digit));
    }

    /// A copy of the transcript so far.
    pub fn snapshot(&self) -> Transcript {
        self.shared.snapshot()
    }

    /// Waits until `pred` holds on the transcript; panics (with the timeline) after the
    /// finish timeout.
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&Transcript) -> bool) -> Transcript {
        let mut rx = self.changed.clone();
        let wait = async {
            loop {
                let t = self.shared.snapshot();
                if pred(&t) {
                    return t;
                }
                if t.done || rx.changed().await.is_err() {
                    let t = self.shared.snapshot();
                    if pred(&t) {
                        return t;
                    }
                    panic!("fake call ended before: {what}\n{t}");
                }
            }
        };
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(t) => t,
            Err(_) => panic!("timed out waiting for: {what}\n{}", self.shared.snapshot()),
        }
    }

    /// Waits until CHANNEL_EXECUTE of `app` was sent.
    pub async fn wait_for_app_start(&self, app: &str) -> Transcript {
        self.wait_until(&format!("app {app} started"), |t| {
            t.apps.iter().any(|a| a.started && a.name == app)
        })
        .await
    }

    /// Waits for the end of the call (the socket closed one way or the other) and returns
    /// the transcript. Panics with the timeline if that takes longer than the finish timeout.
    pub async fn finish(self) -> Transcript {
        let FakeCallHandle {
            shared,
            mut task,
            timeout,
            ..
        } = self;
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(())) => shared.snapshot(),
            Ok(Err(e)) => panic!("fake FreeSWITCH task failed: {e}\n{}", shared.snapshot()),
            Err(_) => {
                task.abort();
                panic!(
                    "fake call did not end within {timeout:?}\n{}",
                    shared.snapshot()
                )
            }
        }
    }
}
