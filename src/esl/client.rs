//! An inbound event socket client: pivot (or a test, or `pivot loadtest`) dials FreeSWITCH's
//! own event socket (`event_socket.conf`, port 8021), authenticates, runs `api` and `bgapi`
//! commands and reads the events it subscribed to. The one place in `esl/` that owns a
//! socket; framing and encoding are the codec's ([`EslCodec`], [`Command`]).
//!
//! ```ignore
//! let fs = Client::connect("127.0.0.1:8021", "ClueCon").await?;
//! println!("{}", fs.api("status").await?);
//! fs.subscribe(&["CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"]).await?;
//! let uuid = fs.bgapi("originate loopback/3004/default &park()").await?; // "+OK <uuid>\n"
//! let event = fs.next_event().await?;
//! ```
//!
//! One reader task routes what FreeSWITCH sends: replies and `api/response`s to the commands
//! waiting for them (FreeSWITCH answers strictly in command order, so a FIFO matches them),
//! BACKGROUND_JOB events to the `bgapi` that started the job (by Job-UUID), every other
//! event to a bounded stream for the caller. The [`Client`] is cheap to clone; commands may
//! be sent from several tasks at once. Every wait is bounded ([`Options`]). A command whose
//! reply is late keeps its place in the FIFO, so a late reply never answers the next one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{Command, EslCodec, EslError, Event, Limits, Reply};
use reader::{authenticate, lock, read_loop, Answer, Pending, Shared};

/// Waits and sizes of a [`Client`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How long the greeting, a command's reply or an `api` response may take.
    pub reply_timeout: Duration,
    /// How long [`Client::bgapi`] waits for the BACKGROUND_JOB (an `originate` rings first).
    pub job_timeout: Duration,
    /// How long [`Client::next_event`] waits.
    pub event_timeout: Duration,
    /// Events buffered for the caller; when full, new events are dropped and counted
    /// ([`ClientError::Lagged`]) rather than stalling the replies behind them.
    pub event_capacity: usize,
    /// Frame limits of the codec.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reply_timeout: Duration::from_secs(10),
            job_timeout: Duration::from_secs(120),
            event_timeout: Duration::from_secs(30),
            event_capacity: 4096,
            limits: Limits::default(),
        }
    }
}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to the event socket at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("FreeSWITCH refused the connection: {0}")]
    Rejected(String),
    #[error("the event socket did not ask for a password first (got {0})")]
    NoAuthRequest(String),
    #[error("the password was refused: {0}")]
    AuthFailed(String),
    #[error("the password holds a line break, a NUL or nothing")]
    BadPassword,
    #[error("{what}: no answer within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: FreeSWITCH answered {answer:?}")]
    Refused { what: String, answer: String },
    #[error("the event socket connection is closed: {0}")]
    Closed(String),
    #[error("{lost} event(s) were dropped: the event stream was not read fast enough")]
    Lagged { lost: u64 },
    #[error(transparent)]
    Esl(#[from] EslError),
}

type Writer = FramedWrite<Box<dyn AsyncWrite + Send + Unpin>, EslCodec>;

struct Inner {
    shared: Arc<Shared>,
    writer: tokio::sync::Mutex<Writer>,
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    reader: JoinHandle<()>,
    options: Options,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A connection to FreeSWITCH's inbound event socket. Clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// A background job started with [`Client::bgapi_job`]: its id now, its result later.
#[derive(Debug)]
pub struct Job {
    uuid: String,
    result: oneshot::Receiver<Event>,
    shared: Arc<Shared>,
}

impl Job {
    /// The Job-UUID FreeSWITCH gave the job.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Waits up to `within` for the job's BACKGROUND_JOB event and returns its body (the
    /// command's output, e.g. `+OK <uuid>\n` or `-ERR NO_ANSWER\n`).
    pub async fn result(self, within: Duration) -> Result<String, ClientError> {
        Ok(body_text(&self.event(within).await?))
    }

    /// Like [`Job::result`], but the whole BACKGROUND_JOB event.
    pub async fn event(self, within: Duration) -> Result<Event, ClientError> {
        let what = format!("background job {}", self.uuid);
        match tokio::time::timeout(within, self.result).await {
            Ok(Ok(event)) => Ok(event),
            Ok(Err(_)) => Err(self.shared.closed_error()),
            Err(_) => Err(ClientError::Timeout {
                what,
                after: within,
            }),
        }
    }
}

fn body_text(event: &Event) -> String {
    String::from_utf8_lossy(event.body().unwrap_or_default()).into_owned()
}

impl Client {
    /// Connects over TCP and authenticates, with the default [`Options`].
    pub async fn connect<A>(addr: A, password: &str) -> Result<Client, ClientError>
    where
        A: ToSocketAddrs + std::fmt::Display,
    {
        Self::connect_with(addr, password, Options::default()).await
    }

