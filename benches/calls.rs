//! Whole calls through the real server: the simulated FreeSWITCH (`pivot::sim`) dials pivot's
//! event socket, pivot asks a local web app for a flow (say → play) and runs it. Measures
//! calls per second for batches placed at once, everything in one process on loopback, so
//! the number is pivot's cost plus the simulator's and the web app's.
//!
//! `cargo bench --bench calls` runs criterion (1 call, 100 at once with debug off, 100 at
//! once with debug on). `PIVOT_BENCH_ALTERNATE=20 cargo bench --bench calls` instead runs 20
//! rounds of 500 calls (5 batches of 100 at once) with debug off then 500 with debug on,
//! and prints calls/s and CPU per call for each (alternating cancels out the machine's
//! drift). With
//! `PIVOT_BENCH_POSTGRES=postgres://...` the debug log goes to that database instead of a
//! SQLite file (docs/performance.md, "Debug log and stores").

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use criterion::{criterion_group, Criterion, Throughput};
use tokio::runtime::Runtime;

use pivot::app::App;
use pivot::call::Engine;
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

async fn start_pivot(dir: &std::path::Path) -> (SocketAddr, Arc<Engine>) {
    // The store: a SQLite file, or PostgreSQL when PIVOT_BENCH_POSTGRES names one.
    let mut config = match std::env::var("PIVOT_BENCH_POSTGRES") {
        Ok(url) => {
            let toml = format!("[store]\nurl = \"{url}\"\n");
            Config::from_toml(&toml, "bench".as_ref(), dir).expect("PIVOT_BENCH_POSTGRES")
        }
        Err(_) => Config::default(),
    };
    config.esl.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.store.path = dir.join("bench.db");
    let app = App::start(config, Router::empty())
        .await
        .expect("start pivot");
    let (esl, engine) = (app.esl_addr, app.engine.clone());
    tokio::spawn(app.run(Duration::from_secs(5)));
    (esl, engine)
}

async fn batch(esl: SocketAddr, url: &str, n: usize, debug: bool) {
    if debug {
        DEBUG_CALLS.fetch_add(n as u64, Ordering::Relaxed);
    }
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
    engine: Arc<Engine>,
    url: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Bench {
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let ((esl, engine), url) = rt.block_on(async {
        let web = web_app().await;
        (start_pivot(dir.path()).await, format!("http://{web}/voice"))
    });
    Bench {
        rt,
        esl,
        engine,
        url,
        _dir: dir,
    }
}

impl Bench {
    /// Waits (untimed) until the writer has written or counted every record made so far.
    fn settle(&self) {
        let Some(sink) = &self.engine.debug else {
            return;
        };
        let debug_calls = DEBUG_CALLS.load(Ordering::Relaxed);
        // Each debug call makes 3 records (request, body, head).
        while sink.written() + sink.dropped() < debug_calls * 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Debug calls placed so far.
static DEBUG_CALLS: AtomicU64 = AtomicU64::new(0);

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

/// CPU time (user + system) from a /proc `stat` file, with the command name.
fn stat_cpu(path: &std::path::Path) -> Option<(String, Duration)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    Some((name, Duration::from_millis((ticks(11) + ticks(12)) * 10)))
}

/// CPU so far: this whole process, its debug writer thread, and the PostgreSQL server's
/// processes (all of them, so run with nothing else using that server). Linux only.
#[derive(Clone, Copy, Default)]
struct Cpu {
    process: Duration,
    writer: Duration,
    postgres: Duration,
}

fn cpu_now() -> Cpu {
    let mut cpu = Cpu {
        process: stat_cpu("/proc/self/stat".as_ref()).map_or(Duration::ZERO, |(_, d)| d),
        ..Cpu::default()
    };
    let tasks = std::fs::read_dir("/proc/self/task").into_iter().flatten();
    for task in tasks.flatten() {
        if let Some((name, d)) = stat_cpu(&task.path().join("stat")) {
            if name.starts_with("pivot-debug") {
                cpu.writer += d;
            }
        }
    }
    for proc in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some((name, d)) = stat_cpu(&proc.path().join("stat")) {
            if name == "postgres" {
                cpu.postgres += d;
            }
        }
    }
    cpu
}

/// Rounds of (debug off, debug on), each [`PHASE`] batches of 100 calls; prints the
/// totals per mode. The writer finishes a phase's records before the next phase starts
/// (that wait is not timed, but the writer's CPU is counted in its phase).
fn alternate(rounds: usize) {
    let b = setup();
    const N: usize = 100;
    const PHASE: usize = 5;
    // Warm up: connections, the database file, the allocator.
    for _ in 0..3 {
        b.rt.block_on(batch(b.esl, &b.url, N, false));
        b.rt.block_on(batch(b.esl, &b.url, N, true));
    }
    b.settle();
    let mut wall = [Duration::ZERO; 2];
    let mut cpu = [Cpu::default(); 2];
    for _ in 0..rounds {
        for (i, debug) in [false, true].into_iter().enumerate() {
            let (t0, c0) = (Instant::now(), cpu_now());
            for _ in 0..PHASE {
                b.rt.block_on(batch(b.esl, &b.url, N, debug));
            }
            wall[i] += t0.elapsed();
            b.settle();
            let c1 = cpu_now();
            cpu[i].process += c1.process.saturating_sub(c0.process);
            cpu[i].writer += c1.writer.saturating_sub(c0.writer);
            cpu[i].postgres += c1.postgres.saturating_sub(c0.postgres);
        }
    }
    let calls = (rounds * N * PHASE) as f64;
    let rate = |i: usize| calls / wall[i].as_secs_f64();
    let per_call = |d: Duration| d.as_secs_f64() * 1000.0 / calls;
    for (i, name) in ["debug off", "debug on"].into_iter().enumerate() {
        println!(
            "{name}: {:.0} calls/s; CPU per call: {:.3} ms whole process, {:.3} ms of it the \
             SQLite writer thread, {:.3} ms in PostgreSQL's processes",
            rate(i),
            per_call(cpu[i].process),
            per_call(cpu[i].writer),
            per_call(cpu[i].postgres),
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
