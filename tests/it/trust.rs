//! The event socket is a trust boundary (docs/security.md): only the peers of `esl.allow`
//! get a word from pivot, and a connection cannot take over a call in progress by claiming
//! its Unique-ID.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::Pivot;
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::web::{Reply, WebApp};
use pivot::config::PeerAllowList;

/// Waits (bounded) for a condition the server reaches on its own.
pub async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn say(text: &str) -> Reply {
    Reply::json(&serde_json::json!({"module": "say", "data": {"text": text}}).to_string())
}

/// A TCP connection from `from` (any address of 127.0.0.0/8 works on Linux's loopback).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Everything the peer receives until pivot closes (bounded).
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got))
        .await
        .expect("pivot closes the connection")
        .unwrap_or_default();
    got
}

#[tokio::test]
async fn a_peer_outside_the_allow_list_is_closed_without_a_word() {
    let web = WebApp::start().await;
    web.script("/voice", [say("hello")]);
    let only_first = PeerAllowList::new(vec![PeerAllowList::entry("127.0.0.1").unwrap()]);
    let pivot = Pivot::start_with(
        move |c| c.esl.allow = only_first,
        pivot::route::Router::empty(),
    )
    .await;
    // Another host (here 127.0.0.2): no `connect`, nothing read, the socket closed.
    for _ in 0..3 {
        let mut stranger = connect_from([127, 0, 0, 2], pivot.esl).await;
        assert_eq!(read_to_close(&mut stranger).await, b"");
    }
    // Even one that speaks first, claiming a call's channel data.
    let mut talker = connect_from([127, 0, 0, 2], pivot.esl).await;
    let capture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/esl/full.fs-sent.raw"
    ))
    .unwrap();
    let _ = tokio::io::AsyncWriteExt::write_all(&mut talker, &capture[..4096]).await;
    assert_eq!(read_to_close(&mut talker).await, b"");
    // FreeSWITCH (127.0.0.1) is served as ever.
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    assert_eq!(t.app_names(), ["speak"], "{t}");
    let stats = &pivot.engine.stats;
    assert_eq!(stats.peers_refused.load(Ordering::SeqCst), 4);
    assert_eq!(stats.calls_total.load(Ordering::SeqCst), 1);
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 0);
    assert_eq!(
        web.requests_to("/voice").len(),
        1,
        "strangers asked nothing"
    );
    let metrics = reqwest::get(pivot.api_url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("pivot_esl_peers_refused_total 4"),
        "{metrics}"
    );
    pivot.stop().await;
}

#[tokio::test]
async fn a_second_connection_for_a_live_call_is_refused() {
    let web = WebApp::start().await;
    web.script("/voice", [say("hello")]);
    web.script("/forged", [say("forged")]);
    let pivot = Pivot::start().await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .var("pivot_debug", "true")
        .app("speak", AppScript::new(Duration::from_secs(30), "_none_"));
    let live = FakeFs::connect(pivot.esl, call).await;
    live.wait_for_app_start("speak").await;
    // A peer claiming the same Unique-ID, with its own URL and debug on: refused at once
    // (`connect` then `exit`), and it never reaches a web app or the call's debug log.
    let forged = FakeCall::new()
        .uuid(live.uuid())
        .var("pivot_voice_url", &web.url("/forged"))
        .var("pivot_debug", "true");
    let t = FakeFs::connect(pivot.esl, forged).await.finish().await;
    let lines: Vec<&str> = t.frames.iter().map(|f| f.line()).collect();
    assert_eq!(lines, ["connect", "exit"], "{t}");
    assert!(web.requests_to("/forged").is_empty());
    let stats = &pivot.engine.stats;
    assert_eq!(stats.duplicate_calls.load(Ordering::SeqCst), 1);
    // The live call goes on untouched.
    live.hangup_now();
    let t = live.finish().await;
    assert_eq!(t.app_names(), ["speak"], "{t}");
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 0);
    pivot.stop().await;
}

#[tokio::test]
async fn a_unique_id_is_free_again_once_its_call_ended() {
    // The same channel may run `socket` again later (a transfer back into pivot): only a
    // live call's id is refused (docs/security.md, "Debug records and Unique-IDs").
    let web = WebApp::start().await;
    web.script("/voice", [say("first"), say("again")]);
    let pivot = Pivot::start().await;
    let first = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let uuid = first.uuid.clone();
    let t = FakeFs::connect(pivot.esl, first).await.finish().await;
    assert_eq!(t.app_names(), ["speak"], "{t}");
    let live = &pivot.engine.live;
    wait_for("the first call's task to end", || live.is_empty()).await;
    let again = FakeCall::new()
        .uuid(&uuid)
        .var("pivot_voice_url", &web.url("/voice"));
    let t = FakeFs::connect(pivot.esl, again).await.finish().await;
    assert_eq!(t.app_names(), ["speak"], "{t}");
    assert_eq!(pivot.engine.stats.duplicate_calls.load(Ordering::SeqCst), 0);
    pivot.stop().await;
}

/// The docker lab's pivot takes FreeSWITCH's container (its fixed address in
/// docker-compose.yml) and nobody else; check-config.py checks the compose side.
#[test]
fn the_labs_pivot_takes_the_freeswitch_container_only() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/freeswitch-conf/pivot.toml");
    let c = pivot::config::Config::load(path.as_ref()).unwrap();
    let allows = |ip: &str| c.esl.allow.allows(ip.parse().unwrap());
    assert!(allows("10.84.0.10"));
    assert!(!allows("10.84.0.11"), "the web app's container, say");
    assert!(!allows("127.0.0.1"));
}
