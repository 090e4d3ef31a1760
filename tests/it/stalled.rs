//! A peer that stops in the middle of a frame pins what it sent: at most until
//! `esl.frame_timeout_ms`, and all such peers together at most `esl.read_budget_bytes`
//! (docs/security.md, "Resources and their bounds").

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::Pivot;
use crate::support::web::{Reply, WebApp};
use crate::trust::wait_for;

/// A peer past its handshake: it answered `connect` with a channel of its own.
async fn answered(pivot: &Pivot, uuid: &str, url: &str) -> TcpStream {
    let mut s = TcpStream::connect(pivot.esl).await.unwrap();
    let mut buf = [0u8; 9];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"connect\n\n");
    let reply = format!(
        "Event-Name: CHANNEL_DATA\nUnique-ID: {uuid}\nAnswer-State: ringing\n\
         variable_pivot_voice_url: {url}\nContent-Type: command/reply\nReply-Text: %2BOK\n\
         Socket-Mode: async\nControl: full\n\n"
    );
    s.write_all(reply.as_bytes()).await.unwrap();
    s
}

/// The head of a log frame announcing `len` body bytes, and `sent` of them.
fn begun_frame(len: usize, sent: usize) -> Vec<u8> {
    let mut wire = format!("Content-Type: log/data\nContent-Length: {len}\n\n").into_bytes();
    wire.resize(wire.len() + sent, b'x');
    wire
}

/// Reads until pivot closes the connection (bounded).
async fn closed(stream: &mut TcpStream) {
    let mut sink = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut sink))
        .await
        .expect("pivot closes the connection")
        .ok();
}

async fn metrics(pivot: &Pivot) -> String {
    let response = reqwest::get(pivot.api_url("/metrics")).await.unwrap();
    response.text().await.unwrap()
}

