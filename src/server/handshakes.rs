//! The connections still in their handshake (accepted, connect reply not yet in), capped
//! at `esl.max_handshaking`. When the cap is reached the oldest one gives its place up to
//! the newest: a real FreeSWITCH answers `connect` within milliseconds, so the oldest is
//! almost surely a connection that will never answer, and refusing the newest instead
//! would let a flood of idle connections refuse every real call for a whole
//! `esl.handshake_timeout_ms`.

use std::collections::VecDeque;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::call::Handshake;

pub(super) struct Handshakes {
    cap: usize,
    /// Oldest first. A cancelled token is a handshake that ended (or was evicted).
    queue: VecDeque<CancellationToken>,
}

impl Handshakes {
    pub fn new(cap: usize) -> Self {
        Handshakes {
            cap: cap.max(1),
            queue: VecDeque::new(),
        }
    }

    /// A new connection's handshake; evicts the oldest one still running when `cap` are.
    /// Costs O(cap) only when the queue is full.
    pub fn admit(&mut self, timeout: Duration) -> Handshake {
        if self.queue.len() >= self.cap {
            self.queue.retain(|t| !t.is_cancelled());
        }
        if self.queue.len() >= self.cap {
            if let Some(oldest) = self.queue.pop_front() {
                oldest.cancel();
            }
        }
        let (handshake, token) = Handshake::new(timeout);
        self.queue.push_back(token);
        handshake
    }

    /// Handshakes still running.
    #[cfg(test)]
    fn running(&self) -> usize {
        self.queue.iter().filter(|t| !t.is_cancelled()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn the_oldest_running_handshake_gives_way_when_full() {
        let mut hs = Handshakes::new(2);
        let first = hs.admit(T);
        let second = hs.admit(T);
        assert!(!first.give_up().is_cancelled() && !second.give_up().is_cancelled());
        let third = hs.admit(T);
        assert!(first.give_up().is_cancelled(), "the oldest was evicted");
        assert!(!second.give_up().is_cancelled() && !third.give_up().is_cancelled());
        assert_eq!(hs.running(), 2);
    }

    #[test]
    fn finished_handshakes_free_their_place() {
        let mut hs = Handshakes::new(2);
        let first = hs.admit(T);
        let second = hs.admit(T);
        drop(first); // its connect reply came
        let third = hs.admit(T);
        assert!(
            !second.give_up().is_cancelled(),
            "nobody is evicted: one place was free"
        );
        assert!(!third.give_up().is_cancelled());
        assert_eq!(hs.running(), 2);
        assert!(hs.queue.len() <= 2, "ended ones are dropped from the queue");
    }
}
