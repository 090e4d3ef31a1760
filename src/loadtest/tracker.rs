//! Follows the B legs of the load's calls through FreeSWITCH's events: when each was created,
//! when it first played audio, how it hung up. Every call carries `pivot_loadtest=<tag>`;
//! a B leg is the loopback channel whose name ends in `-b`. Times are FreeSWITCH's own
//! (`Event-Date-Timestamp`, microseconds), so the load generator's own lag does not count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Outcome;
use crate::esl::client::{Client, ClientError};
use crate::esl::Event;

const EVENTS: [&str; 3] = [
    "CHANNEL_CREATE",
    "PLAYBACK_START",
    "CHANNEL_HANGUP_COMPLETE",
];
/// Legs followed at once, at most (a stuck load cannot grow the map without limit).
const MAX_LEGS: usize = 100_000;

/// What happened to one call's B leg.
#[derive(Debug, Clone, Default)]
pub struct Leg {
    created_us: Option<u64>,
    first_audio_us: Option<u64>,
    cause: Option<String>,
}

impl Leg {
    pub fn outcome(&self) -> Outcome {
        let first_audio = match (self.created_us, self.first_audio_us) {
            (Some(c), Some(p)) => Some(Duration::from_micros(p.saturating_sub(c))),
            _ => None,
        };
        let failure = match (&first_audio, self.cause.as_deref()) {
            (None, cause) => Some(format!(
                "no audio played (hangup {})",
                cause.unwrap_or("unknown")
            )),
            (Some(_), Some("NORMAL_CLEARING")) => None,
            (Some(_), cause) => Some(format!("hangup {}", cause.unwrap_or("unknown"))),
        };
        Outcome {
            failure,
            first_audio,
        }
    }
}

#[derive(Default)]
struct State {
    /// B legs by Unique-ID.
    legs: HashMap<String, Leg>,
    /// Calls waiting for their B leg's end, by tag.
    waiting: HashMap<String, oneshot::Sender<Leg>>,
}

/// Shared by the load's call tasks; one reader task feeds it.
#[derive(Clone)]
pub struct Tracker {
    state: Arc<Mutex<State>>,
    task: Arc<JoinHandle<()>>,
}

impl Tracker {
    pub async fn start(fs: Client) -> Result<Tracker, ClientError> {
        fs.subscribe(&EVENTS).await?;
        let state = Arc::new(Mutex::new(State::default()));
        let feed = state.clone();
        let task = tokio::spawn(async move {
            loop {
                match fs.next_event_within(Duration::from_secs(3600)).await {
                    Ok(ev) => on_event(&feed, &ev),
                    Err(ClientError::Lagged { lost }) => {
                        tracing::warn!(lost, "the load lost events: its numbers are incomplete")
                    }
                    Err(ClientError::Timeout { .. }) => {}
                    Err(_) => return,
                }
            }
        });
        Ok(Tracker {
            state,
            task: Arc::new(task),
        })
    }

    /// Registers a call before it is originated; the receiver gets its B leg at its end.
    pub fn expect(&self, tag: &str) -> oneshot::Receiver<Leg> {
        let (tx, rx) = oneshot::channel();
        lock(&self.state).waiting.insert(tag.to_string(), tx);
        rx
    }

    pub fn forget(&self, tag: &str) {
        lock(&self.state).waiting.remove(tag);
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn on_event(state: &Mutex<State>, ev: &Event) {
    let is_b = ev
        .header("Channel-Name")
        .is_some_and(|n| n.starts_with("loopback/") && n.ends_with("-b"));
    let (Some(uuid), true) = (ev.unique_id(), is_b) else {
        return;
    };
    let at = ev
        .header("Event-Date-Timestamp")
        .and_then(|t| t.trim().parse::<u64>().ok());
    let mut s = lock(state);
    match ev.name() {
        Some("CHANNEL_CREATE") if s.legs.len() < MAX_LEGS => {
            let leg = Leg {
                created_us: at,
                ..Leg::default()
            };
            s.legs.insert(uuid.to_string(), leg);
        }
        Some("PLAYBACK_START") => {
            if let Some(leg) = s.legs.get_mut(uuid) {
                leg.first_audio_us = leg.first_audio_us.or(at);
            }
        }
        Some("CHANNEL_HANGUP_COMPLETE") => {
            let mut leg = s.legs.remove(uuid).unwrap_or_default();
            leg.cause = ev.hangup_cause().map(str::to_string);
            if let Some(tag) = ev.variable("pivot_loadtest") {
                if let Some(tx) = s.waiting.remove(tag) {
                    let _ = tx.send(leg);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::esl::Headers;

    fn ev(name: &str, chan: &str, uuid: &str, at: u64, extra: &[(&str, &str)]) -> Event {
        let mut h = Headers::new();
        h.push("Event-Name", name);
        h.push("Channel-Name", chan);
        h.push("Unique-ID", uuid);
        h.push("Event-Date-Timestamp", &at.to_string());
        for (n, v) in extra {
            h.push(n, v);
        }
        Event::new(h, None)
    }

    #[test]
    fn a_b_leg_gives_its_first_audio_and_its_end() {
        let state = Mutex::new(State::default());
        let (tx, mut rx) = oneshot::channel();
        lock(&state).waiting.insert("t1".into(), tx);
        let b = "loopback/9000-b";
        on_event(&state, &ev("CHANNEL_CREATE", b, "u", 1_000_000, &[]));
        on_event(
            &state,
            &ev("CHANNEL_CREATE", "loopback/9000-a", "a", 1_000_100, &[]),
        );
        on_event(&state, &ev("PLAYBACK_START", b, "u", 1_015_000, &[]));
        on_event(&state, &ev("PLAYBACK_START", b, "u", 1_300_000, &[]));
        let end = [
            ("Hangup-Cause", "NORMAL_CLEARING"),
            ("variable_pivot_loadtest", "t1"),
        ];
        on_event(
            &state,
            &ev("CHANNEL_HANGUP_COMPLETE", b, "u", 1_400_000, &end),
        );
        let o = rx.try_recv().unwrap().outcome();
        assert_eq!(o.first_audio, Some(Duration::from_millis(15)));
        assert!(o.failure.is_none());
        assert!(lock(&state).legs.is_empty());
    }

    #[test]
    fn a_leg_without_audio_or_with_another_cause_failed() {
        let silent = Leg {
            created_us: Some(1),
            first_audio_us: None,
            cause: Some("NORMAL_CLEARING".into()),
        };
        assert!(silent.outcome().failure.unwrap().contains("no audio"));
        let busy = Leg {
            created_us: Some(1),
            first_audio_us: Some(2),
            cause: Some("USER_BUSY".into()),
        };
        assert_eq!(busy.outcome().failure.as_deref(), Some("hangup USER_BUSY"));
    }
}
