//! `GET /metrics` in the Prometheus text format, read from the engine's counters. Owns the
//! metric names; counting happens where things happen.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::call::Engine;

pub fn router(engine: Arc<Engine>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let engine = engine.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4")],
                    render(&engine),
                )
                    .into_response()
            }
        }),
    )
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
    if let Some(sink) = &engine.debug {
        let written = sink.written();
        let dropped = sink.dropped();
        metric(
            o,
            "pivot_debug_records_written_total",
            "counter",
            "Debug records written to SQLite.",
            written,
        );
        metric(
            o,
            "pivot_debug_records_dropped_total",
            "counter",
            "Debug records lost (queue full or database error).",
            dropped,
        );
    }
    out
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
