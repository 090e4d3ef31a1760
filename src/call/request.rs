//! The requests a call makes to web apps: a `pivot` node's, and the ones a TwiML document
//! asks for. Each is counted against `http.max_requests_per_call`, built with the parameters
//! of its format, logged (debug log when asked), sent while the socket is still read (a
//! hangup stops the wait), and its answer translated; every failure takes the failback.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{PivotRequest, ReqFormat};
use crate::pivot::fetch::{build_request, RequestSpec, Response};
use crate::pivot::params::{piston_params, twiml_params, TwimlExtra};
use crate::pivot::translate;
use crate::store::{DebugRecord, Entry};

use super::runner::{CallRun, Step};
use super::session::SessionError;

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// A `pivot` node: a request with the digits collected so far.
    pub(super) async fn pivot(&mut self, req: PivotRequest) -> Result<Step, SessionError> {
        let extra = TwimlExtra {
            digits: self.digits.values().next_back().cloned(),
            ..TwimlExtra::default()
        };
        self.request(req, extra).await
    }

    /// One request to a web app and the flow it answers (or the failback). `extra` is what a
    /// TwiML request adds (digits, recording, dial status).
    pub(super) async fn request(
        &mut self,
        req: PivotRequest,
        extra: TwimlExtra,
    ) -> Result<Step, SessionError> {
        let engine = self.engine;
        if self.summary.requests >= engine.config.http.max_requests_per_call {
            let msg = format!(
                "this call already made {} requests (http.max_requests_per_call)",
                self.summary.requests
            );
            return self.failback(&req, "request_limit", &msg).await;
        }
        let Some(spec) = self.prepare(&req, &extra) else {
            return Ok(Step::Over);
        };
        let started = std::time::Instant::now();
        let fetched = self.session.listen_while(engine.http.fetch(&spec)).await?;
        engine.stats.request_latency.observe(started.elapsed());
        let Some(result) = fetched else {
            if req.debug {
                self.debug(Entry::Error {
                    kind: "hangup".into(),
                    message: "the call ended before the web app answered".into(),
                });
            }
            return Ok(Step::Over);
        };
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                if let (true, Some(resp)) = (req.debug, e.response()) {
                    self.debug_response(resp);
                }
                return self.failback(&req, e.kind(), &e.to_string()).await;
            }
        };
        self.note_response(&req, &resp);
        match translate(&resp, &req.voice_url, &engine.flow_limits) {
            Ok(mut flow) => {
                // The operator's web app may send the call on to its own pages: URLs of the
                // answer with the origin of an operator URL are the operator's too, unless a
                // redirect took the request to another origin.
                if req.voice_url.same_origin(&resp.url) {
                    flow.inherit_trust(&req.voice_url);
                }
                // A TwiML document's own requests are made like the one that fetched it.
                self.twiml_base = Some(req);
                Ok(Step::Flow(Box::new(flow)))
            }
            Err(e) => self.failback(&req, e.kind(), &e.to_string()).await,
        }
    }

    /// Counts the request, builds it with the parameters of its format, logs it; None when
    /// the call's facts are unknown (the call was never routed).
    pub(super) fn prepare(
        &mut self,
        req: &PivotRequest,
        extra: &TwimlExtra,
    ) -> Option<RequestSpec> {
        self.summary.requests += 1;
        self.engine.stats.requests.fetch_add(1, Ordering::Relaxed);
        if req.cdr_url.is_some() {
            self.cdr_url = req.cdr_url.clone();
        }
        let info = self.info.as_ref()?;
        let params = match req.req_format {
            ReqFormat::Piston => piston_params(info, &self.digits),
            ReqFormat::Twiml => twiml_params(info, extra),
        };
        self.digits.clear();
        let spec = build_request(req, &params);
        self.session
            .note(&format!("request: {:?} {}", spec.method, spec.url));
        if req.debug {
            self.debug_request(&spec);
        }
        Some(spec)
    }

    pub(super) fn note_response(&mut self, req: &PivotRequest, resp: &Response) {
        self.session.note(&format!(
            "response: {} ({} bytes)",
            resp.status,
            resp.body.len()
        ));
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
        tracing::warn!(kind, error = %message, url = %req.voice_url, "web app request failed: taking the failback");
        self.session.note(&format!("failback: {kind}: {message}"));
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
                call_id: self.call_id.clone(),
                account_id: self.account.to_string(),
                iteration: self.summary.requests,
                created: SystemTime::now(),
                entry,
            });
        }
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
