//! The `pivot` binary: command line, config, tracing, signals, listeners. The only place
//! that uses `anyhow`; everything it wires lives in the library.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use pivot::app::{self, App};
use pivot::config::Config;

#[derive(Parser)]
#[command(
    name = "pivot",
    version,
    about = "Pivot for FreeSWITCH: programmable voice from your web app"
)]
struct Cli {
    /// Log format: `text` for people, `json` for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the event socket server (FreeSWITCH connects here) and the REST API.
    ///
    /// Without --config every default applies: event socket on 127.0.0.1:8084, API on
    /// 127.0.0.1:8000, debug log in ./pivot.db, no callflow documents (calls are routed by
    /// the `pivot_voice_url` channel variable). See README.md, "Configuration".
    Serve {
        /// The TOML configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Validate the configuration and the callflow documents, then exit.
        #[arg(long)]
        check_config: bool,
        /// How long calls in flight may go on after SIGTERM / Ctrl-C before they are hung up.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        shutdown_grace: Duration,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s or 500ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{s}`: use ms, s or m")),
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pivot: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line, without a backtrace.
            eprintln!("pivot: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Serve {
            config,
            check_config,
            shutdown_grace,
        } => serve(config, check_config, shutdown_grace).await,
    }
}

async fn serve(path: Option<PathBuf>, check_only: bool, grace: Duration) -> anyhow::Result<()> {
    let config = match &path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let router = app::load_router(&config)?;
    if check_only {
        println!(
            "configuration OK: {} callflow document(s), {} account(s)",
            router.docs().len(),
            config.accounts.len()
        );
        return Ok(());
    }
    let app = App::start(config, router)
        .await
        .context("cannot start pivot")?;
    tracing::info!(esl = %app.esl_addr, api = %app.api_addr, "pivot is running");
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        shutdown.stop_accepting.cancel();
    });
    app.run(grace).await?;
    tracing::info!("pivot stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
