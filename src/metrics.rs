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
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "pivot_calls_active",
        "gauge",
        "Calls in progress.",
        s.calls_active.load(Ordering::Relaxed),
    );
    metric(
        "pivot_calls_total",
        "counter",
        "Calls accepted.",
        s.calls_total.load(Ordering::Relaxed),
    );
    metric(
        "pivot_calls_failed_total",
        "counter",
        "Calls that ended on an event socket error.",
        s.calls_failed.load(Ordering::Relaxed),
    );
    metric(
        "pivot_requests_total",
        "counter",
        "Requests sent to web apps.",
        s.requests.load(Ordering::Relaxed),
    );
    metric(
        "pivot_failbacks_total",
        "counter",
        "Requests that failed and took the failback.",
        s.failbacks.load(Ordering::Relaxed),
    );
    metric(
        "pivot_esl_protocol_errors_total",
        "counter",
        "Event socket protocol errors.",
        s.protocol_errors.load(Ordering::Relaxed),
    );
    if let Some(sink) = &engine.debug {
        metric(
            "pivot_debug_records_written_total",
            "counter",
            "Debug records written to SQLite.",
            sink.written(),
        );
        metric(
            "pivot_debug_records_dropped_total",
            "counter",
            "Debug records lost (queue full or database error).",
            sink.dropped(),
        );
    }
    out
}
