//! Hangup on the fake channel, in the order a real FreeSWITCH sends it: from outside while an
//! app runs (linger notice early, the app ends with its killed response), or by the server
//! / idle (linger notice last); without linger the socket closes after CHANNEL_HANGUP.

use super::fs_channel::ChanState;
use super::fs_session::{Phase, Session};
use super::fs_wire::linger_frame;
use super::transcript::{Hangup, HangupBy, Linger};
use tokio::time::Instant;

impl Session {
    pub async fn hangup_from_outside(&mut self, cause: String) {
        if self.phase != Phase::Up {
            self.note("outside hangup ignored: call not up");
            return;
        }
        self.hangup(cause, HangupBy::Outside).await;
    }

    /// The hangup sequence. Killed while an app runs: HANGUP, linger notice, the app's
    /// EXECUTE_COMPLETE (killed response), UNPARK, the socket app's EXECUTE_COMPLETE, STATE x2,
    /// HANGUP_COMPLETE. Otherwise the linger notice comes last. Without linger the socket
    /// closes right after CHANNEL_HANGUP.
    pub async fn hangup(&mut self, cause: String, by: HangupBy) {
        if self.phase != Phase::Up {
            return;
        }
        self.phase = Phase::HungUp;
        let mid_app = by == HangupBy::Outside && !self.stack.is_empty();
        let at = self.elapsed();
        let (c, b) = (cause.clone(), by.clone());
        self.shared.update(|t| {
            t.hangup = Some(Hangup {
                cause: c,
                by: b,
                at,
            });
        });
        self.chan.hangup_cause = Some(cause);
        if !self.queue.is_empty() {
            self.note(format!(
                "{} queued message(s) dropped by the hangup",
                self.queue.len()
            ));
            self.queue.clear();
        }
        self.hangup_at = None;
        self.dtmf.clear();
        self.emit("CHANNEL_HANGUP", ChanState::HangingUp, Vec::new())
            .await;
        if self.linger == Linger::Off {
            self.note("no linger: FreeSWITCH drops the socket after CHANNEL_HANGUP");
            self.close().await;
            return;
        }
        if mid_app {
            self.send_linger_notice().await;
        }
        while let Some(top) = self.stack.last() {
            let killed = top.script.killed_response.clone();
            self.complete_top(Some(killed), ChanState::HangingUp).await;
        }
        if self.chan.static_mode {
            // A static socket runs in the channel's own thread: the channel's hangup states
            // (and CHANNEL_HANGUP_COMPLETE) come only once the socket application returns,
            // when the server leaves (seen on 1.10.12): the notice is all the server gets.
            self.close_bugs(|_| true).await;
            self.send_linger_notice().await;
            return;
        }
        self.hangup_tail().await;
        if !mid_app {
            self.send_linger_notice().await;
        }
        if let Linger::Secs(n) = self.linger {
            self.linger_close_at = Some(Instant::now() + self.cfg.linger_second * n);
        }
    }

    async fn hangup_tail(&mut self) {
        // The hangup removes the media bugs: open recordings close (their variables are in
        // CHANNEL_HANGUP_COMPLETE).
        self.close_bugs(|_| true).await;
        self.emit("CHANNEL_UNPARK", ChanState::HangingUp, Vec::new())
            .await;
        let socket = vec![
            ("Application".to_string(), "socket".to_string()),
            ("Application-Data".to_string(), self.cfg.socket_data.clone()),
            ("Application-Response".to_string(), "_none_".to_string()),
            (
                "Application-UUID".to_string(),
                uuid::Uuid::new_v4().to_string(),
            ),
        ];
        self.emit("CHANNEL_EXECUTE_COMPLETE", ChanState::HangingUp, socket)
            .await;
        self.emit("CHANNEL_STATE", ChanState::Hangup, Vec::new())
            .await;
        self.emit("CHANNEL_STATE", ChanState::Reporting, Vec::new())
            .await;
        self.chan.set_hangup_vars();
        self.emit("CHANNEL_HANGUP_COMPLETE", ChanState::Reporting, Vec::new())
            .await;
    }

    async fn send_linger_notice(&mut self) {
        let time = match self.linger {
            Linger::Secs(n) => i64::from(n),
            _ => -1,
        };
        let frame = linger_frame(&self.chan.uuid, &self.chan.name, time);
        self.send(&frame, format!("disconnect-notice (linger {time})"))
            .await;
    }
}
