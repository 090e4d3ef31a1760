//! Connections that never answer `connect` cannot starve real calls: they have their own
//! cap (`esl.max_handshaking`, the oldest gives way to the newest) and deadline
//! (`esl.handshake_timeout_ms`), and they are not failed calls.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::harness::Pivot;
use crate::support::fake_fs::{FakeCall, FakeFs};
use crate::support::web::{Reply, WebApp};
use crate::trust::wait_for;

fn say(text: &str) -> Reply {
    Reply::json(&serde_json::json!({"module": "say", "data": {"text": text}}).to_string())
}

/// A peer that connects, reads pivot's `connect`, and then says nothing.
async fn idle(pivot: &Pivot) -> TcpStream {
    let mut s = TcpStream::connect(pivot.esl).await.unwrap();
    let mut buf = [0u8; 9];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"connect\n\n");
    s
}

/// What pivot sends until it closes (bounded).
async fn rest(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got))
        .await
        .expect("pivot closes the connection")
        .unwrap_or_default();
    got
}

#[tokio::test]
async fn a_connection_that_never_answers_connect_is_closed_at_its_deadline() {
    let timeout = Duration::from_secs(3);
    let pivot = Pivot::start_with(
        move |c| c.esl.handshake_timeout = timeout,
        pivot::route::Router::empty(),
    )
    .await;
    let mut silent = idle(&pivot).await;
    // Time jumps past the deadline (the paused clock: no waiting for it).
    tokio::time::pause();
    tokio::time::advance(timeout + Duration::from_millis(1)).await;
    tokio::time::resume();
    assert_eq!(rest(&mut silent).await, b"exit\n\n");
    let stats = &pivot.engine.stats;
    wait_for("the connection's task to end", || {
        stats.calls_active.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(stats.handshake_timeouts.load(Ordering::SeqCst), 1);
    // Not a call, so not a failed one.
    assert_eq!(stats.calls_total.load(Ordering::SeqCst), 0);
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 0);
    assert_eq!(stats.protocol_errors.load(Ordering::SeqCst), 0);
    pivot.stop().await;
}

#[tokio::test]
async fn the_oldest_handshake_gives_way_to_a_new_connection() {
    let web = WebApp::start().await;
    web.script("/voice", [say("hello")]);
    let pivot =
        Pivot::start_with(|c| c.esl.max_handshaking = 2, pivot::route::Router::empty()).await;
    let mut first = idle(&pivot).await;
    let mut second = idle(&pivot).await;
    // A third idle connection: the first is given up (`exit`, closed), the second stays.
    let third = idle(&pivot).await;
    assert_eq!(rest(&mut first).await, b"exit\n\n");
    // A real call: the second idle one gives way and the call runs to its end.
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    assert_eq!(t.app_names(), ["speak"], "{t}");
    assert_eq!(rest(&mut second).await, b"exit\n\n");
    let stats = &pivot.engine.stats;
    assert_eq!(stats.handshakes_evicted.load(Ordering::SeqCst), 2);
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 0);
    drop(third);
    pivot.stop().await;
}

#[tokio::test]
async fn a_health_check_that_resets_the_connection_is_not_a_failed_call() {
    let pivot = Pivot::start().await;
    // A TCP check that connects and resets (it never reads pivot's `connect`, so the
    // kernel sends a reset, not a clean close).
    let check = idle(&pivot).await;
    check.set_zero_linger().unwrap();
    drop(check);
    let stats = &pivot.engine.stats;
    wait_for("the check's task to end", || {
        stats.probes.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 0);
    assert_eq!(stats.protocol_errors.load(Ordering::SeqCst), 0);
    pivot.stop().await;
}

/// Opens `idle` connections that never answer `connect`, then places `calls` real calls
/// while they are held. Returns how long the calls took.
async fn flood(pivot: &Pivot, web: &WebApp, idle: usize, calls: usize) -> Duration {
    let mut held = Vec::with_capacity(idle);
    for _ in 0..idle {
        held.push(TcpStream::connect(pivot.esl).await.unwrap());
    }
    let url = web.url("/voice");
    let started = Instant::now();
    let done = pivot
        .calls_at_once(calls, || FakeCall::new().var("pivot_voice_url", &url))
        .await;
    let took = started.elapsed();
    for t in &done {
        assert_eq!(t.app_names(), ["speak"], "{t}");
        assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"), "{t}");
    }
    drop(held);
    took
}

#[tokio::test]
async fn real_calls_complete_during_a_flood_of_idle_connections() {
    let web = WebApp::start().await;
    web.script("/voice", [say("hello")]);
    let pivot = Pivot::start_with(
        |c| {
            c.esl.max_handshaking = 20;
            c.esl.max_calls = 100;
        },
        pivot::route::Router::empty(),
    )
    .await;
    // More idle connections than call slots: without the handshake cap they would hold
    // every slot and the calls below would be refused.
    flood(&pivot, &web, 300, 20).await;
    let stats = &pivot.engine.stats;
    assert_eq!(stats.calls_total.load(Ordering::SeqCst), 20);
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 0);
    assert!(stats.handshakes_evicted.load(Ordering::SeqCst) >= 280);
    pivot.stop().await;
}

/// The measurement in docs/security.md ("Calls during a flood of idle connections"):
/// `PIVOT_FLOOD_IDLE` idle connections (default 2000) with the default caps, then
/// `PIVOT_FLOOD_CALLS` real calls (default 200). Run with
/// `cargo test --release --test it flood_measure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: prints its numbers"]
async fn flood_measure() {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (idle, calls) = (env("PIVOT_FLOOD_IDLE", 2000), env("PIVOT_FLOOD_CALLS", 200));
    // Both ends of every connection are in this process.
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(
        limit as usize > 2 * idle + 4 * calls + 256,
        "open-file limit {limit}"
    );
    let web = WebApp::start().await;
    web.script("/voice", [say("hello")]);
    let pivot = Pivot::start_with(
        |c| c.esl.max_handshaking = pivot::config::Config::default().esl.max_handshaking,
        pivot::route::Router::empty(),
    )
    .await;
    let took = flood(&pivot, &web, idle, calls).await;
    let s = &pivot.engine.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
    println!(
        "idle connections: {idle}, real calls: {calls}, all completed in {took:?}; \
         calls_total {}, calls_failed {}, calls_refused {}, handshakes_evicted {}, \
         handshake_timeouts {}",
        load(&s.calls_total),
        load(&s.calls_failed),
        load(&s.calls_refused),
        load(&s.handshakes_evicted),
        load(&s.handshake_timeouts),
    );
    pivot.stop().await;
}
