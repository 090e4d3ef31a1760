//! Waiting on the call: for work done while the socket is read (a web request), for keys,
//! for the hangup to complete; and ending the call (hangup) and the socket (exit).

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::{AppOutcome, HangupSent, OnKey, Session, SessionError, SocketMode};
use crate::call::note::CallNote;
use crate::callflow::HangupCause;
use crate::esl::{Command, EslError};

/// Static mode: how long teardown waits for the completions of the applications a hangup
/// ended (they come at once; one that was only queued never does).
const STATIC_COMPLETIONS: Duration = Duration::from_secs(1);

impl<T: AsyncRead + AsyncWrite + Unpin> Session<T> {
    /// Runs `work` while still reading the socket, so a hangup is seen at once. Returns None
    /// (and drops `work`) when the flow is over first.
    pub async fn listen_while<F: Future>(
        &mut self,
        work: F,
    ) -> Result<Option<F::Output>, SessionError> {
        tokio::pin!(work);
        loop {
            if self.is_over() {
                return Ok(None);
            }
            tokio::select! {
                out = &mut work => return Ok(Some(out)),
                r = self.pump() => r?,
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
        if self.mode == SocketMode::Static {
            return self.next_digit_static(wait).await;
        }
        let deadline = Instant::now() + wait;
        loop {
            if let Some(d) = self.dtmf.pop_front() {
                return Ok(Some(d));
            }
            if self.is_over() {
                return Ok(None);
            }
            match tokio::time::timeout_at(deadline, self.pump()).await {
                Ok(r) => r?,
                Err(_) => return Ok(None),
            }
        }
    }

    /// Static mode: keys reach pivot only while an application reads them, so pivot waits
    /// for one with `sleep` (which `sleep_eat_digits`, set with the handshake, and any key
    /// end: `playback_terminators=any`), then puts the terminators back.
    async fn next_digit_static(&mut self, wait: Duration) -> Result<Option<char>, SessionError> {
        if let Some(d) = self.dtmf.pop_front() {
            return Ok(Some(d));
        }
        let before = self.terminators.clone();
        self.with_terminators(Some("any")).await?;
        let deadline = Instant::now() + wait;
        let digit = loop {
            if let Some(d) = self.dtmf.pop_front() {
                break Some(d);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.is_over() || left.is_zero() {
                break None;
            }
            let ms = left.as_millis().max(1).to_string();
            if let AppOutcome::HungUp(_) =
                self.execute("sleep", Some(ms), None, OnKey::Ignore).await?
            {
                break None;
            }
        };
        self.with_terminators(before.as_deref()).await?;
        Ok(digit)
    }

    /// Waits (bounded) until FreeSWITCH reports CHANNEL_HANGUP_COMPLETE or closes.
    /// In static mode the channel's thread is in the socket application until pivot leaves:
    /// CHANNEL_HANGUP_COMPLETE cannot come before, and the hangup is all there is to see.
    /// There, the applications the hangup ended report right after it: their completions
    /// (a recording's length) are waited for, a little.
    pub async fn wait_hangup_complete(&mut self, limit: Duration) {
        if self.mode == SocketMode::Static {
            let hangup = async { while self.state.is_up() && self.pump().await.is_ok() {} };
            let _ = tokio::time::timeout(limit, hangup).await;
            let completions = async { while self.app_running() && self.pump().await.is_ok() {} };
            let _ = tokio::time::timeout(limit.min(STATIC_COMPLETIONS), completions).await;
            return;
        }
        let wait = async {
            while !self.state.is_settled() {
                if self.pump().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Asks FreeSWITCH to hang up, without waiting. `sendmsg hangup` queues behind the
    /// applications sent before it (the end of a flow hangs up after its last prompt);
    /// when pivot stopped the flow itself, `api uuid_kill` ends the call at once, since a
    /// hangup message would wait behind the event-locked application still running.
    pub async fn hangup(&mut self, cause: &HangupCause) -> Result<(), SessionError> {
        let kill = self.stop.is_some() && self.app_running();
        let already = match self.hangup_sent {
            HangupSent::No => false,
            HangupSent::Queued => !kill,
            HangupSent::Killed => true,
        };
        if !self.state.is_up() || already {
            return Ok(());
        }
        self.note(CallNote::HangupSent {
            cause: cause.as_str().into(),
        });
        let cmd = if kill {
            self.hangup_sent = HangupSent::Killed;
            Command::Api(format!("uuid_kill {} {cause}", self.call_id))
        } else {
            self.hangup_sent = HangupSent::Queued;
            Command::Hangup {
                cause: Some(cause.to_string()),
            }
        };
        self.send_ignored(cmd).await
    }

    /// `exit`, then reads until FreeSWITCH closes (bounded); the socket is dropped after.
    pub async fn exit(&mut self, limit: Duration) {
        if self.state.is_gone() {
            return;
        }
        self.note(CallNote::Exit);
        let sent = async {
            self.io.send(Command::Exit).await?;
            while let Some(Ok(_)) = self.io.next().await {}
            Ok::<(), EslError>(())
        };
        let _ = tokio::time::timeout(limit, sent).await;
        self.state.close();
    }
}
