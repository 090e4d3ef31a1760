//! Retries, the fallback URL and the circuit breaker (issue 13), through the fake
//! FreeSWITCH and a scripted web app: each safe failure is retried and nothing else (unless
//! `#rp` says so), the total budget stops the retries, the fallback URL learns why and its
//! flow runs, an open circuit skips requests until a good trial.

use std::time::Duration;

use serde_json::json;

use crate::harness::Pivot;
use crate::support::debug_api::{login, records, records_until};
use crate::support::scenario::{call_to, debug_call, failure, run, say, spoken};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, WebApp};
use pivot::config::Config;
use pivot::route::Router;

/// A listener that never accepts: the TCP handshake completes in the kernel and nothing
/// more comes, so an https URL stalls in its TLS handshake (a connect timeout) and an http
/// URL waits for its answer (a read timeout).
fn silent() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// The attempt numbers of the call's request records, and its final failure kind.
async fn attempts(pivot: &Pivot, t: &Transcript, n: usize) -> Vec<u32> {
    let token = login(pivot).await;
    let recs = records(pivot, &token, &t.uuid, n).await;
    recs.iter()
        .filter_map(|r| r["req_headers"]["X-Pivot-Attempt"].as_str())
        .map(|a| a.parse().unwrap())
        .collect()
}

#[tokio::test]
async fn each_safe_failure_is_retried() {
    let web = WebApp::start().await;
    for status in [502, 503, 504] {
        let path = format!("/s{status}");
        web.script(&path, [Reply::status(status), say("second time lucky")]);
    }
    let pivot = Pivot::start().await;
    for status in [502, 503, 504] {
        let t = run(&pivot, call_to(&web.url(&format!("/s{status}")))).await;
        assert_eq!(spoken(&t), ["second time lucky"], "{status}\n{t}");
        let reqs = web.requests_to(&format!("/s{status}"));
        let numbers: Vec<_> = reqs.iter().map(|r| r.header("x-pivot-attempt")).collect();
        assert_eq!(numbers, [Some("1"), Some("2")], "{status}");
    }
    // Connection refused, and a connect timeout (a TLS handshake that never finishes).
    let refused = WebApp::refused_url("/x#rc=2");
    let (_silent, port) = silent();
    let stalled = format!("https://127.0.0.1:{port}/x#ct=100&rc=2");
    for (url, kind) in [(refused, "connect"), (stalled, "connect_timeout")] {
        let t = run(&pivot, debug_call(&url)).await;
        assert!(failure(&t).starts_with(&format!("{kind}: ")), "{t}");
        assert_eq!(attempts(&pivot, &t, 6).await, [1, 2, 3], "{kind}");
    }
    let retries = pivot
        .engine
        .http
        .stats
        .retries
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(retries, 3 + 2 + 2);
    pivot.stop().await;
}

#[tokio::test]
async fn other_failures_are_not_retried_unless_rp_says_so() {
    let web = WebApp::start().await;
    let (_silent, port) = silent();
    let cases = [
        ("/e500", Reply::status(500), "http_status"),
        ("/e404", Reply::status(404), "http_status"),
        ("/bad", Reply::json("{\"module\": "), "invalid_flow"),
        ("/empty", Reply::json(""), "empty_body"),
    ];
    for (path, reply, _) in &cases {
        web.script(path, [reply.clone(), say("never")]);
    }
    let pivot = Pivot::start().await;
    for (path, _, kind) in &cases {
        let t = run(&pivot, call_to(&web.url(&format!("{path}#rc=3")))).await;
        assert!(failure(&t).starts_with(&format!("{kind}: ")), "{path}: {t}");
        assert_eq!(web.requests_to(path).len(), 1, "{path}");
    }
    let read_timeout = format!("http://127.0.0.1:{port}/x#rt=100&rc=3");
    let t = run(&pivot, debug_call(&read_timeout)).await;
    assert!(failure(&t).starts_with("timeout: "), "{t}");
    assert_eq!(
        attempts(&pivot, &t, 2).await,
        [1],
        "the web app may have acted"
    );
    let dns = "http://pivot-test.invalid/x#rc=3";
    let t = run(&pivot, debug_call(dns)).await;
    assert!(failure(&t).starts_with("dns: "), "{t}");
    assert_eq!(attempts(&pivot, &t, 2).await, [1]);

    // `#rp` widens it: every 5xx, read timeouts.
    web.script("/wide500", [Reply::status(500), say("retried a 500")]);
    let t = run(&pivot, call_to(&web.url("/wide500#rp=5xx"))).await;
    assert_eq!(spoken(&t), ["retried a 500"], "{t}");
    let widened = format!("http://127.0.0.1:{port}/x#rt=100&rc=1&rp=rt");
    let t = run(&pivot, debug_call(&widened)).await;
    assert_eq!(attempts(&pivot, &t, 4).await, [1, 2]);
    pivot.stop().await;
}

