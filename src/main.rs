//! The `pivot` binary: command line, config, tracing, signals, listeners. The only place
//! that uses `anyhow`; everything it wires lives in the library.

use std::path::PathBuf;

/// jemalloc, built with its background threads on: they return the pages freed memory held
/// to the OS within seconds (dirty pages decay over 10 s), where glibc's allocator kept a
/// burst's pages for good; and it holds less per idle call (docs/performance.md, "Memory
/// per call"). The library, its tests and benches keep the system allocator.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use pivot::app::{self, App};
use pivot::check;
use pivot::cli;
use pivot::config::Config;
use pivot::sim::{self, DemoOptions, SimulateOptions};

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
    /// Show pivot's main job with nothing installed: a built-in sample web app (the
    /// voicemail example), one simulated call through the real event socket, its timeline,
    /// and the debug records read back through the REST API.
    Demo {
        /// Applications finish at once instead of after a plausible small duration.
        #[arg(long)]
        fast: bool,
    },
    /// Run your web app against a simulated call: the same server code, a simulated
    /// FreeSWITCH as the peer, a scripted caller. Prints the call's timeline. Exit code 0
    /// when the flow ran without a failback, 1 otherwise, 2 on usage or start-up errors.
    Simulate(SimulateArgs),
    /// Validate a Piston JSON (or TwiML) document offline with the server's validator.
    /// Exit code 0 when it is valid, 1 when not.
    Check {
        /// The document, or `-` for standard input.
        file: String,
        /// Warnings (unknown keys that pivot ignores) fail the check too.
        #[arg(long)]
        strict: bool,
    },
    /// Load a real FreeSWITCH through its inbound event socket: originate loopback calls to
    /// an extension and report calls/s, time to first audio and CPU per call (see
    /// docs/performance.md). Exit code 0 when every call worked, 1 otherwise, 2 when the
    /// load could not run.
    Loadtest(Box<LoadtestArgs>),
    /// Print a real call's timeline (kept for calls with debug on) from a running pivot's
    /// REST API, the way `pivot demo` prints a simulated one. Exit code 0 when shown, 2 on
    /// usage errors, 3 when the call has no timeline, 4 when the API cannot be used.
    Timeline {
        /// The call's id (FreeSWITCH's Unique-ID).
        call_id: String,
        #[command(flatten)]
        api: ApiArgs,
        /// Print the API's JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Send a logged request of a call (from its debug records) to the web app again, and
    /// show the new answer next to the logged one with a diff and whether pivot would run
    /// it. Exit code 0 when the new answer is a flow pivot would run, 1 when not, 2 on
    /// usage errors, 3 when the call or request is not in the debug log, 4 when the API
    /// cannot be used.
    Replay(Box<ReplayArgs>),
}

