//! `GET /metrics` in the Prometheus text format, read from the engine's counters. Owns the
//! metric names; counting happens where things happen.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::api::ConnStats;
use crate::call::Engine;

pub fn router(engine: Arc<Engine>, api: Arc<ConnStats>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let (engine, api) = (engine.clone(), api.clone());
            async move {
                let mut text = render(&engine);
                render_api(&mut text, &api);
                ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
            }
        }),
    )
}

/// The REST API's connection counters.
fn render_api(o: &mut String, api: &ConnStats) {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    metric(
        o,
        "pivot_api_connections",
        "gauge",
        "REST API connections open.",
        load(&api.open),
    );
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
        let full = format!("pivot_api_connections_{name}_total");
        metric(o, &full, "counter", help, load(value));
    }
}

/// The metrics as Prometheus text.
pub fn render(engine: &Engine) -> String {
    let s = &engine.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    let o = &mut out;
    metric(
        o,
        "pivot_calls_active",
        "gauge",
        "Calls in progress.",
        load(&s.calls_active),
    );
    metric(
        o,
        "pivot_calls_total",
        "counter",
        "Calls accepted.",
        load(&s.calls_total),
    );
    metric(
        o,
        "pivot_calls_failed_total",
        "counter",
        "Calls that ended on an event socket error.",
        load(&s.calls_failed),
    );
    metric(
        o,
        "pivot_requests_total",
        "counter",
        "Requests sent to web apps.",
        load(&s.requests),
    );
    metric(
        o,
        "pivot_failbacks_total",
        "counter",
        "Requests that failed and took the failback.",
        load(&s.failbacks),
    );
    metric(
        o,
        "pivot_esl_protocol_errors_total",
        "counter",
        "Event socket protocol errors.",
        load(&s.protocol_errors),
    );
    connections(o, engine);
    let by_cause = s.failbacks_by_cause.snapshot();
    labelled(
        o,
        "pivot_failbacks_by_cause_total",
        "Failbacks by failure kind.",
        &by_cause,
    );
    let outcomes = s.outcomes.snapshot();
    labelled(
        o,
        "pivot_call_outcomes_total",
        "Ended calls by hangup cause.",
        &outcomes,
    );
    histogram(o, engine);
    web_requests(o, engine);
    if let Some(sink) = &engine.debug {
        let stats = sink.stats();
        metric(
            o,
            "pivot_debug_records_written_total",
            "counter",
            "Debug records written to the store.",
            stats.written,
        );
        metric(
            o,
            "pivot_debug_records_dropped_total",
            "counter",
            "Debug records lost (queue full or database error).",
            stats.dropped_queue_full + stats.dropped_db_error,
        );
        metric(
            o,
            "pivot_debug_records_dropped_queue_full_total",
            "counter",
            "Debug records dropped because the queue was full.",
            stats.dropped_queue_full,
        );
        metric(
            o,
            "pivot_debug_records_dropped_db_error_total",
            "counter",
            "Debug records lost because the database refused them or could not be reached.",
            stats.dropped_db_error,
        );
        metric(
            o,
            "pivot_debug_store_available",
            "gauge",
            "1 while the debug store takes writes, 0 while it refuses them or is unreachable.",
            u64::from(sink.status().available()),
        );
    }
    out
}

/// Event socket connections that did not become calls, and recordings pivot deleted.
fn connections(o: &mut String, engine: &Engine) {
    let s = &engine.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let counters = [
        (
            "pivot_esl_peers_refused_total",
            "Event socket connections closed at once: the peer is not in esl.allow.",
            &s.peers_refused,
        ),
        (
            "pivot_calls_refused_total",
            "Calls refused because esl.max_calls calls were in progress.",
            &s.calls_refused,
        ),
        (
            "pivot_esl_handshakes_evicted_total",
            "Connections closed before their connect reply: a newer one needed the slot (esl.max_handshaking).",
            &s.handshakes_evicted,
        ),
        (
            "pivot_esl_handshake_timeouts_total",
            "Connections closed: no connect reply within esl.handshake_timeout_ms.",
            &s.handshake_timeouts,
        ),
        (
            "pivot_calls_duplicate_refused_total",
            "Connections refused because a call in progress has their Unique-ID.",
            &s.duplicate_calls,
        ),
        (
            "pivot_esl_probes_total",
            "Connections closed before they sent anything (TCP health checks).",
            &s.probes,
        ),
        (
            "pivot_esl_foreign_events_total",
            "Events ignored because they named another channel than the call's.",
            &s.foreign_events,
        ),
        (
            "pivot_recordings_deleted_total",
            "Recordings deleted after their upload (media.keep_recordings = false).",
            &s.recordings_deleted,
        ),
        (
            "pivot_recordings_cleaned_total",
            "Leftover recordings deleted by the cleanup (media.recordings_max_age_secs).",
            &s.recordings_cleaned,
        ),
    ];
    for (name, help, counter) in counters {
        metric(o, name, "counter", help, load(counter));
    }
    let budget = &engine.read_budget;
    metric(
        o,
        "pivot_esl_read_budget_used_bytes",
        "gauge",
        "Bytes of unfinished event socket frames held from esl.read_budget_bytes.",
        budget.used() as u64,
    );
    metric(
        o,
        "pivot_esl_read_budget_refusals_total",
        "counter",
        "Connections closed because unfinished frames filled esl.read_budget_bytes.",
        budget.refusals(),
    );
    metric(
        o,
        "pivot_esl_frame_timeouts_total",
        "counter",
        "Connections closed because a frame was not finished within esl.frame_timeout_ms.",
        load(&s.frame_timeouts),
    );
}

/// Retries, fallbacks and the circuit breakers (`crate::pivot`).
fn web_requests(o: &mut String, engine: &Engine) {
    let http = &engine.http;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    metric(
        o,
        "pivot_request_retries_total",
        "counter",
        "Attempts made after a first one failed.",
        load(&http.stats.retries),
    );
    metric(
        o,
        "pivot_fallback_requests_total",
        "counter",
        "Requests asked of a fallback_url.",
        load(&http.stats.fallbacks),
    );
    let b = http.breaker_stats();
    metric(
        o,
        "pivot_requests_skipped_total",
        "counter",
        "Requests skipped because their host's circuit was open.",
        b.skipped,
    );
    metric(
        o,
        "pivot_circuits_opened_total",
        "counter",
        "Times a web app host's circuit opened.",
        b.opened,
    );
    let open = b.open_hosts.len() as u64;
    metric(
        o,
        "pivot_circuits_open",
        "gauge",
        "Web app hosts whose circuit is open or waiting for its trial.",
        open,
    );
    let name = "pivot_circuit_open";
    let _ = writeln!(
        o,
        "# HELP {name} 1 for each web app host whose circuit is open (at most 100).\n# TYPE {name} gauge"
    );
    for host in b.open_hosts.iter().take(100) {
        let h = host.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(o, "{name}{{host=\"{h}\"}} 1");
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn labelled(out: &mut String, name: &str, help: &str, values: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, n) in values {
        // Label values come from closed sets (failure kinds, hangup causes); escape anyway.
        let v = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', " ");
        let _ = writeln!(out, "{name}{{cause=\"{v}\"}} {n}");
    }
}

fn histogram(out: &mut String, engine: &Engine) {
    let (buckets, sum, count) = engine.stats.request_latency.snapshot();
    let name = "pivot_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time to get an answer from the web app.\n# TYPE {name} histogram"
    );
    for (bound, n) in buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
    );
}
