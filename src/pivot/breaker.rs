//! A circuit breaker per web app host (`host:port`): after `failures` failed attempts in a
//! row within `window`, requests to that host are skipped at once (the call takes its
//! fallback or failback without waiting) for `cooldown`; then one trial request is let
//! through, and its outcome closes the circuit or opens it again. A host that answers at
//! all (even 4xx) is healthy; connection failures, timeouts and 5xx answers count. Time is
//! tokio's, so tests pause it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::fetch::FetchError;

/// `[http.breaker]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// Failed attempts in a row that open a host's circuit.
    pub failures: u32,
    /// ... when they all fall within this time.
    pub window: Duration,
    /// How long requests are skipped before one trial.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            failures: 5,
            window: Duration::from_secs(30),
            cooldown: Duration::from_secs(30),
        }
    }
}

/// What an attempt said about its host's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The host answered (any status below 500).
    Up,
    /// No connection, no answer in time, or a 5xx.
    Down,
    /// Says nothing (refused by the policy, abandoned).
    Unknown,
}

impl Health {
    pub fn of(result: &Result<super::fetch::Response, FetchError>) -> Health {
        let e = match result {
            Ok(_) => return Health::Up,
            Err(e) => e,
        };
        match e {
            FetchError::Connect { .. }
            | FetchError::ConnectTimeout { .. }
            | FetchError::Timeout { .. }
            | FetchError::Dns { .. }
            | FetchError::Tls { .. } => Health::Down,
            FetchError::Status { status, .. } if *status >= 500 => Health::Down,
            FetchError::Status { .. }
            | FetchError::EmptyBody { .. }
            | FetchError::TooLarge { .. }
            | FetchError::Redirects { .. } => Health::Up,
            FetchError::Forbidden { .. }
            | FetchError::CircuitOpen { .. }
            | FetchError::Other { .. } => Health::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Failing, not yet open: `failures` in a row, the first at `since`.
    Failing {
        failures: u32,
        since: Instant,
    },
    Open {
        until: Instant,
    },
    /// The cooldown is over; `trial` while the one trial request runs.
    HalfOpen {
        trial: bool,
    },
}

/// Hosts tracked at most (only failing or open ones are kept); beyond it new hosts are not
/// tracked, so the map cannot grow without bound.
const MAX_HOSTS: usize = 10_000;

/// Every host's circuit.
#[derive(Debug, Default)]
pub struct Breakers {
    config: BreakerConfig,
    hosts: Mutex<HashMap<String, State>>,
    skipped: AtomicU64,
    opened: AtomicU64,
}

/// Leave to send one request; report its outcome with [`Permit::record`]. Dropped
/// without a report (the call hung up), it says nothing, and a trial slot is freed.
#[derive(Debug)]
pub struct Permit {
    breakers: Arc<Breakers>,
    host: String,
    trial: bool,
    done: bool,
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerStats {
    pub skipped: u64,
    pub opened: u64,
    /// Hosts whose circuit is open or waiting for its trial, sorted.
    pub open_hosts: Vec<String>,
}

impl Breakers {
    pub fn new(config: BreakerConfig) -> Breakers {
        Breakers {
            config,
            ..Breakers::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A permit, or the error of a skipped request.
    pub fn admit(self: &Arc<Self>, host: &str) -> Result<Permit, FetchError> {
        let permit = |trial| Permit {
            breakers: self.clone(),
            host: host.to_string(),
            trial,
            done: false,
        };
        if !self.config.enabled {
            return Ok(permit(false));
        }
        let now = Instant::now();
        let mut hosts = self.lock();
        let skip = match hosts.get_mut(host) {
            None | Some(State::Failing { .. }) => return Ok(permit(false)),
            Some(State::Open { until }) if now < *until => *until - now,
            Some(state @ (State::Open { .. } | State::HalfOpen { trial: false })) => {
                *state = State::HalfOpen { trial: true };
                return Ok(permit(true));
            }
            Some(State::HalfOpen { trial: true }) => Duration::ZERO,
        };
        drop(hosts);
        self.skipped.fetch_add(1, Ordering::Relaxed);
        Err(FetchError::CircuitOpen {
            host: host.to_string(),
            retry_in_ms: skip.as_millis(),
        })
    }

    fn record(&self, host: &str, trial: bool, health: Health) {
        let now = Instant::now();
        let mut hosts = self.lock();
        match (health, hosts.get(host).copied()) {
            (Health::Up, _) => {
                hosts.remove(host);
            }
            (Health::Unknown, Some(State::HalfOpen { .. })) if trial => {
                hosts.insert(host.to_string(), State::HalfOpen { trial: false });
            }
            (Health::Unknown, _) => {}
            (Health::Down, state) => {
                let next = self.after_failure(state, trial, now);
                if matches!(next, State::Open { .. }) && !matches!(state, Some(State::Open { .. }))
                {
                    self.opened.fetch_add(1, Ordering::Relaxed);
                }
                if hosts.len() < MAX_HOSTS || hosts.contains_key(host) {
                    hosts.insert(host.to_string(), next);
                }
            }
        }
    }

    fn after_failure(&self, state: Option<State>, trial: bool, now: Instant) -> State {
        let open = State::Open {
            until: now + self.config.cooldown,
        };
        match state {
            Some(State::HalfOpen { .. }) if trial => open,
            // A request admitted before the circuit opened: it is open already.
            Some(s @ (State::Open { .. } | State::HalfOpen { .. })) => s,
            Some(State::Failing { failures, since }) if now - since <= self.config.window => {
                match failures + 1 >= self.config.failures {
                    true => open,
                    false => State::Failing {
                        failures: failures + 1,
                        since,
                    },
                }
            }
            None | Some(State::Failing { .. }) if self.config.failures <= 1 => open,
            None | Some(State::Failing { .. }) => State::Failing {
                failures: 1,
                since: now,
            },
        }
    }

    pub fn stats(&self) -> BreakerStats {
        let mut open_hosts: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, s)| !matches!(s, State::Failing { .. }))
            .map(|(h, _)| h.clone())
            .collect();
        open_hosts.sort();
        BreakerStats {
            skipped: self.skipped.load(Ordering::Relaxed),
            opened: self.opened.load(Ordering::Relaxed),
            open_hosts,
        }
    }
}

impl Permit {
    pub fn record(mut self, health: Health) {
        self.done = true;
        self.breakers.record(&self.host, self.trial, health);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.breakers
                .record(&self.host, self.trial, Health::Unknown);
        }
    }
}

/// The key of a URL's circuit: `host:port` (the scheme's default port made explicit).
pub fn host_key(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
