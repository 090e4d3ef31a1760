//! `pivot loadtest`: drives a real FreeSWITCH through its inbound event socket and measures
//! what an operator sizes a box with. It originates `calls` loopback calls, `concurrency` at
//! a time, to an extension (the B leg runs it: pivot's socket, or mod_httapi for a
//! comparison; the A leg runs a caller extension that answers and waits), waits for each
//! to end (bounded), and reports calls ok/failed with reasons, calls/s, the time from the B
//! leg's CHANNEL_CREATE to its first PLAYBACK_START (FreeSWITCH's own event timestamps), and
//! the CPU time per call of FreeSWITCH and of the processes named (from /proc).
//! `compare` runs the same load against a second extension, alternating rounds, and the
//! report gives the ratios. A built-in web app can serve the comparison's flow (a 200 ms
//! tone, then hang up) as Piston JSON and as mod_httapi XML.

mod procstat;
mod report;
mod tracker;
mod webapp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::esl::client::{Client, ClientError, Options};

pub use procstat::{find_pids, ProcError};
pub use report::{Report, RunStats};
use tracker::Tracker;

/// Why a load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("event socket: {0}")]
    Esl(#[from] ClientError),
    #[error("{0}")]
    Proc(#[from] ProcError),
    #[error("the built-in web app cannot listen on {addr}: {source}")]
    WebApp {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("bad option: {0}")]
    Usage(String),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// FreeSWITCH's inbound event socket, and its password.
    pub esl: String,
    pub password: String,
    /// Calls per round and extension.
    pub calls: usize,
    pub concurrency: usize,
    /// The extension under test (the B leg runs it), e.g. 9000 (pivot).
    pub extension: String,
    /// A second extension run alternately, e.g. 9020 (mod_httapi).
    pub compare: Option<String>,
    /// The extension the A leg runs once answered: answers and waits.
    pub caller: String,
    /// Channel variables for every call (both loopback legs), `name=value`.
    pub vars: Vec<(String, String)>,
    /// Extra variables for the extension under test, and for the compared one.
    pub ext_vars: Vec<(String, String)>,
    pub compare_vars: Vec<(String, String)>,
    /// Rounds: each runs `calls` on the extension, then on the compared one.
    pub rounds: usize,
    /// How long one call may take, from originate to its end.
    pub call_timeout: Duration,
    /// Processes whose CPU time is reported besides FreeSWITCH: `name` (matched against
    /// /proc/<pid>/comm) or a pid.
    pub procs: Vec<String>,
    /// FreeSWITCH's process: `freeswitch` by default.
    pub switch_proc: String,
    /// Serve the comparison's flow (`/loadtest/piston`, `/loadtest/httapi`) here.
    pub webapp: Option<SocketAddr>,
    /// Calls run before the measured rounds (connections, caches), not counted.
    pub warmup: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            esl: "127.0.0.1:8021".into(),
            password: "ClueCon".into(),
            calls: 100,
            concurrency: 10,
            extension: "9000".into(),
            compare: None,
            caller: "9001".into(),
            vars: Vec::new(),
            ext_vars: Vec::new(),
            compare_vars: Vec::new(),
            rounds: 1,
            call_timeout: Duration::from_secs(30),
            procs: Vec::new(),
            switch_proc: "freeswitch".into(),
            webapp: None,
            warmup: 0,
        }
    }
}

/// Runs the load and returns the report (printed by the caller).
pub async fn run(opts: LoadOptions) -> Result<Report, LoadError> {
    check(&opts)?;
    let _web = match opts.webapp {
        Some(addr) => Some(webapp::serve(addr).await?),
        None => None,
    };
    let mut names = vec![opts.switch_proc.clone()];
    names.extend(opts.procs.iter().cloned());
    let procs = procstat::Procs::find(&names)?;
    for (name, pids) in procs.several() {
        // Every process of that name is summed: say so, a stray one would skew the numbers.
        tracing::warn!(process = %name, ?pids, "several processes have this name: their CPU is summed (name a pid with --proc to measure one)");
    }
    let options = Options {
        job_timeout: opts.call_timeout,
        event_capacity: 65_536,
        ..Options::default()
    };
    let fs = Client::connect_with(opts.esl.as_str(), &opts.password, options).await?;
    let tracker = Tracker::start(fs.clone()).await?;
    let mut report = Report::new(&opts, procs.names());
    let mut plan = vec![(opts.extension.clone(), opts.ext_vars.clone())];
    if let Some(c) = &opts.compare {
        plan.push((c.clone(), opts.compare_vars.clone()));
    }
    for (ext, vars) in &plan {
        if opts.warmup > 0 {
            let warm = Round::new(&opts, ext, vars, opts.warmup);
            warm.run(&fs, &tracker).await;
        }
    }
    for _ in 0..opts.rounds.max(1) {
        for (ext, vars) in &plan {
            let round = Round::new(&opts, ext, vars, opts.calls);
            let before = procs.sample()?;
            let started = Instant::now();
            let outcomes = round.run(&fs, &tracker).await;
            let wall = started.elapsed();
            let cpu = procs.sample()?.since(&before);
            report.add(ext, RunStats::new(outcomes, wall, cpu));
        }
    }
    tracker.stop();
    let _ = fs.exit().await;
    Ok(report)
}

