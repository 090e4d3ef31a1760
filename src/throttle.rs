//! Rate-limited warnings: a line that a flood could repeat thousands of times a second (a
//! refused peer, a call over the cap, an idle connection given up) is written at most once
//! per interval and key, with how many events it stands for. Counting every event is the
//! metrics' job; this only keeps the log readable and cheap under attack.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Most keys remembered at once; events of further keys share one slot, so a flood from
/// many addresses cannot grow the map.
pub const MAX_KEYS: usize = 1024;

/// The interval the server's warnings use.
pub const EVERY: Duration = Duration::from_secs(10);

/// Decides whether an event gets a log line now. One per kind of warning; `K` is what the
/// lines are counted by (a peer address), `()` for one count.
#[derive(Debug)]
pub struct LogLimit<K = ()> {
    every: Duration,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    slots: HashMap<K, Slot>,
    /// Events of keys that found the map full.
    overflow: Option<Slot>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When the last line of this key was written.
    last: Instant,
    /// Events since then (not yet in a line).
    held: u64,
}

impl Slot {
    /// Counts one event; `Some(n)` when a line is due, for the `n` events it covers.
    fn hit(&mut self, now: Instant, every: Duration) -> Option<u64> {
        self.held += 1;
        if now.duration_since(self.last) < every {
            return None;
        }
        let n = self.held;
        self.held = 0;
        self.last = now;
        Some(n)
    }
}

impl<K: Hash + Eq> LogLimit<K> {
    pub fn new(every: Duration) -> Self {
        LogLimit {
            every,
            state: Mutex::new(State {
                slots: HashMap::new(),
                overflow: None,
            }),
        }
    }

    /// Counts an event of `key`. `Some(n)`: write the line now, it stands for `n` events
    /// (this one and those held back since the key's last line); `None`: stay quiet.
    pub fn hit(&self, key: K) -> Option<u64> {
        let now = Instant::now();
        let every = self.every;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = state.slots.get_mut(&key) {
            return slot.hit(now, every);
        }
        if state.slots.len() >= MAX_KEYS {
            // Keys quiet for a whole interval would get a line at once anyway: forget them.
            state
                .slots
                .retain(|_, s| s.held > 0 || now.duration_since(s.last) < every);
        }
        if state.slots.len() < MAX_KEYS {
            state.slots.insert(key, Slot { last: now, held: 0 });
            return Some(1);
        }
        match &mut state.overflow {
            Some(slot) => slot.hit(now, every),
            None => {
                state.overflow = Some(Slot { last: now, held: 0 });
                Some(1)
            }
        }
    }
}

impl<K: Hash + Eq> Default for LogLimit<K> {
    fn default() -> Self {
        LogLimit::new(EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_interval_with_the_count_held_back() {
        let limit = LogLimit::new(Duration::from_secs(10));
        assert_eq!(limit.hit(()), Some(1), "the first event is written");
        for _ in 0..99 {
            assert_eq!(limit.hit(()), None);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(limit.hit(()), Some(100), "99 held back and this one");
        assert_eq!(limit.hit(()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn keys_are_counted_apart() {
        let limit = LogLimit::new(Duration::from_secs(10));
        assert_eq!(limit.hit("a"), Some(1));
        assert_eq!(limit.hit("b"), Some(1), "another key has its own line");
        assert_eq!(limit.hit("a"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_keys_shares_one_slot_past_the_bound() {
        let limit = LogLimit::new(Duration::from_secs(10));
        for i in 0..MAX_KEYS {
            assert_eq!(limit.hit(i), Some(1));
        }
        // Every key is fresh: the next ones share the overflow slot.
        assert_eq!(limit.hit(MAX_KEYS), Some(1));
        assert_eq!(limit.hit(MAX_KEYS + 1), None);
        assert_eq!(limit.hit(MAX_KEYS + 2), None);
        // Once the old keys have been quiet a whole interval they are forgotten.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(limit.hit(MAX_KEYS + 3), Some(1));
        let state = limit.state.lock().unwrap();
        assert!(state.slots.len() <= MAX_KEYS);
    }
}
