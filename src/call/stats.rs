//! What calls count per account, for `/metrics`: calls, requests, failed requests by kind,
//! failbacks and request latency, each labelled by account. The label set is bounded: the
//! first `api.metrics_max_accounts` accounts seen get their own series, later ones count
//! under `other`, so a deployment with many accounts cannot grow the scrape without limit.
//! `crate::metrics` registers these families; this module only counts.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

/// Request latency buckets, seconds (the same for the total and per account).
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The label accounts past the cap share.
pub const OTHER_ACCOUNT: &str = "other";

/// A histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountLabel {
    pub account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountKindLabel {
    pub account: String,
    pub kind: String,
}

/// The per-account families (cheap to clone: each is shared).
#[derive(Debug)]
pub struct AccountStats {
    max: usize,
    known: Mutex<HashSet<String>>,
    pub calls: Family<AccountLabel, Counter>,
    pub requests: Family<AccountLabel, Counter>,
    pub failures: Family<AccountKindLabel, Counter>,
    pub failbacks: Family<AccountLabel, Counter>,
    pub latency: Family<AccountLabel, Histogram, fn() -> Histogram>,
}

impl AccountStats {
    /// At most `max` accounts get their own label.
    pub fn new(max: usize) -> Self {
        AccountStats {
            max,
            known: Mutex::new(HashSet::new()),
            calls: Family::default(),
            requests: Family::default(),
            failures: Family::default(),
            failbacks: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }

    /// The label `account` is counted under: its own id while there is room, else
    /// [`OTHER_ACCOUNT`]. Called once per call (at routing).
    pub fn label(&self, account: &str) -> AccountLabel {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let own = known.contains(account) || {
            let room = known.len() < self.max;
            if room {
                known.insert(account.to_string());
            }
            room
        };
        AccountLabel {
            account: if own { account } else { OTHER_ACCOUNT }.to_string(),
        }
    }

    pub fn call(&self, account: &AccountLabel) {
        self.calls.get_or_create(account).inc();
    }

    pub fn request(&self, account: &AccountLabel) {
        self.requests.get_or_create(account).inc();
    }

    /// A request that gave no flow (each URL asked counts: a primary a fallback_url
    /// rescued too).
    pub fn failure(&self, account: &AccountLabel, kind: &str) {
        let label = AccountKindLabel {
            account: account.account.clone(),
            kind: kind.to_string(),
        };
        self.failures.get_or_create(&label).inc();
    }

    pub fn failback(&self, account: &AccountLabel) {
        self.failbacks.get_or_create(account).inc();
    }

    pub fn latency(&self, account: &AccountLabel, took: Duration) {
        self.latency
            .get_or_create(account)
            .observe(took.as_secs_f64());
    }
}

impl Default for AccountStats {
    fn default() -> Self {
        AccountStats::new(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_past_the_cap_share_the_other_label() {
        let s = AccountStats::new(2);
        assert_eq!(s.label("a").account, "a");
        assert_eq!(s.label("b").account, "b");
        assert_eq!(s.label("c").account, OTHER_ACCOUNT);
        assert_eq!(s.label("a").account, "a", "a known account keeps its label");
        assert_eq!(s.label("d").account, OTHER_ACCOUNT);
    }
}

/// The request latency of every account together.
#[derive(Debug, Clone)]
pub struct Latency(pub Histogram);

impl Default for Latency {
    fn default() -> Self {
        Latency(latency_histogram())
    }
}

impl Latency {
    pub fn observe(&self, took: Duration) {
        self.0.observe(took.as_secs_f64());
    }
}
