//! The inbound client's connection internals: the password handshake, and the reader task
//! that routes what FreeSWITCH sends (answers by FIFO order, BACKGROUND_JOB by Job-UUID,
//! other events to the caller's bounded stream). The API is in `client.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;

use super::{ClientError, Writer};
use crate::esl::{EslCodec, EslError, Event, Message, Reply};

/// What answered a command: a `command/reply` or an `api/response` body.
#[derive(Debug)]
pub(super) enum Answer {
    Reply(Reply),
    Api(String),
}

/// A command waiting for its answer; a `bgapi` also waits for its job.
pub(super) struct Pending {
    pub(super) answer: oneshot::Sender<Answer>,
    pub(super) job: Option<oneshot::Sender<Event>>,
}

/// State shared by the handles and the reader task.
#[derive(Default)]
pub(super) struct Shared {
    pub(super) pending: Mutex<VecDeque<Pending>>,
    pub(super) jobs: Mutex<HashMap<String, oneshot::Sender<Event>>>,
    pub(super) closed: Mutex<Option<String>>,
    pub(super) lost: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(super) fn closed_error(&self) -> ClientError {
        let reason = lock(&self.closed).clone();
        ClientError::Closed(reason.unwrap_or_else(|| "the connection was lost".into()))
    }

    /// Ends the connection: every waiter wakes with `Closed(reason)`.
    pub(super) fn close(&self, reason: String) {
        lock(&self.closed).get_or_insert(reason);
        lock(&self.pending).clear();
        lock(&self.jobs).clear();
    }
}

/// `auth/request` → `auth <password>` → `+OK accepted`.
pub(super) async fn authenticate<R>(
    reader: &mut FramedRead<R, EslCodec>,
    writer: &mut Writer,
    password: &str,
    wait: Duration,
) -> Result<(), ClientError>
where
    R: AsyncRead + Unpin,
{
    match next_message(reader, wait, "the auth/request greeting").await? {
        Message::Unknown(frame) if frame.content_type() == Some("auth/request") => {}
        Message::RudeRejection(text) => return Err(ClientError::Rejected(text.trim().into())),
        other => return Err(ClientError::NoAuthRequest(format!("{other:?}"))),
    }
    // `Command` has no `auth`: the password is the operator's, checked above for line
    // breaks, and written before any other command.
    let line = format!("auth {password}\n\n");
    let io = writer.get_mut();
    io.write_all(line.as_bytes())
        .await
        .map_err(EslError::from)?;
    io.flush().await.map_err(EslError::from)?;
    match next_message(reader, wait, "the reply to auth").await? {
        Message::Reply(reply) if reply.is_ok() => Ok(()),
        Message::Reply(reply) => Err(ClientError::AuthFailed(reply.text)),
        Message::RudeRejection(text) => Err(ClientError::Rejected(text.trim().into())),
        other => Err(ClientError::AuthFailed(format!("{other:?}"))),
    }
}

async fn next_message<R>(
    reader: &mut FramedRead<R, EslCodec>,
    after: Duration,
    what: &str,
) -> Result<Message, ClientError>
where
    R: AsyncRead + Unpin,
{
    match tokio::time::timeout(after, reader.next()).await {
        Ok(Some(Ok(message))) => Ok(message),
        Ok(Some(Err(e))) => Err(e.into()),
        Ok(None) => Err(ClientError::Closed(format!("closed before {what}"))),
        Err(_) => Err(ClientError::Timeout {
            what: what.to_string(),
            after,
        }),
    }
}

/// Routes every message until the connection ends, then wakes every waiter.
pub(super) async fn read_loop<R>(
    mut reader: FramedRead<R, EslCodec>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
) where
    R: AsyncRead + Unpin,
{
    let reason = loop {
        match reader.next().await {
            Some(Ok(message)) => {
                if let Some(reason) = route(message, &shared, &events) {
                    break reason;
                }
            }
            Some(Err(e)) => break format!("bad data from FreeSWITCH: {e}"),
            None => break "FreeSWITCH closed the connection".to_string(),
        }
    };
    shared.close(reason);
}

/// Delivers one message; returns the reason when it ends the connection.
fn route(message: Message, shared: &Shared, events: &mpsc::Sender<Event>) -> Option<String> {
    match message {
        Message::Reply(reply) => answer(shared, Answer::Reply(reply)),
        Message::ApiResponse(body) => answer(shared, Answer::Api(body)),
        Message::Event(event) => deliver(shared, events, event),
        Message::Disconnect { body, .. } => {
            let body = body.trim().replace('\n', " ");
            let why = format!("FreeSWITCH sent a disconnect notice: {body}");
            lock(&shared.closed).get_or_insert(why);
        }
        Message::RudeRejection(text) => return Some(format!("rude rejection: {}", text.trim())),
        Message::ConnectReply(_) | Message::Log(_) | Message::Unknown(_) => {}
    }
    None
}

fn answer(shared: &Shared, answer: Answer) {
    let Some(pending) = lock(&shared.pending).pop_front() else {
        return; // an answer nobody asked for: nothing waits on it
    };
    if let (Some(job), Answer::Reply(reply)) = (pending.job, &answer) {
        if let Some(uuid) = reply.job_uuid() {
            lock(&shared.jobs).insert(uuid.to_string(), job);
        }
    }
    let _ = pending.answer.send(answer);
}

fn deliver(shared: &Shared, events: &mpsc::Sender<Event>, event: Event) {
    if event.name() == Some("BACKGROUND_JOB") {
        let job = event
            .job_uuid()
            .and_then(|id| lock(&shared.jobs).remove(id));
        if let Some(job) = job {
            let _ = job.send(event);
            return;
        }
    }
    if let Err(mpsc::error::TrySendError::Full(_)) = events.try_send(event) {
        shared.lost.fetch_add(1, Ordering::SeqCst);
    }
}
