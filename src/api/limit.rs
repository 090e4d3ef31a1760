//! Rate limits for `PUT /v2/api_auth`: a token bucket per key (a source address, or an
//! account), refilled at the configured rate per minute, holding at most a minute's worth.
//! The table is bounded: buckets that have refilled are forgotten (they are the same as
//! new ones), and when it is full of live buckets a new key is refused until the next
//! sweep, so a flood of addresses costs bounded memory and bounded time per request.
//!
//! Hand-written rather than a crate: the per-key crates (governor) leave the table
//! unbounded unless swept by the caller, and this is the whole of what we need.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Keys tracked at once, per limit.
const KEYS_MAX: usize = 65_536;
/// The table is swept for refilled buckets at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct RateLimit<K> {
    /// Tokens per second.
    rate: f64,
    /// The bucket's size: one minute's worth.
    burst: f64,
    keys_max: usize,
    table: Mutex<Table<K>>,
}

struct Table<K> {
    buckets: HashMap<K, Bucket>,
    last_sweep: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn level(&self, now: Instant, rate: f64, burst: f64) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(burst)
    }
}

impl<K: Hash + Eq + Clone> RateLimit<K> {
    pub(crate) fn per_minute(n: u32) -> Self {
        Self::with_keys_max(n, KEYS_MAX)
    }

    fn with_keys_max(n: u32, keys_max: usize) -> Self {
        let burst = f64::from(n.max(1));
        Self {
            rate: burst / 60.0,
            burst,
            keys_max,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Takes one token for `key`; `Err(wait)` when there is none, `wait` being how long
    /// until there is.
    pub(crate) fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if !table.buckets.contains_key(key) && table.buckets.len() >= self.keys_max {
            let due = table
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
            if due {
                let (rate, burst) = (self.rate, self.burst);
                table
                    .buckets
                    .retain(|_, b| b.level(now, rate, burst) < burst);
                table.last_sweep = Some(now);
            }
            if table.buckets.len() >= self.keys_max {
                return Err(SWEEP_EVERY);
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = table.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let level = bucket.level(now, rate, burst);
        if level >= 1.0 {
            *bucket = Bucket {
                tokens: level - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket {
                tokens: level,
                at: now,
            };
            Err(Duration::from_secs_f64((1.0 - level) / rate))
        }
    }
}

/// The key of a source address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64, since
/// one host commonly holds a whole /64.
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_minutes_worth_then_one_per_refill_interval() {
        let limit = RateLimit::per_minute(6);
        for _ in 0..6 {
            limit.check(&"a").unwrap();
        }
        let wait = limit.check(&"a").unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        assert!(limit.check(&"b").is_ok(), "another key has its own bucket");
        tokio::time::advance(Duration::from_secs(10)).await;
        limit.check(&"a").unwrap();
        assert!(limit.check(&"a").is_err());
        tokio::time::advance(Duration::from_secs(600)).await;
        for _ in 0..6 {
            limit.check(&"a").unwrap();
        }
        assert!(
            limit.check(&"a").is_err(),
            "never more than a minute's worth"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded_and_refilled_buckets_make_room() {
        let limit = RateLimit::with_keys_max(2, 3);
        for k in 0..3 {
            limit.check(&k).unwrap();
        }
        assert!(
            limit.check(&3).is_err(),
            "full of live buckets: a new key waits"
        );
        limit.check(&0).unwrap();
        tokio::time::advance(Duration::from_secs(60)).await;
        limit.check(&3).unwrap();
        assert!(limit.table.lock().unwrap().buckets.len() <= 3);
    }

    #[test]
    fn ipv6_hosts_are_keyed_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
