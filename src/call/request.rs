//! The requests a call makes to web apps: a `pivot` node's, and the ones a TwiML document
//! asks for. Each is counted against `http.max_requests_per_call`, built with the parameters
//! of its format, signed, logged (debug log when asked, each attempt with its number), sent
//! while the socket is still read (a hangup stops the wait), retried inside its time budget
//! when that is safe, and its answer translated. When it fails, the node's `fallback_url`
//! is asked (with `ErrorCode` and `ErrorUrl`), and when that fails too, the failback runs.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::callflow::{HttpUrl, Node, PivotRequest, ReqFormat};
use crate::pivot::codes::error_code;
use crate::pivot::fetch::{build_request, shown, FetchError, RequestSpec, Response};
use crate::pivot::params::{piston_params, twiml_params, ParamValue, TwimlExtra};
use crate::pivot::retry::Attempts;
use crate::pivot::translate;
use crate::store::{DebugRecord, Entry};

use super::note::CallNote;
use super::runner::{uses_request_base, CallRun, Step};
use super::session::SessionError;

type Params = Vec<(String, ParamValue)>;

/// Why a request gave no flow: a failure kind of `crate::pivot::codes` and its message.
struct Failure {
    kind: String,
    message: String,
}

/// How asking one URL ended.
enum Asked {
    Flow(Box<Node>),
    Failed(Failure),
    /// The call ended first.
    HungUp,
}

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// A `pivot` node: a request with the digits collected so far.
    pub(super) async fn pivot(&mut self, req: PivotRequest) -> Result<Step, SessionError> {
        let extra = TwimlExtra {
            digits: self.digits.values().next_back().cloned(),
            ..TwimlExtra::default()
        };
        self.request(req, extra).await
    }

    /// One request to a web app and the flow it answers: `voice_url`, then `fallback_url`,
    /// then the failback. `extra` is what a TwiML request adds (digits, recording, dial
    /// status).
    pub(super) async fn request(
        &mut self,
        req: PivotRequest,
        extra: TwimlExtra,
    ) -> Result<Step, SessionError> {
        // What the flow queued before runs first (a request follows its prompts, as in
        // Kazoo); its answer then starts right after them.
        self.session.wait_idle().await?;
        if self.session.is_over() {
            return Ok(Step::Over);
        }
        if let Some(msg) = self.over_limit() {
            return self.failback(&req, "request_limit", &msg).await;
        }
        let Some(params) = self.params(&req, &extra) else {
            return Ok(Step::Over);
        };
        let primary = match self.ask(&req, &req.voice_url, &params).await? {
            Asked::Flow(flow) => return Ok(Step::Flow(flow)),
            Asked::HungUp => return Ok(Step::Over),
            Asked::Failed(f) => f,
        };
        match req.fallback_url.clone() {
            Some(fallback) => self.fallback(&req, &fallback, params, primary).await,
            None => self.failback(&req, &primary.kind, &primary.message).await,
        }
    }

    /// The primary failed: asks `fallback` with the same parameters and why; the failback
    /// runs only when that fails too (`pivot_failure` names both).
    async fn fallback(
        &mut self,
        req: &PivotRequest,
        fallback: &HttpUrl,
        params: Params,
        primary: Failure,
    ) -> Result<Step, SessionError> {
        if let Some(msg) = self.over_limit() {
            let msg = format!("{}; fallback_url not asked: {msg}", primary.message);
            return self.failback(req, &primary.kind, &msg).await;
        }
        let asking = format!("{}; asking fallback_url", primary.message);
        if self.session.noting() {
            let url = shown(fallback).to_string();
            self.session.note(CallNote::Fallback {
                iteration: self.summary.requests,
                kind: primary.kind.as_str().into(),
                message: primary.message.as_str().into(),
                url: url.into(),
            });
        }
        if req.debug {
            self.debug(Entry::Error {
                kind: primary.kind.clone(),
                message: asking,
            });
        }
        self.count_request();
        self.engine
            .http
            .stats
            .fallbacks
            .fetch_add(1, Ordering::Relaxed);
        let params = with_error(params, &primary, &req.voice_url);
        match self.ask(req, fallback, &params).await? {
            Asked::Flow(flow) => Ok(Step::Flow(flow)),
            Asked::HungUp => Ok(Step::Over),
            Asked::Failed(f) => {
                let msg = format!(
                    "{}; fallback_url failed too: {}: {}",
                    primary.message, f.kind, f.message
                );
                self.failback(req, &primary.kind, &msg).await
            }
        }
    }

    /// Why no further request may be made, if so.
    fn over_limit(&self) -> Option<String> {
        let made = self.summary.requests;
        (made >= self.engine.config.http.max_requests_per_call)
            .then(|| format!("this call already made {made} requests (http.max_requests_per_call)"))
    }

    fn count_request(&mut self) {
        self.summary.requests += 1;
        self.engine.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.engine.stats.accounts.request(&self.label);
    }

    /// Counts the request and gives its parameters; None when the call's facts are
    /// unknown (the call was never routed).
    fn params(&mut self, req: &PivotRequest, extra: &TwimlExtra) -> Option<Params> {
        self.count_request();
        if req.cdr_url.is_some() {
            self.owed.cdr_url = req.cdr_url.clone().map(Box::new);
        }
        let answered = self.session.state().is_answered();
        let info = self.info.as_mut()?;
        info.answered = answered;
        let info = &*info;
        let params = match req.req_format {
            ReqFormat::Piston => piston_params(info, &self.digits),
            ReqFormat::Twiml => twiml_params(info, extra),
        };
        self.digits.clear();
        Some(params)
    }

    /// Asks `url` (attempts and retries) and translates its answer.
    async fn ask(
        &mut self,
        req: &PivotRequest,
        url: &HttpUrl,
        params: &Params,
    ) -> Result<Asked, SessionError> {
        let started = Instant::now();
        let answer = self.attempts(req, url, params).await?;
        let took = started.elapsed();
        let stats = &self.engine.stats;
        stats.request_latency.observe(took);
        stats.accounts.latency(&self.label, took);
        let resp = match answer {
            Ok(resp) => resp,
            Err(None) => return Ok(Asked::HungUp),
            Err(Some(failure)) => {
                stats.accounts.failure(&self.label, &failure.kind);
                return Ok(Asked::Failed(failure));
            }
        };
        match translate(&resp, url, &self.engine.flow_limits) {
            Ok(mut flow) => {
                // The operator's web app may send the call on to its own pages: URLs of the
                // answer with the origin of an operator URL are the operator's too, unless a
                // redirect took the request to another origin.
                if url.same_origin(&resp.url) {
                    flow.inherit_trust(url);
                }
                // A TwiML document's own requests are made like the one that fetched it;
                // kept only when it makes some (every call would hold a copy otherwise).
                self.twiml.base = uses_request_base(&flow).then(|| Box::new(req.clone()));
                Ok(Asked::Flow(Box::new(flow)))
            }
            Err(e) => {
                stats.accounts.failure(&self.label, e.kind());
                Ok(Asked::Failed(Failure {
                    kind: e.kind().into(),
                    message: e.to_string(),
                }))
            }
        }
    }

    /// Sends the request to `url` until an answer comes, a failure that may not be retried,
    /// or the end of its retries or time budget. `Err(None)`: the call ended first.
    async fn attempts(
        &mut self,
        req: &PivotRequest,
        url: &HttpUrl,
        params: &Params,
    ) -> Result<Result<Response, Option<Failure>>, SessionError> {
        let mut spec = build_request(req, url, params);
        spec.account = Some(self.account.clone());
        let mut attempts = Attempts::new(req.timing(url), Instant::now());
        while let Some(attempt) = attempts.next(Instant::now()) {
            let mut one = spec.for_attempt(&attempt);
            self.engine.http.sign(&mut one);
            self.log_request(req, &one, attempt.number);
            let fetched = self
                .session
                .listen_while(self.engine.http.fetch(&one))
                .await?;
            let e = match fetched {
                None => return Ok(Err(self.debug_hangup(req))),
                Some(Ok(resp)) => {
                    self.note_response(req, &resp);
                    return Ok(Ok(resp));
                }
                Some(Err(e)) => e,
            };
            let delay = match self.retry_or_fail(req, &mut attempts, attempt.number, e) {
                Ok(delay) => delay,
                Err(failure) => return Ok(Err(Some(failure))),
            };
            let slept = self.session.listen_while(tokio::time::sleep(delay)).await?;
            if slept.is_none() {
                return Ok(Err(self.debug_hangup(req)));
            }
        }
        let total = attempts.timing().total.as_millis();
        Ok(Err(Some(Failure {
            kind: "timeout".into(),
            message: format!("{}: no answer within the total of {total} ms", shown(url)),
        })))
    }

    /// After a failed attempt: the wait before the next one (noted, counted and in the debug
    /// log), or the request's failure.
    fn retry_or_fail(
        &mut self,
        req: &PivotRequest,
        attempts: &mut Attempts,
        number: u32,
        e: FetchError,
    ) -> Result<Duration, Failure> {
        if let (true, Some(resp)) = (req.debug, e.response()) {
            self.debug_response(resp);
        }
        let Some(delay) = attempts.retry_after(&e, Instant::now()) else {
            return Err(Failure {
                kind: e.kind().into(),
                message: e.to_string(),
            });
        };
        self.engine
            .http
            .stats
            .retries
            .fetch_add(1, Ordering::Relaxed);
        let msg = format!(
            "attempt {number}: {e}; retrying in {} ms",
            delay.as_millis()
        );
        self.session.note(CallNote::Retry {
            iteration: self.summary.requests,
            kind: e.kind().into(),
            message: msg.as_str().into(),
        });
        if req.debug {
            self.debug(Entry::Error {
                kind: e.kind().into(),
                message: msg,
            });
        }
        Ok(delay)
    }

    /// Counts the request, builds, signs and logs its first attempt to `voice_url`: for a
    /// request sent once, whose answer is not run (the action of a recording the hangup
    /// ended). None when the call's facts are unknown.
    pub(super) fn prepare(
        &mut self,
        req: &PivotRequest,
        extra: &TwimlExtra,
    ) -> Option<RequestSpec> {
        let params = self.params(req, extra)?;
        let mut spec = build_request(req, &req.voice_url, &params);
        spec.account = Some(self.account.clone());
        let first =
            Attempts::new(req.timing(&req.voice_url), Instant::now()).next(Instant::now())?;
        let mut spec = spec.for_attempt(&first);
        self.engine.http.sign(&mut spec);
        self.log_request(req, &spec, 1);
        Some(spec)
    }

    /// A request owed after the hangup (a TwiML action whose verb the hangup ended); its
    /// answer is recorded but not run.
    pub(super) async fn request_after_hangup(&mut self, req: &PivotRequest, extra: &TwimlExtra) {
        if self.over_limit().is_some() {
            tracing::warn!(url = %req.voice_url, "action request not sent: request limit");
            return;
        }
        let Some(spec) = self.prepare(req, extra) else {
            return;
        };
        match self.engine.http.fetch(&spec).await {
            Ok(resp) => self.note_response(req, &resp),
            Err(e) => {
                tracing::warn!(url = %req.voice_url, error = %e, "action request after the hangup failed");
                if req.debug {
                    if let Some(resp) = e.response() {
                        self.debug_response(resp);
                    }
                    self.debug(Entry::Error {
                        kind: e.kind().into(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    fn log_request(&mut self, req: &PivotRequest, spec: &RequestSpec, attempt: u32) {
        if req.debug {
            // Debug turned on by this request, if it was not on from the start.
            self.start_timeline(Some(self.summary.requests));
        }
        self.session.note(CallNote::Request {
            iteration: self.summary.requests,
            attempt,
            method: spec.method.as_str().into(),
            url: spec.url.as_str().into(),
        });
        if req.debug {
            self.debug_request(spec);
        }
    }

    pub(super) fn note_response(&mut self, req: &PivotRequest, resp: &Response) {
        self.session.note(CallNote::Response {
            iteration: self.summary.requests,
            status: resp.status,
            bytes: resp.body.len(),
        });
        if req.debug {
            self.debug_response(resp);
        }
    }

    /// Logs the failure, records it, tells the channel (`pivot_failure`) and takes `_`.
    pub(super) async fn failback(
        &mut self,
        req: &PivotRequest,
        kind: &str,
        message: &str,
    ) -> Result<Step, SessionError> {
        self.engine.stats.failbacks.fetch_add(1, Ordering::Relaxed);
        self.engine.stats.failbacks_by_cause.inc(kind);
        self.engine.stats.accounts.failback(&self.label);
        tracing::warn!(kind, error = %message, url = %req.voice_url, "web app request failed: taking the failback");
        self.session.note(CallNote::Failback {
            iteration: self.summary.requests,
            kind: kind.into(),
            message: message.into(),
        });
        self.summary.failures.push(format!("{kind}: {message}"));
        if req.debug {
            self.debug(Entry::Error {
                kind: kind.into(),
                message: message.into(),
            });
        }
        self.setvar("pivot_failure", &format!("{kind}: {message}"))
            .await?;
        Ok(Step::Failback)
    }

    pub(super) fn debug(&self, entry: Entry) {
        if let Some(sink) = &self.engine.debug {
            sink.record(DebugRecord {
                call_id: self.facts.call_id.clone(),
                account_id: self.account.to_string(),
                iteration: self.summary.requests,
                created: SystemTime::now(),
                entry,
            });
        }
    }

    /// Records that the call ended before the answer; None, for "no failure: hung up".
    fn debug_hangup(&self, req: &PivotRequest) -> Option<Failure> {
        if req.debug {
            self.debug(Entry::Error {
                kind: "hangup".into(),
                message: "the call ended before the web app answered".into(),
            });
        }
        None
    }

    fn debug_request(&self, spec: &RequestSpec) {
        self.debug(Entry::Request {
            method: format!("{:?}", spec.method).to_ascii_lowercase(),
            uri: spec.url.to_string(),
            req_headers: spec.headers.clone(),
            req_body: spec.body.clone(),
        });
    }

    pub(super) fn debug_response(&self, resp: &Response) {
        self.debug(Entry::ResponseBody {
            resp_body: String::from_utf8_lossy(&resp.body).into_owned(),
        });
        self.debug(Entry::ResponseHead {
            status_code: resp.status,
            headers: resp.headers.clone(),
        });
    }
}

/// The parameters for a `fallback_url`: the same, plus why the primary failed.
fn with_error(mut params: Params, failure: &Failure, primary: &HttpUrl) -> Params {
    let mut url = primary.as_url().clone();
    url.set_fragment(None);
    params.extend([
        (
            "ErrorCode".to_string(),
            ParamValue::Str(error_code(&failure.kind).to_string()),
        ),
        (
            "ErrorKind".to_string(),
            ParamValue::Str(failure.kind.clone()),
        ),
        ("ErrorUrl".to_string(), ParamValue::Str(url.to_string())),
    ]);
    params
}
