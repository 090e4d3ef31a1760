//! `pivot replay CALL_ID [--iteration N]`: the request pivot logged for a call (from its
//! debug records) sent again to the web app, with the same method, URL, headers and body,
//! signed anew when the account has a signing secret; then the new answer next to the
//! logged one (status, a line diff of the bodies) and whether pivot would run it (the
//! server's own validators, as `pivot check`). For a developer who changed the web app
//! and wants to know whether the failing call would now work.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::{ApiClient, CliError};
use crate::check::{check_bytes, CheckReport};
use crate::pivot::sign::{Signer, HEADER as SIGNATURE};

/// Largest new answer read (pivot's own default `http.max_body_bytes`).
const MAX_BODY: usize = 1024 * 1024;

/// Headers of the logged request not sent again: the signature is made anew, the rest
/// belong to the connection.
const NOT_REPLAYED: [&str; 4] = [SIGNATURE, "host", "content-length", "connection"];

pub struct ReplayOptions {
    pub call_id: String,
    /// The request to send again (its debug records' `iteration`); the call's last one
    /// when not given.
    pub iteration: Option<u32>,
    /// Signs the request like pivot would (`[signing]` of the config, or `--signing-secret`).
    pub signer: Option<Signer>,
    pub timeout: Duration,
}

/// The logged request and both answers.
pub struct ReplayReport {
    pub call_id: String,
    pub iteration: u32,
    pub method: String,
    pub url: String,
    pub signed: bool,
    pub logged: Answer,
    pub now: Answer,
    /// A unified line diff, logged → now (JSON bodies pretty-printed first).
    pub diff: String,
    /// The validators' report on the new answer (None when it was not a 2xx with a body).
    pub check: Option<CheckReport>,
}

/// One answer: a response, or the failure in place of one.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: Option<u16>,
    pub content_type: String,
    pub body: String,
    /// `kind: message` when there was no usable response.
    pub error: Option<String>,
}

/// Finds the request in the call's debug records, sends it again and compares.
pub async fn replay(client: &ApiClient, opts: ReplayOptions) -> Result<ReplayReport, CliError> {
    let records = client.debug(&opts.call_id, None).await?;
    let records = records.as_array().cloned().unwrap_or_default();
    let iteration = match opts.iteration {
        Some(n) => n,
        None => last_iteration(&records)
            .ok_or_else(|| CliError::NotFound("the call's debug records hold no request".into()))?,
    };
    let of_iteration: Vec<&Value> = records
        .iter()
        .filter(|r| r["iteration"].as_u64() == Some(u64::from(iteration)))
        .collect();
    let request = of_iteration
        .iter()
        .find(|r| r.get("method").is_some())
        .ok_or_else(|| CliError::NotFound(format!("no request with iteration {iteration}")))?;
    let logged = logged_answer(&of_iteration);
    let method = request["method"]
        .as_str()
        .unwrap_or("get")
        .to_ascii_uppercase();
    let url = request["uri"].as_str().unwrap_or("").to_string();
    let body = request["req_body"].as_str().unwrap_or("").to_string();
    let headers = replayed_headers(&request["req_headers"]);
    let account = client.account.parse().ok();
    let signature = match (&opts.signer, &account) {
        (Some(s), Some(a)) => s.header(a, &method, &url, body.as_bytes(), SystemTime::now()),
        _ => None,
    };
    let sent = Sent {
        method: &method,
        url: &url,
        headers,
        signature: signature.clone(),
        body: &body,
    };
    let now = send(&sent, opts.timeout).await?;
    let check = now
        .status
        .filter(|s| (200..300).contains(s))
        .map(|_| check_bytes(&doc_name(&now.content_type), now.body.as_bytes()));
    Ok(ReplayReport {
        call_id: opts.call_id,
        iteration,
        diff: diff(&logged, &now),
        method,
        url,
        signed: signature.is_some(),
        logged,
        now,
        check,
    })
}

