//! `pivot demo`: pivot's main job end to end on one machine with nothing installed. pivot
//! starts as `pivot serve` would (free local ports, a throwaway database, one account), a
//! built-in sample web app serves the voicemail example, the simulated FreeSWITCH places
//! one call through the real event socket, and the debug records are read back through
//! the REST API. The report holds everything; `render` makes it readable.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use super::channel::SimCall;
use super::peer::PeerReport;
use super::simulate::failures;
use super::stage::Stage;
use super::timeline::Timeline;
use super::webapp::{Recording, SampleApp};
use super::SimError;
use crate::config::AccountConfig;

/// The demo's account (any 32 hex digits would do).
pub const DEMO_ACCOUNT: &str = "de0de0de0de0de0de0de0de0de0de0de";

#[derive(Debug, Clone, Copy, Default)]
pub struct DemoOptions {
    /// Applications finish at once (the test suite's mode).
    pub fast: bool,
}

/// Everything the demo saw.
pub struct DemoReport {
    pub timeline: Timeline,
    pub peer: PeerReport,
    pub esl: SocketAddr,
    pub api: SocketAddr,
    pub voice_url: String,
    /// What the REST API calls answered, one line each.
    pub api_calls: Vec<String>,
    /// The call's debug records as the REST API returned them, oldest first.
    pub debug_records: Vec<Value>,
    /// Recordings the sample web app received.
    pub recordings: Vec<Recording>,
    /// pivot's failback notes (none when the demo works).
    pub failures: Vec<String>,
}

/// Runs the demo; `Ok` means the call ran and the debug log was read back.
pub async fn demo(opts: DemoOptions) -> Result<DemoReport, SimError> {
    let timeline = Timeline::new();
    let web = SampleApp::start(&timeline).await?;
    let api_key = uuid::Uuid::new_v4().simple().to_string();
    let account = AccountConfig {
        id: DEMO_ACCOUNT
            .parse()
            .map_err(|e| SimError::Usage(format!("demo account: {e}")))?,
        name: "Demo".into(),
        api_key: api_key.clone(),
    };
    let secret = web.signing_secret();
    let mut stage = Stage::start(&timeline, |c| {
        c.default_account = account.id.clone();
        let secrets = [(account.id.clone(), vec![secret])].into_iter().collect();
        c.signing = crate::pivot::sign::Signer::new(secrets);
        c.accounts = vec![account];
    })
    .await?;
    let mut call = SimCall::new()
        .var("pivot_voice_url", &web.voice_url())
        .var("pivot_debug", "true");
    call.hangup_in_record = true;
    call.hangup_after = Some(Duration::from_secs(60));
    call.fast = opts.fast;
    let placed = stage.call(call).await;
    let rest = match &placed {
        Ok(peer) => Some(debug_log(stage.api, &api_key, &peer.call_id).await),
        Err(_) => None,
    };
    let (esl, api) = (stage.esl, stage.api);
    let stopped = stage.stop().await;
    let peer = placed?;
    let (api_calls, debug_records) = rest.unwrap_or_else(|| Ok(Default::default()))?;
    stopped?;
    Ok(DemoReport {
        failures: failures(&timeline),
        recordings: web.recordings(),
        voice_url: web.voice_url(),
        timeline,
        peer,
        esl,
        api,
        api_calls,
        debug_records,
    })
}

/// Sends a request and reads the Crossbar envelope.
async fn envelope(req: reqwest::RequestBuilder) -> Result<(u16, Value), SimError> {
    let resp = req.send().await.map_err(|e| SimError::Api(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| SimError::Api(e.to_string()))?;
    let value = serde_json::from_slice(&body)
        .map_err(|e| SimError::Api(format!("answer {status} is not JSON: {e}")))?;
    Ok((status, value))
}

/// Logs in with the demo's API key and reads the call's debug records.
async fn debug_log(
    api: SocketAddr,
    api_key: &str,
    call_id: &str,
) -> Result<(Vec<String>, Vec<Value>), SimError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| SimError::Http(e.to_string()))?;
    let (token, login) = login(&client, api, api_key).await?;
    let (fetched, records) = records(&client, api, &token, call_id).await?;
    Ok((vec![login, fetched], records))
}

