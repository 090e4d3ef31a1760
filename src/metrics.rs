//! `GET /metrics` in the Prometheus text format (0.0.4), encoded by `prometheus-client`.
//! Owns the metric names and their help; counting happens where things happen. Most
//! counters are atomics kept where they are counted (`call::Stats`, the web client, the
//! store, the API's connections) and read at scrape time by [`Live`], a collector; the
//! histograms and the per-account families are the crate's own types, registered here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::api::ConnStats;
use crate::call::{Engine, Stats};

/// Open circuits listed by host, at most.
const MAX_OPEN_HOSTS: usize = 100;

pub fn router(engine: Arc<Engine>, api: Arc<ConnStats>) -> Router {
    let registry = Arc::new(registry(engine, api));
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut text = String::new();
                if let Err(e) = prometheus_text::encode(&mut text, &registry) {
                    tracing::warn!(error = %e, "metrics could not be encoded");
                }
                ([(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], text).into_response()
            }
        }),
    )
}

/// Every metric pivot serves.
pub fn registry(engine: Arc<Engine>, api: Arc<ConnStats>) -> Registry {
    let mut r = Registry::default();
    let s = &engine.stats;
    r.register(
        "pivot_request_duration_seconds",
        "Time to get an answer from the web app",
        s.request_latency.0.clone(),
    );
    let a = &s.accounts;
    r.register(
        "pivot_account_calls",
        "Calls, by account (accounts past api.metrics_max_accounts count as \"other\")",
        a.calls.clone(),
    );
    r.register(
        "pivot_account_requests",
        "Requests sent to web apps, by account",
        a.requests.clone(),
    );
    r.register(
        "pivot_account_request_failures",
        "Requests that gave no flow, by account and failure kind (a primary a fallback_url rescued counts too)",
        a.failures.clone(),
    );
    r.register(
        "pivot_account_failbacks",
        "Requests that failed and took the failback, by account",
        a.failbacks.clone(),
    );
    r.register(
        "pivot_account_request_duration_seconds",
        "Time to get an answer from the web app, by account",
        a.latency.clone(),
    );
    r.register_collector(Box::new(Live { engine, api }));
    r
}

/// Reads the atomics at scrape time.
struct Live {
    engine: Arc<Engine>,
    api: Arc<ConnStats>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

type Count = fn(&Stats) -> &AtomicU64;

/// Counters of `call::Stats`: name (without `_total`), help, the counter.
const CALL_COUNTERS: [(&str, &str, Count); 5] = [
    ("pivot_calls", "Calls accepted.", |s| &s.calls_total),
    (
        "pivot_calls_failed",
        "Calls that ended on an event socket error.",
        |s| &s.calls_failed,
    ),
    ("pivot_requests", "Requests sent to web apps.", |s| {
        &s.requests
    }),
    (
        "pivot_failbacks",
        "Requests that failed and took the failback.",
        |s| &s.failbacks,
    ),
    (
        "pivot_esl_protocol_errors",
        "Event socket protocol errors.",
        |s| &s.protocol_errors,
    ),
];

impl Collector for Live {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.engine.stats;
        gauge(
            &mut e,
            "pivot_calls_active",
            "Calls in progress.",
            load(&s.calls_active),
        )?;
        for (name, help, count) in CALL_COUNTERS {
            counter(&mut e, name, help, load(count(s)))?;
        }
        labelled(
            &mut e,
            "pivot_failbacks_by_cause",
            "Failbacks by failure kind.",
            &s.failbacks_by_cause.snapshot(),
        )?;
        labelled(
            &mut e,
            "pivot_call_outcomes",
            "Ended calls by hangup cause.",
            &s.outcomes.snapshot(),
        )?;
        self.connections(&mut e)?;
        self.web_requests(&mut e)?;
        self.store(&mut e)?;
        self.api(&mut e)
    }
}

