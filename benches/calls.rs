//! Whole calls through the real server: the simulated FreeSWITCH (`pivot::sim`) dials pivot's
//! event socket, pivot asks a local web app for a flow (say → play) and runs it. Measures
//! calls per second for batches placed at once, everything in one process on loopback, so
//! the number is pivot's cost plus the simulator's and the web app's.
//!
//! `cargo bench --bench calls` runs criterion (1 call, 100 at once with debug off, 100 at
//! once with debug on). `PIVOT_BENCH_ALTERNATE=20 cargo bench --bench calls` instead runs 20
//! rounds of one 100-call batch with debug off then one with debug on, and prints calls/s
//! and CPU per call for each (alternating cancels out the machine's drift). With
//! `PIVOT_BENCH_POSTGRES=postgres://...` the debug log goes to that database instead of a
//! SQLite file (docs/performance.md, "Debug log and stores").

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use criterion::{criterion_group, Criterion, Throughput};
use tokio::runtime::Runtime;

use pivot::app::App;
use pivot::config::Config;
use pivot::route::Router;
use pivot::sim::{place_call, SimCall, Timeline};

const FLOW: &str = r#"{"module":"say","data":{"text":"hello"},
  "children":{"_":{"module":"play","data":{"id":"tone_stream://%(100,0,440)"}}}}"#;

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

async fn start_pivot(dir: &std::path::Path) -> SocketAddr {
    let mut config = Config::default();
    config.esl.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.store.path = dir.join("bench.db");
    let app = App::start(config, Router::empty())
        .await
        .expect("start pivot");
    let esl = app.esl_addr;
    tokio::spawn(app.run(Duration::from_secs(5)));
    esl
}

async fn batch(esl: SocketAddr, url: &str, n: usize, debug: bool) {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let mut call = SimCall::new();
            call.fast = true;
            call.vars.push(("pivot_voice_url".into(), url.to_string()));
            if debug {
                call.vars.push(("pivot_debug".into(), "true".into()));
            }
            let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(place_call(esl, call, Timeline::new(), rx))
        })
        .collect();
    for c in calls {
        let report = c.await.expect("call task").expect("call ran");
        assert_eq!(report.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    }
}

struct Bench {
    rt: Runtime,
    esl: SocketAddr,
    url: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Bench {
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (esl, url) = rt.block_on(async {
        let web = web_app().await;
        (start_pivot(dir.path()).await, format!("http://{web}/voice"))
    });
    Bench {
        rt,
        esl,
        url,
        _dir: dir,
    }
}

fn calls(c: &mut Criterion) {
    let b = setup();
    let mut group = c.benchmark_group("calls");
    group.sample_size(10);
    for (n, debug) in [(1usize, false), (100, false), (100, true)] {
        group.throughput(Throughput::Elements(n as u64));
        let name = if debug {
            format!("{n} at once, debug")
        } else {
            format!("{n} at once")
        };
        group.bench_function(name, |bencher| {
            bencher.iter(|| b.rt.block_on(batch(b.esl, &b.url, n, debug)))
        });
    }
    group.finish();
}

/// The process's CPU time so far (user + system), from /proc (Linux only; zero elsewhere).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    let total = ticks(11) + ticks(12);
    Duration::from_millis(total * 10)
}

/// Rounds of (debug off, debug on), 100 calls each; prints the totals per mode.
fn alternate(rounds: usize) {
    let b = setup();
    const N: usize = 100;
    // Warm up: connections, the database file, the allocator.
    for _ in 0..3 {
        b.rt.block_on(batch(b.esl, &b.url, N, false));
        b.rt.block_on(batch(b.esl, &b.url, N, true));
    }
    let mut wall = [Duration::ZERO; 2];
    let mut cpu = [Duration::ZERO; 2];
    for _ in 0..rounds {
        for (i, debug) in [false, true].into_iter().enumerate() {
            let (t0, c0) = (Instant::now(), cpu_time());
            b.rt.block_on(batch(b.esl, &b.url, N, debug));
            wall[i] += t0.elapsed();
            cpu[i] += cpu_time().saturating_sub(c0);
        }
    }
    let calls = (rounds * N) as f64;
    let rate = |i: usize| calls / wall[i].as_secs_f64();
    for (i, name) in ["debug off", "debug on"].into_iter().enumerate() {
        println!(
            "{name}: {:.0} calls/s, {:.3} ms CPU per call (whole process)",
            rate(i),
            cpu[i].as_secs_f64() * 1000.0 / calls
        );
    }
    println!("ratio on/off: {:.2}", rate(1) / rate(0));
}

criterion_group!(benches, calls);

fn main() {
    match std::env::var("PIVOT_BENCH_ALTERNATE") {
        Ok(rounds) => alternate(rounds.parse().expect("PIVOT_BENCH_ALTERNATE: a number")),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
