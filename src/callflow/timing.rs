//! How long a request may take and when it is tried again: the connect, read and total
//! timeouts and the retries of a `pivot` request, from the node's fields and from
//! Twilio-style overrides in the URL's fragment (`#ct=1000&rt=3000&tt=5000&rc=2&rp=rt,5xx`).
//! Owns their bounds and defaults; retrying is `crate::pivot::retry`'s business.

use std::time::Duration;

use super::value::{preview, InvalidValue};

/// Failures retried beyond the safe ones (connection refused, connect timeout, 502, 503,
/// 504), widened by the fragment's `rp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOn {
    /// `rt`: no complete answer within the read timeout (the web app may have acted).
    pub read_timeout: bool,
    /// `5xx`: every 5xx status, not only 502, 503 and 504.
    pub status_5xx: bool,
    /// `4xx`: every 4xx status.
    pub status_4xx: bool,
}

impl RetryOn {
    /// `ct`, `rt`, `4xx`, `5xx` or `all`, comma-separated (`ct` is always retried).
    fn parse(s: &str) -> Result<RetryOn, InvalidValue> {
        let mut on = RetryOn::default();
        for item in s.split(',') {
            match item.trim().to_ascii_lowercase().as_str() {
                "ct" => {}
                "rt" => on.read_timeout = true,
                "5xx" => on.status_5xx = true,
                "4xx" => on.status_4xx = true,
                "all" => {
                    on = RetryOn {
                        read_timeout: true,
                        status_5xx: true,
                        status_4xx: true,
                    }
                }
                other => {
                    return Err(InvalidValue(format!(
                        "#rp: expected ct, rt, 4xx, 5xx or all, got {}",
                        preview(other)
                    )))
                }
            }
        }
        Ok(on)
    }
}

/// The overrides a URL's fragment carries; `None` leaves the node's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlOverrides {
    /// `ct`: connect timeout, ms.
    pub connect: Option<Duration>,
    /// `rt`: read timeout, ms.
    pub read: Option<Duration>,
    /// `tt`: total time for every attempt and the waits between them, ms.
    pub total: Option<Duration>,
    /// `rc`: retries after the first attempt.
    pub retries: Option<u32>,
    /// `rp`: what else is retried.
    pub retry_on: Option<RetryOn>,
}

impl UrlOverrides {
    /// Reads `ct`, `rt`, `tt`, `rc` and `rp` from `key=value` pairs joined by `&`; other
    /// keys and text are left alone (a fragment may mean something else to the web app).
    pub fn parse(fragment: &str) -> Result<UrlOverrides, InvalidValue> {
        let mut o = UrlOverrides::default();
        for pair in fragment.split('&') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            match key {
                "ct" => o.connect = Some(ms(key, value)?),
                "rt" => o.read = Some(ms(key, value)?),
                "tt" => o.total = Some(ms(key, value)?),
                "rc" => o.retries = Some(count(value)?),
                "rp" => o.retry_on = Some(RetryOn::parse(value)?),
                _ => {}
            }
        }
        Ok(o)
    }

    /// The fragment keys pivot reads.
    pub const KEYS: [&'static str; 5] = ["ct", "rt", "tt", "rc", "rp"];
}

fn ms(key: &str, value: &str) -> Result<Duration, InvalidValue> {
    let (min, max) = (Timing::MIN_MS, Timing::MAX_MS);
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_millis(n)),
        _ => Err(InvalidValue(format!(
            "#{key}: expected milliseconds from {min} to {max}, got {}",
            preview(value)
        ))),
    }
}

fn count(value: &str) -> Result<u32, InvalidValue> {
    match value.parse::<u32>() {
        Ok(n) if n <= Timing::MAX_RETRIES => Ok(n),
        _ => Err(InvalidValue(format!(
            "#rc: expected a number of retries from 0 to {}, got {}",
            Timing::MAX_RETRIES,
            preview(value)
        ))),
    }
}

/// The time budget and retries of one request to one URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Resolving and connecting (TCP and TLS); at most `total`.
    pub connect: Duration,
    /// From the connection (or the start, on a pooled one) to the whole answer; at most
    /// `total`.
    pub read: Duration,
    /// Every attempt and the waits between them.
    pub total: Duration,
    /// Attempts after the first, for the failures that may be retried.
    pub retries: u32,
    pub retry_on: RetryOn,
}

impl Timing {
    pub const MIN_MS: u64 = 1;
    pub const MAX_MS: u64 = 120_000;
    pub const DEFAULT_CONNECT: Duration = Duration::from_millis(2000);
    pub const DEFAULT_RETRIES: u32 = 1;
    pub const MAX_RETRIES: u32 = 5;

    /// `total` with every other default.
    pub fn with_total(total: Duration) -> Timing {
        Timing {
            connect: Self::DEFAULT_CONNECT.min(total),
            read: total,
            total,
            retries: Self::DEFAULT_RETRIES,
            retry_on: RetryOn::default(),
        }
    }
}
