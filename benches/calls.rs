//! Whole calls through the real server: the simulated FreeSWITCH (`pivot::sim`) dials pivot's
//! event socket, pivot asks a local web app for a flow (say → play) and runs it. Measures
//! calls per second for batches placed at once, everything in one process on loopback, so
//! the number is pivot's cost plus the simulator's and the web app's.
//!
//! `cargo bench --bench calls`

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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

async fn batch(esl: SocketAddr, url: &str, n: usize) {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let mut call = SimCall::new();
            call.fast = true;
            call.vars.push(("pivot_voice_url".into(), url.to_string()));
            let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(place_call(esl, call, Timeline::new(), rx))
        })
        .collect();
    for c in calls {
        let report = c.await.expect("call task").expect("call ran");
        assert_eq!(report.hangup_cause.as_deref(), Some("NORMAL_CLEARING"));
    }
}

fn calls(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (esl, url) = rt.block_on(async {
        let web = web_app().await;
        (start_pivot(dir.path()).await, format!("http://{web}/voice"))
    });
    let mut group = c.benchmark_group("calls");
    group.sample_size(10);
    for n in [1usize, 100] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n} at once"), |b| {
            b.iter(|| rt.block_on(batch(esl, &url, n)))
        });
    }
    group.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