/// The highest iteration that has a request record.
fn last_iteration(records: &[Value]) -> Option<u32> {
    records
        .iter()
        .filter(|r| r.get("method").is_some())
        .filter_map(|r| r["iteration"].as_u64())
        .max()
        .and_then(|n| u32::try_from(n).ok())
}

/// What the last attempt of the iteration got: a response (body and head), or an error.
fn logged_answer(records: &[&Value]) -> Answer {
    let mut answer = Answer::default();
    for r in records {
        if r.get("method").is_some() {
            // A new attempt: forget what the previous one got.
            answer = Answer::default();
        }
        if let Some(body) = r["resp_body"].as_str() {
            answer.body = body.to_string();
        }
        if let Some(code) = r["resp_status_code"].as_str() {
            answer.status = code.parse().ok();
            let ct = &r["resp_headers"]["content-type"];
            answer.content_type = ct.as_str().unwrap_or("").to_string();
        }
        if let (Some(kind), Some(msg)) = (r["error_kind"].as_str(), r["error_message"].as_str()) {
            answer.error = Some(format!("{kind}: {msg}"));
        }
    }
    answer
}

fn replayed_headers(logged: &Value) -> Vec<(String, String)> {
    let Some(obj) = logged.as_object() else {
        return Vec::new();
    };
    obj.iter()
        .filter(|(name, _)| !NOT_REPLAYED.iter().any(|n| n.eq_ignore_ascii_case(name)))
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
        .collect()
}

struct Sent<'a> {
    method: &'a str,
    url: &'a str,
    headers: Vec<(String, String)>,
    signature: Option<String>,
    body: &'a str,
}

async fn send(sent: &Sent<'_>, timeout: Duration) -> Result<Answer, CliError> {
    let usage = |e: String| CliError::Usage(format!("the logged request cannot be sent: {e}"));
    let method =
        reqwest::Method::from_bytes(sent.method.as_bytes()).map_err(|e| usage(e.to_string()))?;
    // pivot's own User-Agent (its client sets it, so the debug log does not hold it).
    let http = reqwest::Client::builder()
        .user_agent(format!("pivot/{}", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .build()
        .map_err(|e| usage(e.to_string()))?;
    let mut req = http.request(method, sent.url);
    for (name, value) in &sent.headers {
        req = req.header(name, value);
    }
    if let Some(sig) = &sent.signature {
        req = req.header(SIGNATURE, sig);
    }
    if sent.method != "GET" {
        req = req.body(sent.body.to_string());
    }
    let mut resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) => {
            return Ok(Answer {
                error: Some(format!("no answer: {e}")),
                ..Answer::default()
            })
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = Vec::new();
    let mut error = None;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => {
                body.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                error = Some(format!("body over {MAX_BODY} bytes"));
                break;
            }
            Ok(None) => break,
            Err(e) => {
                error = Some(format!("body cut short: {e}"));
                break;
            }
        }
    }
    Ok(Answer {
        status: Some(status),
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
        error,
    })
}

/// A name whose extension tells `check_bytes` the format (else it looks at the body).
fn doc_name(content_type: &str) -> String {
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("json") {
        "new answer.json".into()
    } else if ct.contains("xml") {
        "new answer.xml".into()
    } else {
        "new answer".into()
    }
}

/// The bodies' line diff; JSON is pretty-printed first so a change shows on its own line.
fn diff(logged: &Answer, now: &Answer) -> String {
    let (old, new) = (comparable(&logged.body), comparable(&now.body));
    let status = |a: &Answer| a.status.map_or("no response".into(), |s| s.to_string());
    let header = (
        format!("logged ({})", status(logged)),
        format!("now ({})", status(now)),
    );
    similar::udiff::unified_diff(
        similar::Algorithm::Myers,
        &old,
        &new,
        3,
        Some((&header.0, &header.1)),
    )
}