/// Where the REST API is and how to log in.
#[derive(clap::Args)]
struct ApiArgs {
    /// The REST API's base URL, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    api: String,
    /// An API key (`[[accounts]] api_key`): pivot logs in with it.
    #[arg(long, conflicts_with = "token", required_unless_present = "token")]
    api_key: Option<String>,
    /// A token from `PUT /v2/api_auth` (needs --account).
    #[arg(long)]
    token: Option<String>,
    /// The account (32 hex digits); by default the API key's own.
    #[arg(long)]
    account: Option<String>,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The call's id (FreeSWITCH's Unique-ID).
    call_id: String,
    /// Which request (its debug records' `iteration`); the call's last one by default.
    #[arg(long)]
    iteration: Option<u32>,
    #[command(flatten)]
    api: ApiArgs,
    /// pivot's configuration file: its `[signing]` secrets sign the request as pivot did.
    #[arg(long, conflicts_with = "signing_secret")]
    config: Option<PathBuf>,
    /// Sign the request with this secret (X-Pivot-Signature).
    #[arg(long)]
    signing_secret: Option<String>,
    /// How long the web app may take to answer.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct LoadtestArgs {
    /// FreeSWITCH's inbound event socket.
    #[arg(long, default_value = "127.0.0.1:8021")]
    esl: String,
    /// Its password (event_socket.conf.xml).
    #[arg(long, default_value = "ClueCon")]
    password: String,
    /// Calls per round and extension.
    #[arg(long, short = 'n', default_value_t = 100)]
    calls: usize,
    /// Calls at once.
    #[arg(long, short = 'c', default_value_t = 10)]
    concurrency: usize,
    /// The extension under test: the B leg of each loopback call runs it.
    #[arg(long, default_value = "9000")]
    extension: String,
    /// A second extension, run alternately with the same load (e.g. 9020, mod_httapi);
    /// the report gives the ratios.
    #[arg(long)]
    compare: Option<String>,
    /// The extension the A leg runs once answered (it answers and waits).
    #[arg(long, default_value = "9001")]
    caller: String,
    /// A channel variable for every call, NAME=VALUE (repeatable).
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
    /// A channel variable for the extension under test only (repeatable).
    #[arg(long = "ext-var", value_parser = parse_var)]
    ext_vars: Vec<(String, String)>,
    /// A channel variable for the compared extension only (repeatable).
    #[arg(long = "compare-var", value_parser = parse_var)]
    compare_vars: Vec<(String, String)>,
    /// Rounds; each runs the extension, then the compared one.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Calls per extension before the measured rounds (not counted).
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// How long one call may take before it counts as failed (and is hung up).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    call_timeout: Duration,
    /// Another process whose CPU time per call is reported: a command name (e.g. pivot)
    /// or a pid (repeatable). FreeSWITCH's is always reported.
    #[arg(long = "proc")]
    procs: Vec<String>,
    /// FreeSWITCH's process name or pid.
    #[arg(long, default_value = "freeswitch")]
    switch_proc: String,
    /// Serve the comparison flow (a 200 ms tone, then hang up) at ADDR, as
    /// /loadtest/piston (pivot_voice_url) and /loadtest/httapi (httapi_url).
    #[arg(long)]
    webapp: Option<std::net::SocketAddr>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}`: use NAME=VALUE"))
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// Your web app's voice URL.
    #[arg(long)]
    url: String,
    /// Which request parameters pivot sends.
    #[arg(long, value_enum, default_value_t = Format::Piston)]
    format: Format,
    /// How pivot asks the web app.
    #[arg(long, value_enum, default_value_t = Method::Get)]
    method: Method,
    /// The caller's number.
    #[arg(long, default_value = "1001")]
    from: String,
    /// The number called.
    #[arg(long, default_value = "3004")]
    to: String,
    /// Digits the caller presses, one comma-separated group per digit collection:
    /// `1,42#` presses 1 at the first collection, then 4, 2, # at the second.
    #[arg(long, default_value = "")]
    digits: String,
    /// The caller hangs up after this long (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    hangup_after: Duration,
    /// Print the timeline as JSON.
    #[arg(long)]
    json: bool,
    /// Applications finish at once instead of after a plausible small duration.
    #[arg(long)]
    fast: bool,
    /// Sign every request with this secret (X-Pivot-Signature), to try your verification.
    #[arg(long)]
    signing_secret: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Piston,
    Twiml,
}

#[derive(Clone, Copy, ValueEnum)]
enum Method {
    Get,
    Post,
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

fn init_tracing(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colour codes only for a person at a terminal, never in a file or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's and the simulator's printout already shows what pivot's log would say.
    let quiet = !matches!(cli.command, Cmd::Serve { .. });
    init_tracing(cli.log_format, if quiet { "error" } else { "info" });
    match cli.command {
        Cmd::Serve {
            config,
            check_config,
            shutdown_grace,
        } => match serve(config, check_config, shutdown_grace).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // `{:#}` prints the whole cause chain on one line, without a backtrace.
                eprintln!("pivot: {e:#}");
                ExitCode::FAILURE
            }
        },
        Cmd::Demo { fast } => demo(fast).await,
        Cmd::Simulate(args) => simulate(args).await,
        Cmd::Check { file, strict } => check(&file, strict),
        Cmd::Loadtest(args) => loadtest(*args).await,
        Cmd::Timeline { call_id, api, json } => timeline(&call_id, api, json).await,
        Cmd::Replay(args) => replay(*args).await,
    }
}

async fn api_client(a: ApiArgs) -> Result<cli::ApiClient, cli::CliError> {
    let auth = match (a.api_key, a.token) {
        (Some(key), _) => cli::Auth::ApiKey(key),
        (None, Some(token)) => cli::Auth::Token(token),
        (None, None) => return Err(cli::CliError::Usage("--api-key or --token".into())),
    };
    cli::ApiClient::connect(&a.api, auth, a.account).await
}

fn cli_failed(command: &str, e: &cli::CliError) -> ExitCode {
    eprintln!("pivot {command}: {e}");
    ExitCode::from(e.exit_code())
}

async fn timeline(call_id: &str, api: ApiArgs, json: bool) -> ExitCode {
    let report = match api_client(api).await {
        Ok(client) => cli::fetch_timeline(&client, call_id).await,
        Err(e) => Err(e),
    };
    match report {
        Ok(r) if json => {
            println!("{:#}", r.data);
            ExitCode::SUCCESS
        }
        Ok(r) => {
            print!("{}", r.render());
            ExitCode::SUCCESS
        }
        Err(e) => cli_failed("timeline", &e),
    }
}

