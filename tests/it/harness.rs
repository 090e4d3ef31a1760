//! Starts the real pivot (store, event socket server, REST API) on free local ports, the way
//! `pivot serve` does, for the scenario tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pivot::app::App;
use pivot::call::Engine;
use pivot::config::{AccountConfig, Config};
use pivot::route::Router;
use pivot::server::Shutdown;

pub const ACCOUNT: &str = "4b8c4d4a2f1e4c1b9a0d7e6f5a4b3c2d";
pub const OTHER_ACCOUNT: &str = "0f0e0d0c0b0a09080706050403020100";
pub const API_KEY: &str = "key-of-the-example-account";
pub const OTHER_API_KEY: &str = "key-of-the-other-account";

pub struct Pivot {
    pub esl: SocketAddr,
    pub api: SocketAddr,
    pub engine: Arc<Engine>,
    pub shutdown: Shutdown,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    pub dir: tempfile::TempDir,
}

/// A config for tests: ports 0, a fresh database, two accounts, short waits.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.esl.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    c.store.path = dir.join("pivot.db");
    c.default_account = ACCOUNT.parse().unwrap();
    c.esl.hangup_wait = Duration::from_secs(2);
    // `calls_at_once` opens up to 1000 connections in one burst, which a real switch never
    // does (its sessions-per-second): room for all of them to be in their handshake at once.
    c.esl.max_handshaking = 1000;
    // The scenario web apps play files under /sounds.
    c.media.media_roots = Some(vec!["/var/lib/pivot/media".into(), "/sounds".into()]);
    c.accounts = vec![
        AccountConfig {
            id: ACCOUNT.parse().unwrap(),
            name: "Example".into(),
            api_key: API_KEY.into(),
        },
        AccountConfig {
            id: OTHER_ACCOUNT.parse().unwrap(),
            name: "Other".into(),
            api_key: OTHER_API_KEY.into(),
        },
    ];
    c
}

impl Pivot {
    pub async fn start() -> Pivot {
        Pivot::start_with(|_| {}, Router::empty()).await
    }

    pub async fn start_with(change: impl FnOnce(&mut Config), router: Router) -> Pivot {
        Pivot::start_graced(change, router, Duration::from_secs(5)).await
    }

    /// `grace`: how long calls may go on after `stop` before pivot hangs them up.
    pub async fn start_graced(
        change: impl FnOnce(&mut Config),
        router: Router,
        grace: Duration,
    ) -> Pivot {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        change(&mut config);
        let app = App::start(config, router).await.unwrap();
        let (esl, api, engine, shutdown) = (
            app.esl_addr,
            app.api_addr,
            app.engine.clone(),
            app.shutdown.clone(),
        );
        let task = tokio::spawn(app.run(grace));
        Pivot {
            esl,
            api,
            engine,
            shutdown,
            task,
            dir,
        }
    }

    /// Stops accepting, lets calls finish, flushes the debug log.
    pub async fn stop(self) {
        self.shutdown.stop_accepting.cancel();
        self.task.await.unwrap().unwrap();
    }

    /// Like `stop`, but hands back the data directory to look at after the server is gone.
    pub async fn stop_keep_dir(self) -> tempfile::TempDir {
        self.shutdown.stop_accepting.cancel();
        self.task.await.unwrap().unwrap();
        self.dir
    }