#[tokio::test]
async fn the_total_budget_stops_the_retries() {
    // Each attempt waits its whole connect timeout (300 ms), the waits are at least 50 ms:
    // within a total of 1000 ms at most three attempts can start, although five retries
    // are allowed.
    let (_silent, port) = silent();
    let url = format!("https://127.0.0.1:{port}/x#ct=300&tt=1000&rc=5");
    let pivot = Pivot::start().await;
    let t = run(&pivot, debug_call(&url)).await;
    let f = failure(&t);
    assert!(
        f.starts_with("connect_timeout: ") || f.starts_with("timeout: "),
        "{f}"
    );
    let token = login(&pivot).await;
    let recs = records_until(&pivot, &token, &t.uuid, |recs| {
        let last = recs.last().and_then(|r| r["error_message"].as_str());
        last.is_some_and(|m| !m.contains("retrying in"))
    })
    .await;
    let made: Vec<&str> = recs
        .iter()
        .filter_map(|r| r["req_headers"]["X-Pivot-Attempt"].as_str())
        .collect();
    assert!(!made.is_empty() && made.len() <= 3, "{made:?}");
    assert_eq!(made, ["1", "2", "3"][..made.len()]);
    pivot.stop().await;
}

#[tokio::test]
async fn the_fallback_url_learns_why_and_its_flow_runs() {
    let web = WebApp::start().await;
    web.script("/primary", [Reply::status(500)]);
    web.script("/fallback", [say("from the fallback")]);
    let node = |fallback: &str| {
        json!({
            "module": "pivot",
            "data": {"voice_url": web.url("/primary?a=1#rc=0"), "fallback_url": fallback,
                     "method": "post"},
            "children": {"_": {"module": "say", "data": {"text": "failback"}}}
        })
        .to_string()
    };
    web.script("/entry", [Reply::json(&node(&web.url("/fallback")))]);
    let pivot = Pivot::start().await;
    let t = run(&pivot, call_to(&web.url("/entry"))).await;
    assert_eq!(spoken(&t), ["from the fallback"], "{t}");
    let asked = &web.requests_to("/fallback")[0];
    let param = |k: &str| asked.param(k);
    assert_eq!(param("ErrorCode").as_deref(), Some("11200"));
    assert_eq!(param("ErrorKind").as_deref(), Some("http_status"));
    assert_eq!(param("ErrorUrl"), Some(web.url("/primary?a=1")));
    assert_eq!(
        param("Call-ID"),
        Some(t.uuid.clone()),
        "the same parameters"
    );
    assert_eq!(asked.method, "POST");

    // Only when the fallback fails too does the failback run.
    web.script("/down", [Reply::status(503)]);
    web.script("/entry2", [Reply::json(&node(&web.url("/down#rc=0")))]);
    let t = run(&pivot, call_to(&web.url("/entry2"))).await;
    assert_eq!(spoken(&t), ["failback"], "{t}");
    let f = failure(&t);
    assert!(f.starts_with("http_status: "), "{f}");
    assert!(f.contains("fallback_url failed too: http_status"), "{f}");
    pivot.stop().await;
}

#[tokio::test]
async fn an_open_circuit_skips_requests_and_a_good_trial_closes_it() {
    let web = WebApp::start().await;
    web.script(
        "/flaky",
        [Reply::status(500), Reply::status(500), say("back")],
    );
    let breaker = |c: &mut Config| {
        c.http.breaker.failures = 2;
        c.http.breaker.cooldown = Duration::from_secs(60);
    };
    let pivot = Pivot::start_with(breaker, Router::empty()).await;
    for _ in 0..2 {
        let t = run(&pivot, call_to(&web.url("/flaky"))).await;
        assert!(failure(&t).starts_with("http_status: "), "{t}");
    }
    // Open: the request is not sent, the failback runs at once.
    let t = run(&pivot, debug_call(&web.url("/flaky"))).await;
    assert!(
        failure(&t).starts_with("circuit_open: skipped: circuit open for 127.0.0.1:"),
        "{t}"
    );
    assert_eq!(web.requests_to("/flaky").len(), 2);
    let token = login(&pivot).await;
    let recs = records(&pivot, &token, &t.uuid, 2).await;
    assert_eq!(recs[1]["error_kind"], "circuit_open", "{recs:#?}");
    let skipped = recs[1]["error_message"].as_str().unwrap();
    assert!(skipped.starts_with("skipped: circuit open"), "{skipped}");
    let metrics = reqwest::get(pivot.api_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("pivot_requests_skipped_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pivot_circuits_open 1"), "{metrics}");
    let host = format!(
        "pivot_circuit_open{{host=\"127.0.0.1:{}\"}} 1",
        web.addr().port()
    );
    assert!(metrics.contains(&host), "{metrics}");

    // After the cooldown one trial goes through; its answer closes the circuit.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    tokio::time::resume();
    let t = run(&pivot, call_to(&web.url("/flaky"))).await;
    assert_eq!(spoken(&t), ["back"], "{t}");
    let t = run(&pivot, call_to(&web.url("/flaky"))).await;
    assert_eq!(spoken(&t), ["back"], "closed again\n{t}");
    let stats = pivot.engine.http.breaker_stats();
    assert!(stats.open_hosts.is_empty());
    assert_eq!((stats.opened, stats.skipped), (1, 1));
    pivot.stop().await;
}