/// `PUT /v2/api_auth`: the token, and a line saying how it went.
async fn login(
    client: &reqwest::Client,
    api: SocketAddr,
    api_key: &str,
) -> Result<(String, String), SimError> {
    let auth = client
        .put(format!("http://{api}/v2/api_auth"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json!({"data": {"api_key": api_key}}).to_string());
    let (status, env) = envelope(auth).await?;
    let token = env["auth_token"].as_str().unwrap_or_default().to_string();
    if status != 201 || token.is_empty() {
        return Err(SimError::Api(format!(
            "PUT /v2/api_auth answered {status}: {}",
            env["message"]
        )));
    }
    let line = format!(
        "PUT /v2/api_auth → {status}, token {}… for account {}",
        token.chars().take(8).collect::<String>(),
        env["data"]["account_id"].as_str().unwrap_or("?")
    );
    Ok((token, line))
}

/// `GET .../pivot/debug/{call_id}`. The records are written off the call's path
/// (contract 6), so this waits for them, for a bounded time.
async fn records(
    client: &reqwest::Client,
    api: SocketAddr,
    token: &str,
    call_id: &str,
) -> Result<(String, Vec<Value>), SimError> {
    let path = format!("/v2/accounts/{DEMO_ACCOUNT}/pivot/debug/{call_id}");
    for _ in 0..100 {
        let get = client
            .get(format!("http://{api}{path}"))
            .header("X-Auth-Token", token);
        let (status, env) = envelope(get).await?;
        let records = env["data"].as_array().cloned().unwrap_or_default();
        // One request: the request, the response body and the response head.
        if status == 200 && records.len() >= 3 {
            let line = format!("GET {path} → {status}, {} records", records.len());
            return Ok((line, records));
        }
        if status != 200 && status != 404 {
            return Err(SimError::Api(format!(
                "GET {path} answered {status}: {}",
                env["message"]
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(SimError::Api(format!(
        "the call's debug records did not arrive within 5 s ({path})"
    )))
}

impl DemoReport {
    /// The demo's printout.
    pub fn render(&self) -> String {
        let mut out = self.intro();
        let _ = writeln!(out, "timeline of call {}:", self.peer.call_id);
        out.push_str(&self.timeline.render());
        out.push('\n');
        for r in &self.recordings {
            let _ = writeln!(
                out,
                "recording: {} ({} bytes of {}) was uploaded to the web app (PUT /recordings/{})",
                r.name, r.bytes, r.content_type, r.name
            );
        }
        let _ = writeln!(out, "\ndebug log read back through the REST API:");
        for line in &self.api_calls {
            let _ = writeln!(out, "  {line}");
        }
        for (i, rec) in self.debug_records.iter().enumerate() {
            let _ = writeln!(out, "    {}. {}", i + 1, describe(rec));
        }
        let verdict = match (self.failures.first(), self.peer.exited) {
            (None, true) => {
                "demo finished: the flow ran, pivot hung up its side and stopped cleanly"
            }
            (Some(_), _) => "demo finished, but the flow took a failback (see the timeline)",
            (None, false) => "demo finished, but pivot did not end the call with `exit`",
        };
        let _ = writeln!(out, "\n{verdict}");
        out
    }

    fn intro(&self) -> String {
        format!(
            "pivot demo: one simulated call through pivot's real event socket, no FreeSWITCH needed\n\n\
             \x20 pivot      event socket {}, REST API http://{}\n\
             \x20 web app    {} (the voicemail example: say, then record_caller)\n\
             \x20 caller     1001 calls 3004, listens, leaves a message and hangs up\n\n",
            self.esl, self.api, self.voice_url
        )
    }

    /// True when the call ran without a failback, pivot left cleanly, the recording
    /// arrived and the debug log was read back.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
            && self.peer.exited
            && !self.recordings.is_empty()
            && self.debug_records.len() >= 3
    }
}

/// One debug record on one line.
fn describe(rec: &Value) -> String {
    let s = |k: &str| rec[k].as_str().unwrap_or("").to_string();
    let iteration = &rec["iteration"];
    if rec.get("uri").is_some() {
        let method = s("method").to_ascii_uppercase();
        return format!("iteration {iteration}  request   {method} {}", s("uri"));
    }
    if rec.get("resp_body").is_some() {
        let body = s("resp_body");
        let shown: String = body.chars().take(60).collect();
        let more = if body.chars().count() > 60 { "…" } else { "" };
        return format!(
            "iteration {iteration}  response  body {shown}{more} ({} bytes)",
            body.len()
        );
    }
    if rec.get("resp_status_code").is_some() {
        let ct = rec["resp_headers"]["content-type"]
            .as_str()
            .unwrap_or("none");
        return format!(
            "iteration {iteration}  response  status {}, content-type {ct}",
            s("resp_status_code")
        );
    }
    format!(
        "iteration {iteration}  error     {}: {}",
        s("error_kind"),
        s("error_message")
    )
}
