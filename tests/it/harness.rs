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
