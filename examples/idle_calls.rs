//! Load generator for pivot's memory per idle call: starts the real `pivot serve` binary as
//! its own process, a local web app whose flow is one endless playback, and N calls from
//! the simulated FreeSWITCH (`pivot::sim`) that hold until they hang up together. Reads
//! pivot's RSS (and CPU time) from /proc before, while the calls are idle, and after they
//! end; runs two waves so a fresh process and a warmed one are both measured.
//!
//! ```text
//! cargo build --release --bin pivot
//! cargo run --release --example idle_calls -- --calls 10000 [--hold 90] [--waves 2] [--pivot target/release/pivot]
//! PIVOT_LOG=pivot::memory=debug cargo run ...   # pivot's log on stderr, at that level
//! ```
//! Linux only (/proc); needs `ulimit -n` above twice the number of calls. Loopback only.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::routing::get;
use pivot::sim::{place_call, SimCall, Timeline};

const FLOW: &str =
    r#"{"module":"play","data":{"id":"tone_stream://%(1000,0,440)","endless_playback":true}}"#;

struct Options {
    calls: usize,
    waves: usize,
    hold: u64,
    pivot: String,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        let at = args.iter().position(|a| a == name)?;
        args.get(at + 1).cloned()
    };
    Options {
        calls: value("--calls")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        waves: value("--waves").and_then(|v| v.parse().ok()).unwrap_or(2),
        hold: value("--hold").and_then(|v| v.parse().ok()).unwrap_or(90),
        pivot: value("--pivot").unwrap_or_else(|| "target/release/pivot".into()),
    }
}

/// Resident set size (KiB) and CPU time (ms, user + system) of process `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which ends with the last `)`): utime is 14th, stime 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The kernel's USER_HZ is 100 on Linux.
    (rss, (ticks(11) + ticks(12)) * 10)
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address")
}

async fn web_app() -> SocketAddr {
    let app = axum::Router::new().route(
        "/voice",
        get(|| async { ([("content-type", "application/json")], FLOW) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the web app");
    let addr = listener.local_addr().expect("web app address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn start_pivot(options: &Options, dir: &std::path::Path, esl: SocketAddr) -> Child {
    let config = format!(
        "[esl]\nlisten = \"{esl}\"\nmax_calls = {}\nreply_timeout_ms = 60000\n\
         max_handshaking = {}\nhandshake_timeout_ms = 60000\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n\
         [store]\npath = \"{}\"\n",
        options.calls * 2,
        // The simulator answers 10,000 connects at once: on a busy machine some take
        // seconds, and the default cap (256, the oldest gives way) would evict them.
        (options.calls * 2).min(65_536),
        dir.join("idle.db").display()
    );
    let path = dir.join("pivot.toml");
    std::fs::write(&path, config).expect("write the config");
    // PIVOT_LOG=pivot::memory=debug (say) shows pivot's log lines on stderr.
    let log = match std::env::var_os("PIVOT_LOG") {
        Some(_) => Stdio::inherit(),
        None => Stdio::null(),
    };
    Command::new(&options.pivot)
        .args(["serve", "--config"])
        .arg(&path)
        .env(
            "RUST_LOG",
            std::env::var("PIVOT_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start pivot (build it first: cargo build --release --bin pivot)")
}

async fn wait_listening(esl: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(esl).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pivot did not listen on {esl}");
}

/// One wave: `calls` calls placed at once, idle in their playback, then hung up together.
async fn wave(name: &str, pid: u32, esl: SocketAddr, url: &str, options: &Options, idle: u64) {
    let (before, _) = usage(pid);
    let hold = Duration::from_secs(options.hold);
    let started = Instant::now();
    let calls: Vec<_> = (0..options.calls)
        .map(|_| {
            let mut call = SimCall::new();
            call.vars.push(("pivot_voice_url".into(), url.to_string()));
            call.hangup_after = Some(hold);
            let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(place_call(esl, call, Timeline::new(), rx))
        })
        .collect();
    // Measure late in the hold: every call connected and playing, and the HTTP connections
    // the burst of flow requests opened gone from the pool (its idle timeout is 30 s).
    tokio::time::sleep(hold.saturating_sub(Duration::from_secs(15))).await;
    let (idle_rss, cpu0) = usage(pid);
    let up = calls.iter().filter(|c| !c.is_finished()).count();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, cpu1) = usage(pid);
    let per_call = |from: u64| idle_rss.saturating_sub(from) as f64 / options.calls as f64;
    println!(
        "{name}: RSS {before} KiB before the wave, {idle_rss} KiB with {} idle calls: \
         {:.1} KiB per call over the wave's start, {:.1} over the idle process; \
         pivot's CPU while they idled: {} ms in 5 s ({up} calls up when measured)",
        options.calls,
        per_call(before),
        per_call(idle),
        cpu1 - cpu0
    );
    let mut failed = 0;
    let mut causes = std::collections::BTreeMap::new();
    for call in calls {
        match call.await {
            Ok(Ok(report)) => {
                let cause = report.hangup_cause.unwrap_or_else(|| "none".into());
                *causes.entry(cause).or_insert(0) += 1;
            }
            Ok(Err(e)) => {
                if failed == 0 {
                    println!("{name}: first failure: {e}");
                }
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    println!("{name}: hangup causes {causes:?}");
    println!(
        "{name}: all calls ended {:.1} s after the start ({failed} failed)",
        started.elapsed().as_secs_f64()
    );
    let mut waited = 0;
    for wait in [1, 3, 5, 10, 20] {
        tokio::time::sleep(Duration::from_secs(wait - waited)).await;
        waited = wait;
        let (rss, _) = usage(pid);
        println!("{name}: RSS {rss} KiB about {wait} s after the calls ended");
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("temp dir");
    let esl = free_port();
    let web = web_app().await;
    let url = format!("http://{web}/voice");
    let mut pivot = start_pivot(&options, dir.path(), esl);
    wait_listening(esl).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = pivot.id();
    let (idle, _) = usage(pid);
    println!("pivot {}: idle RSS {idle} KiB", options.pivot);
    wave("fresh", pid, esl, &url, &options, idle).await;
    if options.waves > 1 {
        wave("warm", pid, esl, &url, &options, idle).await;
    }
    // SIGTERM: pivot shuts down cleanly (and a profiler around it can write its report).
    let _ = Command::new("kill").arg(pid.to_string()).status();
    for _ in 0..100 {
        if matches!(pivot.try_wait(), Ok(Some(_))) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = pivot.kill();
    let _ = pivot.wait();
}
