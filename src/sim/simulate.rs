//! `pivot simulate`: the customer's real web app against a simulated call. pivot runs as
//! `pivot serve` would; the simulated FreeSWITCH places one call whose `pivot_*` channel
//! variables point at the web app, and plays the caller's script (digits, hangup time).
//! With a signing secret, pivot signs its requests as it would for a configured account.

use std::time::Duration;

use serde_json::{json, Value};

use super::channel::SimCall;
use super::peer::PeerReport;
use super::stage::Stage;
use super::timeline::{Source, Timeline};
use super::SimError;
use crate::callflow::{HttpMethod, HttpUrl, ReqFormat};
use crate::pivot::sign::Signer;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// The web app's voice URL.
    pub url: String,
    /// `piston` or `twiml`: the request parameters sent.
    pub format: String,
    /// `get` or `post`.
    pub method: String,
    pub from: String,
    pub to: String,
    /// One group per digit collection (see [`super::parse_digits`]).
    pub digits: Vec<String>,
    /// The caller hangs up this long after the call started (`None`: never; pivot ends it).
    pub hangup_after: Option<Duration>,
    /// Applications finish at once.
    pub fast: bool,
    /// Sign every request with this secret (`X-Pivot-Signature`), as `[signing]` would for
    /// the call's account, so the web app's verification can be tried.
    pub signing_secret: Option<String>,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            url: String::new(),
            format: "piston".into(),
            method: "get".into(),
            from: "1001".into(),
            to: "3004".into(),
            digits: Vec::new(),
            hangup_after: Some(Duration::from_secs(30)),
            fast: false,
            signing_secret: None,
        }
    }
}

/// How the simulated call went.
#[derive(Clone)]
pub struct SimulateReport {
    pub timeline: Timeline,
    pub peer: PeerReport,
    /// pivot's `failback: ...` notes (also "no route: ..." when the call found no flow).
    pub failures: Vec<String>,
}

impl SimulateReport {
    /// True when the flow ran without a failback and pivot ended the call cleanly.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.peer.exited
    }

    /// A one-line verdict.
    pub fn verdict(&self) -> String {
        let cause = self.peer.hangup_cause.as_deref().unwrap_or("none");
        match (self.ok(), self.failures.first()) {
            (true, _) => format!("OK: the flow ran without a failback (hangup cause {cause})"),
            (false, Some(f)) => format!("FAILED: {f}"),
            (false, None) => "FAILED: pivot did not end the call with `exit`".into(),
        }
    }

    pub fn render(&self) -> String {
        format!(
            "timeline of call {}:\n{}\n{}\n",
            self.peer.call_id,
            self.timeline.render(),
            self.verdict()
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "call_id": self.peer.call_id,
            "ok": self.ok(),
            "hangup_cause": self.peer.hangup_cause,
            "failures": self.failures,
            "uploads": self.peer.uploads,
            "timeline": self.timeline.to_json(),
        })
    }
}

/// The pivot notes that mean the flow did not run as the web app meant it.
pub(super) fn failures(timeline: &Timeline) -> Vec<String> {
    timeline
        .entries()
        .into_iter()
        .filter(|e| e.source == Source::Pivot)
        .filter(|e| e.text.starts_with("failback:") || e.text.starts_with("no route:"))
        .map(|e| e.text)
        .collect()
}

fn check(opts: &SimulateOptions) -> Result<(), SimError> {
    let usage =
        |what: &str, e: crate::callflow::InvalidValue| SimError::Usage(format!("{what}: {}", e.0));
    HttpUrl::new(&opts.url).map_err(|e| usage("--url", e))?;
    ReqFormat::parse(&opts.format).map_err(|e| usage("--format", e))?;
    HttpMethod::parse(&opts.method).map_err(|e| usage("--method", e))?;
    if opts.signing_secret.as_ref().is_some_and(|s| s.is_empty()) {
        return Err(SimError::Usage(
            "--signing-secret: must not be empty".into(),
        ));
    }
    for (what, number) in [("--from", &opts.from), ("--to", &opts.to)] {
        let ok = !number.is_empty()
            && number.len() <= 64
            && number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+*#-_.".contains(c));
        if !ok {
            return Err(SimError::Usage(format!(
                "{what}: {number:?} is not a number or SIP user"
            )));
        }
    }
    Ok(())
}

/// Runs one simulated call against `opts.url` and reports its timeline.
pub async fn simulate(opts: SimulateOptions) -> Result<SimulateReport, SimError> {
    check(&opts)?;
    let timeline = Timeline::new();
    let secret = opts.signing_secret.clone();
    let mut stage = Stage::start(&timeline, |c| {
        if let Some(secret) = secret {
            let account = c.default_account.clone();
            c.signing = Signer::new([(account, vec![secret])].into_iter().collect());
        }
    })
    .await?;
    let mut call = SimCall::new()
        .var("pivot_voice_url", &opts.url)
        .var("pivot_req_format", &opts.format)
        .var("pivot_method", &opts.method);
    call.from = opts.from.clone();
    call.to = opts.to.clone();
    call.digits = opts.digits.clone();
    call.hangup_after = opts.hangup_after;
    call.fast = opts.fast;
    let placed = stage.call(call).await;
    let stopped = stage.stop().await;
    let peer = placed?;
    stopped?;
    Ok(SimulateReport {
        failures: failures(&timeline),
        timeline,
        peer,
    })
}