/// Counters of `call::Stats` about event socket connections that did not become calls, and
/// recordings pivot deleted: name (without `_total`), help, the counter.
const CONNECTION_COUNTERS: [(&str, &str, Count); 9] = [
    (
        "pivot_esl_peers_refused",
        "Event socket connections closed at once: the peer is not in esl.allow.",
        |s| &s.peers_refused,
    ),
    (
        "pivot_calls_refused",
        "Calls refused because esl.max_calls calls were in progress.",
        |s| &s.calls_refused,
    ),
    (
        "pivot_esl_handshakes_evicted",
        "Connections closed before their connect reply: a newer one needed the slot (esl.max_handshaking).",
        |s| &s.handshakes_evicted,
    ),
    (
        "pivot_esl_handshake_timeouts",
        "Connections closed: no connect reply within esl.handshake_timeout_ms.",
        |s| &s.handshake_timeouts,
    ),
    (
        "pivot_calls_duplicate_refused",
        "Connections refused because a call in progress has their Unique-ID.",
        |s| &s.duplicate_calls,
    ),
    (
        "pivot_esl_probes",
        "Connections closed before they sent anything (TCP health checks).",
        |s| &s.probes,
    ),
    (
        "pivot_esl_foreign_events",
        "Events ignored because they named another channel than the call's.",
        |s| &s.foreign_events,
    ),
    (
        "pivot_recordings_deleted",
        "Recordings deleted after their upload (media.keep_recordings = false).",
        |s| &s.recordings_deleted,
    ),
    (
        "pivot_recordings_cleaned",
        "Leftover recordings deleted by the cleanup (media.recordings_max_age_secs).",
        |s| &s.recordings_cleaned,
    ),
];

impl Live {
    /// Connections that did not become calls, the read budget, recordings deleted.
    fn connections(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.engine.stats;
        for (name, help, count) in CONNECTION_COUNTERS {
            counter(e, name, help, load(count(s)))?;
        }
        counter(
            e,
            "pivot_esl_frame_timeouts",
            "Connections closed because a frame was not finished within esl.frame_timeout_ms.",
            load(&s.frame_timeouts),
        )?;
        let budget = &self.engine.read_budget;
        gauge(
            e,
            "pivot_esl_read_budget_used_bytes",
            "Bytes of unfinished event socket frames held from esl.read_budget_bytes.",
            budget.used() as u64,
        )?;
        counter(
            e,
            "pivot_esl_read_budget_refusals",
            "Connections closed because unfinished frames filled esl.read_budget_bytes.",
            budget.refusals(),
        )
    }

    /// Retries, fallbacks and the circuit breakers (`crate::pivot`).
    fn web_requests(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let http = &self.engine.http;
        counter(
            e,
            "pivot_request_retries",
            "Attempts made after a first one failed.",
            load(&http.stats.retries),
        )?;
        counter(
            e,
            "pivot_fallback_requests",
            "Requests asked of a fallback_url.",
            load(&http.stats.fallbacks),
        )?;
        let b = http.breaker_stats();
        counter(
            e,
            "pivot_requests_skipped",
            "Requests skipped because their host's circuit was open.",
            b.skipped,
        )?;
        counter(
            e,
            "pivot_circuits_opened",
            "Times a web app host's circuit opened.",
            b.opened,
        )?;
        gauge(
            e,
            "pivot_circuits_open",
            "Web app hosts whose circuit is open or waiting for its trial.",
            b.open_hosts.len() as u64,
        )?;
        let help = "1 for each web app host whose circuit is open (at most 100).";
        let mut m = e.encode_descriptor("pivot_circuit_open", help, None, MetricType::Gauge)?;
        for host in b.open_hosts.iter().take(MAX_OPEN_HOSTS) {
            let labels = [("host", host.as_str())];
            ConstGauge::new(1i64).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }

    fn store(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sink) = &self.engine.debug else {
            return Ok(());
        };
        let stats = sink.stats();
        for (name, help, value) in [
            (
                "pivot_debug_records_written",
                "Debug records written to the store.",
                stats.written,
            ),
            (
                "pivot_debug_records_dropped",
                "Debug records lost (queue full or database error).",
                stats.dropped_queue_full + stats.dropped_db_error,
            ),
            (
                "pivot_debug_records_dropped_queue_full",
                "Debug records dropped because the queue was full.",
                stats.dropped_queue_full,
            ),
            (
                "pivot_debug_records_dropped_db_error",
                "Debug records lost because the database refused them or could not be reached.",
                stats.dropped_db_error,
            ),
            (
                "pivot_debug_timelines_written",
                "Call timelines (debug calls) written to the store.",
                stats.timelines_written,
            ),
            (
                "pivot_debug_timelines_dropped",
                "Call timelines lost (queue full or database error).",
                stats.timelines_dropped,
            ),
        ] {
            counter(e, name, help, value)?;
        }
        gauge(
            e,
            "pivot_debug_store_available",
            "1 while the debug store takes writes, 0 while it refuses them or is unreachable.",
            u64::from(sink.status().available()),
        )
    }