    /// Connects over TCP (bounded by `reply_timeout`) and authenticates.
    pub async fn connect_with<A>(
        addr: A,
        password: &str,
        options: Options,
    ) -> Result<Client, ClientError>
    where
        A: ToSocketAddrs + std::fmt::Display,
    {
        let wait = options.reply_timeout;
        let stream = match tokio::time::timeout(wait, TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                let addr = addr.to_string();
                return Err(ClientError::Connect { addr, source });
            }
            Err(_) => {
                let what = "connecting to the event socket".into();
                return Err(ClientError::Timeout { what, after: wait });
            }
        };
        let _ = stream.set_nodelay(true);
        Self::handshake(stream, password, options).await
    }

    /// Authenticates over any byte stream (a TCP connection, a test's duplex pipe) and
    /// subscribes to BACKGROUND_JOB, which `bgapi` needs.
    pub async fn handshake<S>(
        stream: S,
        password: &str,
        options: Options,
    ) -> Result<Client, ClientError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        if password.is_empty() || password.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(ClientError::BadPassword);
        }
        let (read, write) = tokio::io::split(stream);
        let mut reader = FramedRead::new(read, EslCodec::new(options.limits));
        let writer: Box<dyn AsyncWrite + Send + Unpin> = Box::new(write);
        let mut writer = FramedWrite::new(writer, EslCodec::default());
        authenticate(&mut reader, &mut writer, password, options.reply_timeout).await?;

        let shared = Arc::new(Shared::default());
        let (events_tx, events_rx) = mpsc::channel(options.event_capacity.max(1));
        let task = tokio::spawn(read_loop(reader, shared.clone(), events_tx));
        let client = Client {
            inner: Arc::new(Inner {
                shared,
                writer: tokio::sync::Mutex::new(writer),
                events: tokio::sync::Mutex::new(events_rx),
                reader: task,
                options,
            }),
        };
        client
            .command(Command::Events(vec!["BACKGROUND_JOB".into()]))
            .await?;
        Ok(client)
    }

    /// The options this client runs with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// `api <cmd>`: FreeSWITCH's answer (the `api/response` body), whatever it says; an
    /// API that fails answers `-ERR ...` here, not an error.
    pub async fn api(&self, cmd: &str) -> Result<String, ClientError> {
        match self.send(Command::Api(cmd.to_string()), None).await? {
            Answer::Api(body) => Ok(body),
            Answer::Reply(reply) => Err(refused(&format!("api {cmd}"), reply.text)),
        }
    }

    /// `bgapi <cmd>` and its result: the body of the BACKGROUND_JOB event with the same
    /// Job-UUID, waited for up to `job_timeout`.
    pub async fn bgapi(&self, cmd: &str) -> Result<String, ClientError> {
        let job = self.bgapi_job(cmd).await?;
        job.result(self.inner.options.job_timeout).await
    }

    /// `bgapi <cmd>`: returns as soon as FreeSWITCH accepted the job.
    pub async fn bgapi_job(&self, cmd: &str) -> Result<Job, ClientError> {
        let (job_tx, job_rx) = oneshot::channel();
        let what = format!("bgapi {cmd}");
        let reply = match self
            .send(Command::BgApi(cmd.to_string()), Some(job_tx))
            .await?
        {
            Answer::Reply(reply) => reply,
            Answer::Api(body) => return Err(refused(&what, body)),
        };
        match reply.job_uuid() {
            Some(uuid) if reply.is_ok() => Ok(Job {
                uuid: uuid.to_string(),
                result: job_rx,
                shared: self.inner.shared.clone(),
            }),
            _ => Err(refused(&what, reply.text)),
        }
    }

    /// `event plain <names>`: adds these events to the stream ([`Client::next_event`]).
    /// Subscriptions add up; `ALL` is every event.
    pub async fn subscribe(&self, names: &[&str]) -> Result<(), ClientError> {
        let names = names.iter().map(|n| n.to_string()).collect();
        self.command(Command::Events(names)).await.map(drop)
    }

    /// `filter <header> <value>`: only events matching a filter are sent (filters OR).
    pub async fn filter(&self, header: &str, value: &str) -> Result<(), ClientError> {
        let (header, value) = (header.to_string(), value.to_string());
        self.command(Command::Filter { header, value })
            .await
            .map(drop)
    }

    /// The next subscribed event, waiting up to `event_timeout`.
    pub async fn next_event(&self) -> Result<Event, ClientError> {
        self.next_event_within(self.inner.options.event_timeout)
            .await
    }

    /// The next subscribed event, waiting up to `within`. Events dropped because the stream
    /// was full are reported once, as [`ClientError::Lagged`], before the next event.
    pub async fn next_event_within(&self, within: Duration) -> Result<Event, ClientError> {
        let lost = self.inner.shared.lost.swap(0, Ordering::SeqCst);
        if lost > 0 {
            return Err(ClientError::Lagged { lost });
        }
        let mut events = self.inner.events.lock().await;
        match tokio::time::timeout(within, events.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(self.inner.shared.closed_error()),
            Err(_) => Err(ClientError::Timeout {
                what: "waiting for an event".into(),
                after: within,
            }),
        }
    }

    /// Waits up to `within` for an event that `wanted` accepts; the others are discarded.
    pub async fn wait_for_event(
        &self,
        within: Duration,
        wanted: impl Fn(&Event) -> bool,
    ) -> Result<Event, ClientError> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event_within(left).await {
                Ok(event) if wanted(&event) => return Ok(event),
                Ok(_) | Err(ClientError::Lagged { .. }) => continue,
                Err(ClientError::Timeout { .. }) => {
                    let what = "waiting for a matching event".into();
                    return Err(ClientError::Timeout {
                        what,
                        after: within,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `exit`: FreeSWITCH says `+OK bye` and closes the connection.
    pub async fn exit(self) -> Result<(), ClientError> {
        self.command(Command::Exit).await.map(drop)
    }

    /// True once the connection is gone (closed by FreeSWITCH, an I/O or framing error).
    pub fn is_closed(&self) -> bool {
        lock(&self.inner.shared.closed).is_some()
    }

    /// A command answered by a `command/reply`; `-ERR` is an error.
    async fn command(&self, cmd: Command) -> Result<Reply, ClientError> {
        let what = describe(&cmd);
        match self.send(cmd, None).await? {
            Answer::Reply(reply) if reply.is_ok() => Ok(reply),
            Answer::Reply(reply) => Err(refused(&what, reply.text)),
            Answer::Api(body) => Err(refused(&what, body)),
        }
    }

    /// Writes `cmd` and waits (bounded) for the answer in its place in the FIFO.
    async fn send(
        &self,
        cmd: Command,
        job: Option<oneshot::Sender<Event>>,
    ) -> Result<Answer, ClientError> {
        // A command the encoder refuses must not take a place in the FIFO.
        cmd.validate().map_err(EslError::from)?;
        let what = describe(&cmd);
        let shared = &self.inner.shared;
        let (tx, rx) = oneshot::channel();
        {
            let mut writer = self.inner.writer.lock().await;
            {
                // Checked under the FIFO's lock: `close` sets the reason, then empties it.
                let mut pending = lock(&shared.pending);
                if lock(&shared.closed).is_some() {
                    return Err(shared.closed_error());
                }
                pending.push_back(Pending { answer: tx, job });
            }
            if let Err(e) = writer.send(cmd).await {
                shared.close(format!("writing {what}: {e}"));
                return Err(e.into());
            }
        }
        let after = self.inner.options.reply_timeout;
        match tokio::time::timeout(after, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(shared.closed_error()),
            Err(_) => Err(ClientError::Timeout { what, after }),
        }
    }
}

fn refused(what: &str, answer: String) -> ClientError {
    let answer = answer.trim_end().to_string();
    ClientError::Refused {
        what: what.to_string(),
        answer,
    }
}

/// A command for error messages: its first line, cut short.
fn describe(cmd: &Command) -> String {
    let text = match cmd {
        Command::Api(c) => format!("api {c}"),
        Command::BgApi(c) => format!("bgapi {c}"),
        Command::Events(names) => format!("event plain {}", names.join(" ")),
        Command::Filter { header, value } => format!("filter {header} {value}"),
        other => format!("{other:?}").to_lowercase(),
    };
    text.chars().take(120).collect()
}

#[path = "client_reader.rs"]
mod reader;

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