fn quiet_web() -> Reply {
    // The web app takes its time: the session only reads the socket meanwhile.
    Reply::json(r#"{"module": "say", "data": {"text": "hello"}}"#).delay(Duration::from_secs(30))
}

#[tokio::test]
async fn a_frame_left_unfinished_is_given_up_at_its_deadline() {
    let web = WebApp::start().await;
    web.script("/voice", [quiet_web()]);
    let pivot = Pivot::start_with(
        |c| {
            c.esl.frame_timeout = Duration::from_millis(300);
            c.esl.reply_timeout = Duration::from_secs(60);
        },
        pivot::route::Router::empty(),
    )
    .await;
    let mut peer = answered(&pivot, "stalled-1", &web.url("/voice")).await;
    // 600 KB of a 1 MB frame, and then nothing: pivot must not hold them for ever.
    peer.write_all(&begun_frame(1_000_000, 600_000))
        .await
        .unwrap();
    closed(&mut peer).await;
    let stats = &pivot.engine.stats;
    wait_for("the call to end", || {
        stats.calls_active.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(stats.frame_timeouts.load(Ordering::SeqCst), 1);
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 1);
    assert_eq!(
        pivot.engine.read_budget.used(),
        0,
        "its bytes are given back"
    );
    let metrics = metrics(&pivot).await;
    assert!(
        metrics.contains("pivot_esl_frame_timeouts_total 1"),
        "{metrics}"
    );
    pivot.stop().await;
}

#[tokio::test]
async fn unfinished_frames_share_one_budget_and_the_peer_past_it_is_closed() {
    let web = WebApp::start().await;
    web.script("/voice", [quiet_web(), quiet_web()]);
    let pivot = Pivot::start_with(
        |c| {
            c.esl.max_frame_bytes = 1 << 20;
            c.esl.read_budget_bytes = 1 << 20;
            c.esl.frame_timeout = Duration::from_secs(60);
            c.esl.reply_timeout = Duration::from_secs(60);
        },
        pivot::route::Router::empty(),
    )
    .await;
    let budget = pivot.engine.read_budget.clone();
    let url = web.url("/voice");
    let mut first = answered(&pivot, "stalled-a", &url).await;
    let mut second = answered(&pivot, "stalled-b", &url).await;
    // The first peer holds 700 KB of a frame: most of the budget.
    first
        .write_all(&begun_frame(800_000, 700_000))
        .await
        .unwrap();
    wait_for("the first peer's bytes to be taken from the budget", || {
        budget.used() >= 700_000 - pivot::esl::FREE_BYTES
    })
    .await;
    // The second cannot have as much: it is closed, the first goes on.
    second
        .write_all(&begun_frame(800_000, 700_000))
        .await
        .unwrap();
    closed(&mut second).await;
    assert_eq!(budget.refusals(), 1);
    assert!(budget.used() <= budget.total());
    // The first peer finishes its frame: its bytes come back, and the call is alive (its
    // next frame is read).
    first.write_all(&vec![b'x'; 100_000]).await.unwrap();
    wait_for("the finished frame's bytes to come back", || {
        budget.used() == 0
    })
    .await;
    let stats = &pivot.engine.stats;
    assert_eq!(stats.calls_active.load(Ordering::SeqCst), 1);
    let metrics = metrics(&pivot).await;
    assert!(
        metrics.contains("pivot_esl_read_budget_refusals_total 1"),
        "{metrics}"
    );
    drop(first);
    wait_for("the first call to end", || {
        stats.calls_active.load(Ordering::SeqCst) == 0
    })
    .await;
    pivot.stop().await;
}

/// One counter or gauge from `/metrics` text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// Peers that each send all but the last byte of a 16 MiB frame and hold it, against a
/// `pivot serve` process; prints its resident memory. `read_budget_bytes`: the budget under
/// test (a huge one stands for "no budget").
async fn stalled_frames_rss(peers: usize, read_budget_bytes: u64) -> (u64, u64, u64, u64) {
    use crate::harness::Node;
    let web = WebApp::start().await;
    web.script("/voice", (0..peers).map(|_| quiet_web()));
    let dir = tempfile::tempdir().unwrap();
    let store = format!("path = \"{}\"", dir.path().join("pivot.db").display());
    let config = Node::config("stall", &store).replace(
        "hangup_wait_ms = 2000\n",
        &format!(
            "hangup_wait_ms = 2000\nframe_timeout_ms = 600000\nreply_timeout_ms = 600000\n\
             read_budget_bytes = {read_budget_bytes}\n"
        ),
    );
    let path = dir.path().join("pivot.toml");
    std::fs::write(&path, config).unwrap();
    let node = Node::start(&path).await;
    let before = node.rss_kib().unwrap();
    let esl = node.esl;
    let url = web.url("/voice");
    let body = (16 << 20) - 1;
    let frame = std::sync::Arc::new(begun_frame(16 << 20, body));
    let mut held = Vec::new();
    for i in 0..peers {
        let mut s = TcpStream::connect(esl).await.unwrap();
        let mut buf = [0u8; 9];
        s.read_exact(&mut buf).await.unwrap();
        let reply = format!(
            "Event-Name: CHANNEL_DATA\nUnique-ID: stall-{i}\nAnswer-State: ringing\n\
             variable_pivot_voice_url: {url}\nContent-Type: command/reply\n\
             Reply-Text: %2BOK\nSocket-Mode: async\nControl: full\n\n"
        );
        s.write_all(reply.as_bytes()).await.unwrap();
        let frame = frame.clone();
        held.push(tokio::spawn(async move {
            // A refused peer is closed while it writes: its error is expected.
            let _ = s.write_all(&frame).await;
            s
        }));
    }
    let mut streams = Vec::new();
    for h in held {
        streams.push(h.await.unwrap());
    }
    // Every peer's bytes are in pivot: each one holds its frame, or was closed.
    let per_peer = (frame.len() - pivot::esl::FREE_BYTES) as u64;
    let api = node.api_url("/metrics");
    let mut text = String::new();
    for _ in 0..6000 {
        text = reqwest::get(&api).await.unwrap().text().await.unwrap();
        let used = metric(&text, "pivot_esl_read_budget_used_bytes");
        let refused = metric(&text, "pivot_esl_read_budget_refusals_total");
        if used == (peers as u64 - refused) * per_peer {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = node.rss_kib().unwrap();
    let refused = metric(&text, "pivot_esl_read_budget_refusals_total");
    let used = metric(&text, "pivot_esl_read_budget_used_bytes");
    drop(streams);
    node.stop().await;
    (before, after, used, refused)
}

/// `cargo test --release --test it measure_stalled_frames -- --ignored --nocapture`
/// (`PIVOT_STALL_PEERS`, default 16): docs/security.md, "Memory under stalled frames".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn measure_stalled_frames() {
    let peers: usize = std::env::var("PIVOT_STALL_PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    println!("| read budget | peers | RSS before | RSS held | bytes held | peers closed |");
    println!("|---|---|---|---|---|---|");
    for (label, budget) in [("none (1 TiB)", 1u64 << 40), ("64 MiB (default)", 64 << 20)] {
        let (before, after, used, refused) = stalled_frames_rss(peers, budget).await;
        println!(
            "| {label} | {peers} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {refused} |",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            used as f64 / 1048576.0
        );
    }
}