    /// Places `n` calls at once (each its own task, as FreeSWITCH would) and returns their
    /// transcripts in order.
    pub async fn calls_at_once(
        &self,
        n: usize,
        call: impl Fn() -> crate::support::fake_fs::FakeCall,
    ) -> Vec<crate::support::transcript::Transcript> {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let call = call().finish_timeout(Duration::from_secs(120));
                let esl = self.esl;
                tokio::spawn(async move {
                    crate::support::fake_fs::FakeFs::connect(esl, call)
                        .await
                        .finish()
                        .await
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }
}

/// The variable naming a PostgreSQL database the tests may create schemas in.
pub const PG_ENV: &str = "PIVOT_TEST_POSTGRES";

/// Says (past the test harness's capture) that a test did not run, and why.
pub fn skipped_because(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

pub fn skipped(test: &str) {
    skipped_because(
        test,
        &format!("{PG_ENV} is not set (a postgres:// URL of a database the tests may create schemas in; .ci/run sets one up)"),
    );
}

/// A schema of its own in the test database, for one test; dropped afterwards.
pub struct PgDb {
    base: String,
    name: String,
    /// The base URL with this schema as `search_path`.
    pub url: String,
}

impl PgDb {
    /// None (after a line on stderr) when `PIVOT_TEST_POSTGRES` is not set.
    pub async fn create(test: &str) -> Option<PgDb> {
        let Ok(base) = std::env::var(PG_ENV) else {
            skipped(test);
            return None;
        };
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        pg_connect(&base)
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        let url = with_schema(&base, &name);
        Some(PgDb { base, name, url })
    }

    /// The same database reached through `addr` (a proxy) instead of its own address.
    pub fn url_via(&self, addr: SocketAddr) -> String {
        let mut u = url::Url::parse(&self.base).unwrap();
        u.set_host(Some(&addr.ip().to_string())).unwrap();
        u.set_port(Some(addr.port())).unwrap();
        with_schema(u.as_str(), &self.name)
    }

    /// The server's own address (host and port of the base URL).
    pub fn server_addr(&self) -> SocketAddr {
        let u = url::Url::parse(&self.base).unwrap();
        let host = u.host_str().unwrap_or("127.0.0.1");
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        format!("{host}:{}", u.port().unwrap_or(5432))
            .parse()
            .unwrap()
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        pg_connect(&self.url).await
    }
}

fn with_schema(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-csearch_path%3D{schema}")
}

pub async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL cannot be reached: {e}"));
    tokio::spawn(conn);
    client
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop may run on the test's runtime: clean up on a thread with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let sql =
                        format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE");
                    let _ = client.batch_execute(&sql).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A `pivot serve` process (the real binary) with its own config file, as a node of a
/// deployment. Its log (JSON lines) is kept for the test to read.
pub struct Node {
    child: tokio::process::Child,
    pub esl: SocketAddr,
    pub api: SocketAddr,
    log: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Node {
    /// The config of a node named `name` whose `[store]` section is `store` (TOML lines).
    pub fn config(name: &str, store: &str) -> String {
        format!(
            "node_name = \"{name}\"\ndefault_account = \"{ACCOUNT}\"\n\
             [esl]\nlisten = \"127.0.0.1:0\"\nhangup_wait_ms = 2000\n\
             [api]\nlisten = \"127.0.0.1:0\"\n\
             [store]\n{store}\n\
             [[accounts]]\nid = \"{ACCOUNT}\"\nname = \"Example\"\napi_key = \"{API_KEY}\"\n\
             [[accounts]]\nid = \"{OTHER_ACCOUNT}\"\nname = \"Other\"\napi_key = \"{OTHER_API_KEY}\"\n"
        )
    }

    /// Starts `pivot serve --config <config>` and waits until it is running.
    pub async fn start(config: &std::path::Path) -> Node {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pivot"))
            .args([
                "serve",
                "--log-format",
                "json",
                "--shutdown-grace",
                "10s",
                "--config",
            ])
            .arg(config)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (running_tx, running) = tokio::sync::oneshot::channel();
        let keep = log.clone();
        tokio::spawn(async move {
            let mut running_tx = Some(running_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                let v: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"fields": {"message": line}}));
                if v["fields"]["message"] == "pivot is running" {
                    if let Some(tx) = running_tx.take() {
                        let _ = tx.send(v.clone());
                    }
                }
                keep.lock().unwrap().push(v);
            }
        });
        let line = tokio::time::timeout(Duration::from_secs(60), running)
            .await
            .expect("the node started within a minute")
            .unwrap_or_else(|_| panic!("the node exited before it was running: {:?}", log));
        let addr = |k: &str| line["fields"][k].as_str().unwrap().parse().unwrap();
        Node {
            esl: addr("esl"),
            api: addr("api"),
            child,
            log,
        }
    }

    pub fn api_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    /// The process's resident memory in KiB (`VmRSS`), while it runs.
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Log lines whose message contains `text`.
    pub fn log_lines(&self, text: &str) -> Vec<serde_json::Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["fields"]["message"].as_str().unwrap_or("").contains(text))
            .cloned()
            .collect()
    }

    /// Polls the log until a line's message contains `text`.
    pub async fn wait_for_log(&self, text: &str) -> serde_json::Value {
        for _ in 0..1200 {
            if let Some(line) = self.log_lines(text).pop() {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no log line with {text:?}: {:#?}", self.log.lock().unwrap());
    }

    /// SIGTERM, then waits for a clean exit (calls drained, debug log flushed).
    pub async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the node stopped within a minute")
            .unwrap();
        assert_eq!(status.code(), Some(0), "{:?}", self.log.lock().unwrap());
    }
}

/// A TCP proxy in front of a server (PostgreSQL), that a test can cut (every connection
/// closed, new ones refused: what a client sees of a server that stopped) and restore on
/// the same address.
pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    running: tokio::sync::Mutex<Option<(CancelToken, tokio::task::JoinHandle<()>)>>,
}

type CancelToken = tokio_util::sync::CancellationToken;

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            target,
            running: tokio::sync::Mutex::new(None),
        };
        *proxy.running.lock().await = Some(proxy.serve(listener));
        proxy
    }

    fn serve(
        &self,
        listener: tokio::net::TcpListener,
    ) -> (CancelToken, tokio::task::JoinHandle<()>) {
        let stop = CancelToken::new();
        let (token, target) = (stop.clone(), self.target);
        let task = tokio::spawn(async move {
            let pipes = tokio_util::task::TaskTracker::new();
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => break,
                    a = listener.accept() => a,
                };
                let Ok((mut client, _)) = accepted else {
                    continue;
                };
                let token = token.clone();
                pipes.spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
            drop(listener);
            pipes.close();
            pipes.wait().await;
        });
        (stop, task)
    }

    /// Closes every connection and the listener; returns once they are closed.
    pub async fn cut(&self) {
        if let Some((stop, task)) = self.running.lock().await.take() {
            stop.cancel();
            task.await.unwrap();
        }
    }

    /// Listens again on the same address.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        *self.running.lock().await = Some(self.serve(listener));
    }
}
