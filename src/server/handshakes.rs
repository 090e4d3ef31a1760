//! The connections still in their handshake (accepted, connect reply not yet in), capped
//! at `esl.max_handshaking`. When the cap is reached the oldest one gives its place up to
//! the newest: a real FreeSWITCH answers `connect` within milliseconds, so the oldest is
//! almost surely a connection that will never answer, and refusing the newest instead
//! would let a flood of idle connections refuse every real call for a whole
//! `esl.handshake_timeout_ms`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::call::Admission;

pub(super) struct Handshakes {
    cap: usize,
    timeout: Duration,
    /// The call slots each admission takes one of once its handshake is over.
    slots: Arc<Semaphore>,
    /// Oldest first. A cancelled token is a handshake that ended (or was evicted).
    queue: VecDeque<CancellationToken>,
}

impl Handshakes {
    pub fn new(cap: usize, timeout: Duration, slots: Arc<Semaphore>) -> Self {
        Handshakes {
            cap: cap.max(1),
            timeout,
            slots,
            queue: VecDeque::new(),
        }
    }

    /// A new connection's admission; evicts the oldest handshake still running when `cap`
    /// are. Costs O(cap) only when the queue is full.
    pub fn admit(&mut self) -> Admission {
        // Handshakes mostly end in the order they began: the ended ones at the front go
        // now, so the queue stays near the number running instead of growing to `cap`.
        while self
            .queue
            .front()
            .is_some_and(CancellationToken::is_cancelled)
        {
            self.queue.pop_front();
        }
        if self.queue.len() >= self.cap {
            self.queue.retain(|t| !t.is_cancelled());
        }
        if self.queue.len() >= self.cap {
            if let Some(oldest) = self.queue.pop_front() {
                oldest.cancel();
            }
        }
        let (admission, token) = Admission::new(self.timeout, self.slots.clone());
        self.queue.push_back(token);
        admission
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

    fn handshakes(cap: usize) -> Handshakes {
        Handshakes::new(cap, Duration::from_secs(5), Arc::new(Semaphore::new(10)))
    }

    #[test]
    fn the_oldest_running_handshake_gives_way_when_full() {
        let mut hs = handshakes(2);
        let first = hs.admit();
        let second = hs.admit();
        assert!(!first.give_up().is_cancelled() && !second.give_up().is_cancelled());
        let third = hs.admit();
        assert!(first.give_up().is_cancelled(), "the oldest was evicted");
        assert!(!second.give_up().is_cancelled() && !third.give_up().is_cancelled());
        assert_eq!(hs.running(), 2);
    }

    #[test]
    fn finished_handshakes_free_their_place() {
        let mut hs = handshakes(2);
        let first = hs.admit();
        let second = hs.admit();
        drop(first); // its connect reply came
        let third = hs.admit();
        assert!(
            !second.give_up().is_cancelled(),
            "nobody is evicted: one place was free"
        );
        assert!(!third.give_up().is_cancelled());
        assert_eq!(hs.running(), 2);
        assert!(hs.queue.len() <= 2, "ended ones are dropped from the queue");
    }

    #[test]
    fn ended_handshakes_leave_the_queue_before_it_is_full() {
        let mut hs = handshakes(1000);
        let ended: Vec<_> = (0..100).map(|_| hs.admit()).collect();
        drop(ended);
        let running = hs.admit();
        assert_eq!(
            hs.queue.len(),
            1,
            "the 100 that ended are not kept until 1000 are"
        );
        assert!(!running.give_up().is_cancelled());
    }
}
