//! A whole running pivot: the debug store, the event socket server and the REST API, started
//! together from a [`Config`] and stopped together. `main`, the demo and the tests all start
//! pivot through here, so they run the same code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{self, ApiAccount, ApiConfig, ApiStore, ConnLimits, ConnStats};
use crate::call::{Engine, ObserverFactory};
use crate::callflow::FlowLimits;
use crate::config::Config;
use crate::route::{RouteError, Router};
use crate::server::{self, Shutdown};
use crate::store::{self, StoreWriter};

/// Why pivot could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("callflow documents: {0}")]
    Callflows(#[from] RouteError),
    #[error("debug store: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Loads the callflow documents the config names (none when it names no directory).
pub fn load_router(config: &Config) -> Result<Router, RouteError> {
    let limits = FlowLimits {
        max_nodes: config.http.max_flow_nodes,
        max_depth: config.http.max_flow_depth,
        // The operator's own documents may play any file (no media roots).
        media_roots: None,
    };
    match &config.callflows {
        Some(dir) => Router::load_dir(dir, &limits),
        None => Ok(Router::empty()),
    }
}

/// A started pivot.
pub struct App {
    pub esl_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub engine: Arc<Engine>,
    pub shutdown: Shutdown,
    esl_listener: TcpListener,
    api_task: tokio::task::JoinHandle<()>,
    api_stop: tokio_util::sync::CancellationToken,
    writer: StoreWriter,
}

impl App {
    /// Opens the store, binds both listeners (port 0 picks a free port) and starts the API.
    pub async fn start(config: Config, router: Router) -> Result<App, StartError> {
        App::start_observed(config, router, None).await
    }

    /// As [`App::start`], with an observer for every call (the demo and the simulator print
    /// each call's steps through it).
    pub async fn start_observed(
        config: Config,
        router: Router,
        observer: Option<ObserverFactory>,
    ) -> Result<App, StartError> {
        let store = store::open(&config.store_config()).await?;
        let esl_listener = bind(config.esl.listen).await?;
        let api_listener = bind(config.api.listen).await?;
        let esl_addr = local(&esl_listener, config.esl.listen);
        let api_addr = local(&api_listener, config.api.listen);
        let shutdown = Shutdown::default();
        let api_store = ApiStore {
            reader: store.reader,
            sessions: store.sessions,
            status: store.sink.status(),
            // While calls drain, /health says so: a load balancer stops sending new ones.
            draining: shutdown.stop_accepting.clone(),
        };
        let (api_config, limits) = api_settings(&config);
        let mut engine = Engine::new(config, router, Some(store.sink))?;
        engine.observer = observer;
        let engine = Arc::new(engine);
        let conn_stats = Arc::new(ConnStats::default());
        let routes = api::router(api_config, api_store)
            .merge(crate::metrics::router(engine.clone(), conn_stats.clone()));
        let api_stop = tokio_util::sync::CancellationToken::new();
        let api_task = tokio::spawn(api::serve(
            api_listener,
            routes,
            limits,
            conn_stats,
            api_stop.clone(),
        ));
        tracing::info!(%esl_addr, "event socket listening");
        tracing::info!(%api_addr, "REST API listening");
        Ok(App {
            esl_addr,
            api_addr,
            engine,
            shutdown,
            esl_listener,
            api_task,
            api_stop,
            writer: store.writer,
        })
    }

    /// Serves calls until `shutdown.stop_accepting` fires, then drains calls (up to `grace`),
    /// flushes the debug log and stops the API.
    pub async fn run(self, grace: Duration) -> std::io::Result<()> {
        let result =
            server::run(self.esl_listener, self.engine.clone(), self.shutdown, grace).await;
        // Calls are over: whatever they logged is in the queue; flush it before exiting.
        drop(self.engine);
        self.writer.shutdown().await;
        self.api_stop.cancel();
        let _ = self.api_task.await;
        result
    }
}

/// The API's part of the configuration.
fn api_settings(config: &Config) -> (ApiConfig, ConnLimits) {
    let a = &config.api;
    let api_config = ApiConfig {
        accounts: config
            .accounts
            .iter()
            .map(|a| ApiAccount {
                id: a.id.to_string(),
                name: a.name.clone(),
                api_key: a.api_key.clone(),
            })
            .collect(),
        token_ttl: a.token_ttl,
        max_tokens_per_account: a.max_tokens_per_account,
        auth_per_minute_per_address: a.auth_per_minute_per_address,
        auth_per_minute_per_account: a.auth_per_minute_per_account,
        request_timeout: a.request_timeout,
        node: config.node_name.clone(),
    };
    let limits = ConnLimits {
        max_connections: a.max_connections,
        max_per_address: a.max_connections_per_address,
        header_timeout: a.header_timeout,
        idle_timeout: a.idle_timeout,
        request_timeout: a.request_timeout,
    };
    (api_config, limits)
}

/// Binds with a deep accept queue: FreeSWITCH opens every call's socket at once under load,
/// and waits for pivot to speak first, so a connection the kernel dropped from a full queue
/// would hang until FreeSWITCH gives up on it.
async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(4096)
    };
    listen().map_err(|source| StartError::Listen { addr, source })
}

fn local(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}