fn check(opts: &LoadOptions) -> Result<(), LoadError> {
    if opts.calls == 0 || opts.concurrency == 0 {
        return Err(LoadError::Usage(
            "calls and concurrency must be at least 1".into(),
        ));
    }
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'))
    };
    for ext in [
        Some(&opts.extension),
        opts.compare.as_ref(),
        Some(&opts.caller),
    ]
    .into_iter()
    .flatten()
    {
        if !word(ext) {
            return Err(LoadError::Usage(format!("{ext:?} is not an extension")));
        }
    }
    let all = opts
        .vars
        .iter()
        .chain(&opts.ext_vars)
        .chain(&opts.compare_vars);
    for (name, value) in all {
        let bad = |c: char| c.is_control() || matches!(c, ' ' | ',' | '{' | '}' | '\'' | '"');
        if !word(name) || value.chars().any(bad) {
            return Err(LoadError::Usage(format!(
                "variable {name}={value:?}: names are letters, digits and _-.; values have no spaces, commas, braces or quotes"
            )));
        }
    }
    Ok(())
}

/// One batch of calls to one extension.
struct Round<'a> {
    opts: &'a LoadOptions,
    extension: &'a str,
    vars: &'a [(String, String)],
    calls: usize,
}

/// How one call ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// None when the call worked; else why not.
    pub failure: Option<String>,
    /// CHANNEL_CREATE → first PLAYBACK_START of the B leg, from FreeSWITCH's timestamps.
    pub first_audio: Option<Duration>,
}

impl<'a> Round<'a> {
    fn new(
        opts: &'a LoadOptions,
        extension: &'a str,
        vars: &'a [(String, String)],
        calls: usize,
    ) -> Self {
        Round {
            opts,
            extension,
            vars,
            calls,
        }
    }

    async fn run(&self, fs: &Client, tracker: &Tracker) -> Vec<Outcome> {
        let slots = Arc::new(Semaphore::new(self.opts.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.calls {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let cmd_tag = uuid::Uuid::new_v4().simple().to_string();
            let cmd = self.originate(&cmd_tag);
            let (fs, tracker) = (fs.clone(), tracker.clone());
            let limit = self.opts.call_timeout;
            tasks.spawn(async move {
                let outcome = one_call(&fs, &tracker, &cmd, &cmd_tag, limit).await;
                drop(permit);
                outcome
            });
        }
        let mut outcomes = Vec::with_capacity(self.calls);
        while let Some(done) = tasks.join_next().await {
            outcomes.push(done.unwrap_or_else(|e| Outcome {
                failure: Some(format!("load task failed: {e}")),
                first_audio: None,
            }));
        }
        outcomes
    }

    /// `originate {vars}loopback/<ext>/default <caller> XML default`.
    fn originate(&self, tag: &str) -> String {
        let mut vars = vec![format!("pivot_loadtest={tag}")];
        for (n, v) in self.opts.vars.iter().chain(self.vars) {
            vars.push(format!("{n}={v}"));
        }
        format!(
            "originate {{{}}}loopback/{}/default {} XML default",
            vars.join(","),
            self.extension,
            self.opts.caller
        )
    }
}

/// Originates one call and follows it to its end.
async fn one_call(
    fs: &Client,
    tracker: &Tracker,
    cmd: &str,
    tag: &str,
    limit: Duration,
) -> Outcome {
    let ended = tracker.expect(tag);
    let fail = |why: String| Outcome {
        failure: Some(why),
        first_audio: None,
    };
    let job = match fs.bgapi_job(cmd).await {
        Ok(job) => job,
        Err(e) => {
            tracker.forget(tag);
            return fail(format!("originate: {e}"));
        }
    };
    let deadline = tokio::time::Instant::now() + limit;
    match job.result(limit).await {
        Ok(r) if r.starts_with("+OK") => {}
        Ok(r) => {
            tracker.forget(tag);
            return fail(format!("originate: {}", r.trim()));
        }
        Err(e) => {
            tracker.forget(tag);
            return fail(format!("originate: {e}"));
        }
    }
    match tokio::time::timeout_at(deadline, ended).await {
        Ok(Ok(leg)) => leg.outcome(),
        Ok(Err(_)) => fail("the event socket connection ended".into()),
        Err(_) => {
            tracker.forget(tag);
            // Leave nothing behind: the call is ended by its tag.
            let _ = fs
                .api(&format!("hupall NORMAL_CLEARING pivot_loadtest {tag}"))
                .await;
            fail(format!("did not end within {limit:?}"))
        }
    }
}