async fn replay(a: ReplayArgs) -> ExitCode {
    let run = async {
        let client = api_client(a.api).await?;
        let signer = replay_signer(a.config.as_deref(), a.signing_secret, &client.account)?;
        let opts = cli::ReplayOptions {
            call_id: a.call_id,
            iteration: a.iteration,
            signer,
            timeout: a.timeout,
        };
        cli::replay(&client, opts).await
    };
    match run.await {
        Ok(report) => {
            if a.json {
                println!("{:#}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            if report.works() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => cli_failed("replay", &e),
    }
}

/// The secrets to sign with: the config's `[signing]`, or one given secret for the account.
fn replay_signer(
    config: Option<&std::path::Path>,
    secret: Option<String>,
    account: &str,
) -> Result<Option<pivot::pivot::sign::Signer>, cli::CliError> {
    if let Some(path) = config {
        let config = Config::load(path).map_err(|e| cli::CliError::Config(e.to_string()))?;
        return Ok(Some(config.signing));
    }
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let id = account
        .parse()
        .map_err(|_| cli::CliError::Usage(format!("--account {account:?}: not an account id")))?;
    let secrets = std::collections::HashMap::from([(id, vec![secret])]);
    Ok(Some(pivot::pivot::sign::Signer::new(secrets)))
}

async fn loadtest(a: LoadtestArgs) -> ExitCode {
    let opts = pivot::loadtest::LoadOptions {
        esl: a.esl,
        password: a.password,
        calls: a.calls,
        concurrency: a.concurrency,
        extension: a.extension,
        compare: a.compare,
        caller: a.caller,
        vars: a.vars,
        ext_vars: a.ext_vars,
        compare_vars: a.compare_vars,
        rounds: a.rounds,
        call_timeout: a.call_timeout,
        procs: a.procs,
        switch_proc: a.switch_proc,
        webapp: a.webapp,
        warmup: a.warmup,
    };
    match pivot::loadtest::run(opts).await {
        Ok(report) => {
            if a.json {
                println!("{:#}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            if report.summaries().iter().all(|s| s.failed == 0) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("pivot loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

async fn demo(fast: bool) -> ExitCode {
    match sim::demo(DemoOptions { fast }).await {
        Ok(report) => {
            print!("{}", report.render());
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("pivot demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn simulate(args: SimulateArgs) -> ExitCode {
    let format = match args.format {
        Format::Piston => "piston",
        Format::Twiml => "twiml",
    };
    let method = match args.method {
        Method::Get => "get",
        Method::Post => "post",
    };
    let run = async {
        let opts = SimulateOptions {
            url: args.url,
            format: format.into(),
            method: method.into(),
            from: args.from,
            to: args.to,
            digits: sim::parse_digits(&args.digits)?,
            hangup_after: Some(args.hangup_after),
            fast: args.fast,
            signing_secret: args.signing_secret,
        };
        sim::simulate(opts).await
    };
    match run.await {
        Ok(report) => {
            if args.json {
                println!("{:#}", report.to_json());
            } else {
                print!("{}", report.render());
            }
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("pivot simulate: {e}");
            ExitCode::from(2)
        }
    }
}

fn check(file: &str, strict: bool) -> ExitCode {
    let report = match check::check_path(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pivot check: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.render());
    if report.passes(strict) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
    raise_fd_limit(&config);
    let app = App::start(config, router)
        .await
        .context("cannot start pivot")?;
    // The handlers are in place before pivot says it runs: a SIGTERM sent right after
    // that line must stop it cleanly, not kill it.
    let signals = shutdown_signals();
    tracing::info!(esl = %app.esl_addr, api = %app.api_addr, "pivot is running");
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        signals.await;
        tracing::info!("shutdown requested");
        shutdown.stop_accepting.cancel();
    });
    app.run(grace).await?;
    tracing::info!("pivot stopped");
    Ok(())
}

/// Raises the soft limit on open files to the hard limit: every call holds a socket to
/// FreeSWITCH and, while it asks a web app, an HTTP connection; the API and handshaking
/// connections come on top (docs/security.md, "Resources and their bounds").
fn raise_fd_limit(config: &Config) {
    let esl = &config.esl;
    let wanted = 2 * esl.max_calls as u64 + esl.max_handshaking as u64 + 512;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => tracing::warn!(
            limit,
            wanted,
            "the open-file limit is low for esl.max_calls: raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower esl.max_calls"
        ),
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// SIGTERM or Ctrl-C. The handlers are registered when this is called, not when the
/// returned future is first polled.
fn shutdown_signals() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}
