//! Retrying a request inside its time budget: which failures may be retried (only those
//! where the web app cannot have acted on the request, unless the URL's `#rp` widens it),
//! how long to wait before the next attempt (exponential backoff with jitter), and the
//! limits of each attempt, so that every attempt and every wait ends within the total.
//! Pure logic on a clock passed in; the call engine sends and sleeps.

use std::time::Duration;

use tokio::time::Instant;

use crate::callflow::{RetryOn, Timing};
use crate::pivot::fetch::FetchError;

/// The first wait; each further one doubles, up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_millis(2000);
/// A retry is not made unless this much of the budget is left after its wait.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(10);

/// The limits of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    pub connect: Duration,
    pub read: Duration,
    /// The rest of the total budget: the attempt ends by then, whatever happens.
    pub limit: Duration,
}

/// The attempts of one request.
#[derive(Debug)]
pub struct Attempts {
    timing: Timing,
    deadline: Instant,
    made: u32,
    rng: fastrand::Rng,
}

impl Attempts {
    pub fn new(timing: Timing, now: Instant) -> Attempts {
        Attempts::with_rng(timing, now, fastrand::Rng::new())
    }

    /// With a seeded jitter (tests).
    pub fn with_rng(timing: Timing, now: Instant, rng: fastrand::Rng) -> Attempts {
        Attempts {
            timing,
            deadline: now + timing.total,
            made: 0,
            rng,
        }
    }

    /// When the whole request must be over.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The next attempt's limits; None when the retries or the budget are used up.
    pub fn next(&mut self, now: Instant) -> Option<Attempt> {
        let limit = self.deadline.saturating_duration_since(now);
        if limit.is_zero() || self.made > self.timing.retries {
            return None;
        }
        self.made += 1;
        Some(Attempt {
            number: self.made,
            connect: self.timing.connect.min(limit),
            read: self.timing.read.min(limit),
            limit,
        })
    }

    /// After a failed attempt: the wait before the next one, or None when `err` may not be
    /// retried, no retry is left, or the wait would leave less than [`MIN_ATTEMPT`].
    pub fn retry_after(&mut self, err: &FetchError, now: Instant) -> Option<Duration> {
        if self.made > self.timing.retries || !retryable(err, self.timing.retry_on) {
            return None;
        }
        let delay = backoff(self.made, &mut self.rng);
        let left = self.deadline.saturating_duration_since(now);
        (left >= delay + MIN_ATTEMPT).then_some(delay)
    }
}

/// Safe to retry: the request never reached the web app (connection refused or failed,
/// connect timeout), or a proxy or the web app said it did not handle it (502, 503, 504).
/// `on` adds read timeouts and other statuses.
pub fn retryable(err: &FetchError, on: RetryOn) -> bool {
    match err {
        FetchError::Connect { .. } | FetchError::ConnectTimeout { .. } => true,
        FetchError::Status { status, .. } => match status {
            502..=504 => true,
            500..=599 => on.status_5xx,
            400..=499 => on.status_4xx,
            _ => false,
        },
        FetchError::Timeout { .. } => on.read_timeout,
        _ => false,
    }
}

/// `BASE_BACKOFF * 2^(n-1)`, capped, then a random point in its upper half (so calls that
/// failed together do not retry together).
pub fn backoff(attempt: u32, rng: &mut fastrand::Rng) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let full = exp.min(MAX_BACKOFF).as_millis() as u64;
    Duration::from_millis(full / 2 + rng.u64(0..=full / 2))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