    /// The REST API's connection counters.
    fn api(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let api = &self.api;
        gauge(
            e,
            "pivot_api_connections",
            "REST API connections open.",
            load(&api.open),
        )?;
        for (name, help, value) in [
            ("accepted", "REST API connections accepted.", &api.accepted),
            (
                "refused",
                "REST API connections closed at once (caps reached).",
                &api.refused,
            ),
            (
                "evicted",
                "REST API connections closed while sending their head, to make room.",
                &api.evicted,
            ),
            (
                "timed_out",
                "REST API connections closed by a deadline.",
                &api.timed_out,
            ),
            (
                "bad_heads",
                "REST API requests refused before routing (400, 414, 431).",
                &api.bad_heads,
            ),
        ] {
            let full = format!("pivot_api_connections_{name}");
            counter(e, &full, help, load(value))?;
        }
        Ok(())
    }
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// A counter; the encoder adds `_total` to `name`.
fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// A counter by `cause` (failure kinds, hangup causes: bounded sets, see `Labelled`).
fn labelled(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(String, u64)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (cause, n) in values {
        let labels = [("cause", cause.as_str())];
        ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::route::Router as Routes;

    fn scrape(engine: Engine) -> String {
        let registry = registry(Arc::new(engine), Arc::new(ConnStats::default()));
        let mut text = String::new();
        prometheus_text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn every_name_of_the_hand_written_format_is_still_served() {
        let engine = Engine::new(Config::default(), Routes::empty(), None).unwrap();
        engine.stats.calls_total.fetch_add(3, Ordering::Relaxed);
        engine.stats.outcomes.inc("NORMAL_CLEARING");
        engine
            .stats
            .request_latency
            .observe(std::time::Duration::from_millis(30));
        let text = scrape(engine);
        for line in [
            "# TYPE pivot_calls_total counter",
            "pivot_calls_total 3",
            "pivot_calls_active 0",
            "pivot_call_outcomes_total{cause=\"NORMAL_CLEARING\"} 1",
            "# TYPE pivot_request_duration_seconds histogram",
            "pivot_request_duration_seconds_bucket{le=\"0.05\"} 1",
            "pivot_request_duration_seconds_bucket{le=\"0.025\"} 0",
            "pivot_request_duration_seconds_count 1",
            "pivot_request_retries_total 0",
            "pivot_circuits_open 0",
            "pivot_api_connections_accepted_total 0",
            "pivot_esl_peers_refused_total 0",
            "pivot_calls_refused_total 0",
            "pivot_esl_read_budget_used_bytes 0",
            "pivot_esl_read_budget_refusals_total 0",
            "pivot_esl_frame_timeouts_total 0",
            "pivot_recordings_cleaned_total 0",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn per_account_series_are_labelled_and_capped() {
        let mut config = Config::default();
        config.api.metrics_max_accounts = 1;
        let engine = Engine::new(config, Routes::empty(), None).unwrap();
        let a = &engine.stats.accounts;
        for account in ["acc-1", "acc-2", "acc-3"] {
            let label = a.label(account);
            a.call(&label);
            a.request(&label);
            a.failure(&label, "timeout");
        }
        let text = scrape(engine);
        assert!(
            text.contains("pivot_account_calls_total{account=\"acc-1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("pivot_account_calls_total{account=\"other\"} 2"),
            "{text}"
        );
        assert!(text.contains(
            "pivot_account_request_failures_total{account=\"other\",kind=\"timeout\"} 2"
        ));
        assert!(!text.contains("acc-2"), "{text}");
    }
}