fn comparable(body: &str) -> String {
    let mut text = match serde_json::from_str::<Value>(body) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| body.to_string()),
        Err(_) => body.to_string(),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

impl ReplayReport {
    /// The new answer is a 2xx whose flow pivot would run.
    pub fn works(&self) -> bool {
        self.now.error.is_none() && self.check.as_ref().is_some_and(|c| c.passes(false))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let o = &mut out;
        let signed = if self.signed { ", signed" } else { "" };
        let _ = writeln!(
            o,
            "replay of call {}, request {}: {} {}{signed}",
            self.call_id, self.iteration, self.method, self.url
        );
        let _ = writeln!(o, "  logged: {}", describe(&self.logged));
        let _ = writeln!(o, "  now:    {}", describe(&self.now));
        if self.diff.is_empty() {
            let _ = writeln!(o, "\nthe body is the same");
        } else {
            let _ = write!(o, "\n{}", self.diff);
        }
        let _ = writeln!(o);
        match &self.check {
            Some(check) => o.push_str(&check.render()),
            None => {
                let _ = writeln!(o, "new answer: not a flow (no 2xx response)");
            }
        }
        let verdict = if self.works() {
            "the call would now run the web app's flow"
        } else {
            "the call would still fail: pivot would take the fallback_url or the failback"
        };
        let _ = writeln!(o, "{verdict}");
        out
    }

    pub fn to_json(&self) -> Value {
        let answer = |a: &Answer| json!({"status": a.status, "content_type": a.content_type, "body": a.body, "error": a.error});
        json!({
            "call_id": self.call_id,
            "iteration": self.iteration,
            "method": self.method,
            "url": self.url,
            "signed": self.signed,
            "logged": answer(&self.logged),
            "now": answer(&self.now),
            "diff": self.diff,
            "check": self.check.as_ref().map(CheckReport::render),
            "works": self.works(),
        })
    }
}

fn describe(a: &Answer) -> String {
    let mut s = match a.status {
        Some(status) => format!("{status} ({}, {} bytes)", a.content_type, a.body.len()),
        None => "no response".into(),
    };
    if let Some(e) = &a.error {
        s.push_str(&format!(": {e}"));
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_last_attempt_of_an_iteration_is_the_logged_answer() {
        let recs = [
            json!({"iteration": 2, "method": "get", "uri": "http://a/"}),
            json!({"iteration": 2, "error_kind": "connect", "error_message": "refused"}),
            json!({"iteration": 2, "method": "get", "uri": "http://a/"}),
            json!({"iteration": 2, "resp_body": "{}"}),
            json!({"iteration": 2, "resp_status_code": "500",
                   "resp_headers": {"content-type": "application/json"}}),
        ];
        let refs: Vec<&Value> = recs.iter().collect();
        let a = logged_answer(&refs);
        assert_eq!(
            (a.status, a.error, a.body.as_str()),
            (Some(500), None, "{}")
        );
        assert_eq!(last_iteration(&recs), Some(2));
    }

    #[test]
    fn json_bodies_are_diffed_line_by_line() {
        let logged = Answer {
            body: r#"{"module":"say","data":{"text":"a"}}"#.into(),
            status: Some(200),
            ..Answer::default()
        };
        let now = Answer {
            body: r#"{"module":"say","data":{"text":"b"}}"#.into(),
            status: Some(200),
            ..Answer::default()
        };
        let d = diff(&logged, &now);
        assert!(d.contains("-    \"text\": \"a\""), "{d}");
        assert!(d.contains("+    \"text\": \"b\""), "{d}");
        assert!(d.contains("\"module\": \"say\""), "context lines: {d}");
    }

    #[test]
    fn signatures_and_connection_headers_are_not_sent_again() {
        let h = replayed_headers(&json!({
            "X-Pivot-Signature": "t=1,v1=ab", "Host": "a", "Accept": "application/json"
        }));
        assert_eq!(h, [("Accept".to_string(), "application/json".to_string())]);
    }
}
