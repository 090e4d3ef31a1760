//! Work a call owes after its hangup (contract 1.5): recordings the hangup ended are
//! uploaded, TwiML actions whose verb the hangup ended are requested (a `<Record>`'s with
//! the recording, a `<Dial>`'s with its status), and the `cdr_url` gets the call's summary.
//! Runs in teardown, after CHANNEL_HANGUP_COMPLETE (the file is complete then), through the
//! lingering socket; nothing of it can start an application.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::callflow::{HttpUrl, PivotRequest};
use crate::esl::Command;
use crate::pivot::params::{form_body, piston_params, ParamValue, TwimlExtra};

use super::note::CallNote;
use super::runner::CallRun;
use super::session::AppId;

/// How long pivot's own upload may take.
const POST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the `cdr_url` POST may take.
const CDR_TIMEOUT: Duration = Duration::from_secs(10);

/// A recording to upload.
pub(super) struct Upload {
    pub url: HttpUrl,
    pub file: String,
    pub by: Uploader,
}

/// Who sends a recording to the web app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Uploader {
    /// FreeSWITCH, with mod_http_cache's `http_put` (the file is on its host).
    Switch,
    /// pivot itself, reading the file (same host, or a volume shared with FreeSWITCH): a
    /// `method: post` upload, or a PUT when the switch has no mod_http_cache.
    Pivot(UploadVerb),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UploadVerb {
    Put,
    Post,
}

impl std::fmt::Display for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Uploader::Switch => "FreeSWITCH http_put",
            Uploader::Pivot(UploadVerb::Put) => "pivot PUT",
            Uploader::Pivot(UploadVerb::Post) => "pivot POST",
        })
    }
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UploadResult {
    /// The server answered 2xx (`+OK 201` from `http_put`).
    Uploaded(String),
    Failed(String),
}

impl UploadResult {
    pub fn ok(&self) -> bool {
        matches!(self, UploadResult::Uploaded(_))
    }
}

impl std::fmt::Display for UploadResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadResult::Uploaded(s) | UploadResult::Failed(s) => f.write_str(s),
        }
    }
}

/// A TwiML action request owed after the hangup; its answer is not run.
pub(super) enum OwedAction {
    /// A `<Record>` the caller ended by hanging up (the usual voicemail): sent once the
    /// recording is uploaded (`upload` indexes [`Owed::uploads`]).
    /// `done`: the record's completion when it came (its variables give the length; in
    /// static mode there is no CHANNEL_HANGUP_COMPLETE before pivot leaves).
    Record {
        req: PivotRequest,
        upload: Option<(HttpUrl, usize)>,
        done: Option<Box<crate::esl::Event>>,
        record: AppId,
    },
    /// A `<Dial>` whose caller hung up: Twilio requests the action when the dial ends.
    /// `status`: from the bridge's completion when it came before the flow stopped; else
    /// it is looked for in teardown. `recording`: the dial was recorded, and its upload if
    /// it has one (as for `Record`).
    Dial {
        req: PivotRequest,
        bridge: AppId,
        status: Option<&'static str>,
        recording: Option<Option<(HttpUrl, usize)>>,
    },
}

/// What the call owes, collected while the flow runs.
#[derive(Default)]
pub(super) struct Owed {
    pub uploads: Vec<Upload>,
    pub actions: Vec<OwedAction>,
    /// The last `cdr_url` a pivot node named.
    pub cdr_url: Option<Box<HttpUrl>>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> CallRun<'_, T> {
    /// Uploads, then action requests, then the CDR.
    pub(super) async fn pay_owed(&mut self) {
        let uploads = std::mem::take(&mut self.owed.uploads);
        let mut results = Vec::with_capacity(uploads.len());
        for upload in uploads {
            results.push(self.upload(upload).await);
        }
        let uploaded = |(url, i): (HttpUrl, usize)| {
            results.get(i).is_some_and(UploadResult::ok).then_some(url)
        };
        for action in std::mem::take(&mut self.owed.actions) {
            // The hangup closed the recording: its length is in CHANNEL_HANGUP_COMPLETE.
            let secs = super::twiml::recorded_seconds(self.session.hangup_vars());
            let extra = match action {
                OwedAction::Record {
                    req,
                    upload,
                    done,
                    record,
                } => {
                    let done = done.or_else(|| self.session.take_done(record));
                    let secs = match done.as_deref() {
                        Some(ev) => super::twiml::recorded_seconds(Some(ev)),
                        None => secs,
                    };
                    let Some(secs) = secs else {
                        self.session.note(CallNote::RecordingEmpty {
                            then: "no action request".into(),
                        });
                        continue;
                    };
                    let extra = TwimlExtra {
                        recording_url: upload.and_then(uploaded).map(|u| u.to_string()),
                        recording_duration: Some(secs),
                        ..TwimlExtra::default()
                    };
                    (req, extra)
                }
                OwedAction::Dial {
                    req,
                    bridge,
                    status,
                    recording,
                } => {
                    let done = self.session.take_done(bridge);
                    let ev = done.as_deref().or(self.session.hangup_vars());
                    let status =
                        status.unwrap_or_else(|| ev.map_or("completed", super::twiml::dial_status));
                    let recorded = recording.is_some().then_some(secs).flatten();
                    let upload = recording.flatten().filter(|_| recorded.is_some());
                    let extra = TwimlExtra {
                        dial_call_status: Some(status.into()),
                        recording_url: upload.and_then(uploaded).map(|u| u.to_string()),
                        recording_duration: recorded,
                        ..TwimlExtra::default()
                    };
                    (req, extra)
                }
            };
            let (req, mut extra) = extra;
            extra.call_status = Some("completed".into());
            self.request_after_hangup(&req, &extra).await;
        }
        self.post_cdr().await;
    }

    /// Uploads a recording: FreeSWITCH PUTs it with mod_http_cache's `http_put` (the file is
    /// on its host); a POST is done by pivot itself, which must be able to read the file.
    pub(super) async fn upload(&mut self, up: Upload) -> UploadResult {
        let result = if let Uploader::Pivot(verb) = up.by {
            self.send_file(&up, verb).await
        } else if self.session.state().is_gone() {
            UploadResult::Failed("not uploaded: the event socket closed first".into())
        } else if let Err(e) = self.engine.http.check_destination(&up.url).await {
            // FreeSWITCH makes this request: pivot checks where it goes before it asks.
            UploadResult::Failed(format!("not uploaded: {e}"))
        } else {
            let cmd = Command::Api(format!("http_put {} {}", fs_url(&up.url), up.file));
            // A 3-hour recording takes a while; a reply that does not come within the
            // limit (`esl.upload_timeout_secs`) ends the session.
            let limit = self.engine.config.esl.upload_timeout;
            match self.session.command_within(cmd, limit).await {
                Ok(reply) if http_put_ok(&reply) => {
                    UploadResult::Uploaded(reply.trim().to_string())
                }
                // Seen on 1.10.12: an empty or missing file answers `+OK 0` / `-ERR 0` and
                // sends no request at all.
                Ok(reply) => UploadResult::Failed(reply.trim().to_string()),
                Err(e) => UploadResult::Failed(format!("not uploaded: {e}")),
            }
        };
        match &result {
            UploadResult::Uploaded(r) => {
                tracing::info!(url = %up.url, file = %up.file, by = %up.by, result = %r, "recording uploaded")
            }
            UploadResult::Failed(r) => {
                tracing::warn!(url = %up.url, file = %up.file, by = %up.by, result = %r, "recording upload failed")
            }
        }
        if self.session.noting() {
            let by = up.by.to_string();
            self.session.note(CallNote::Upload {
                url: up.url.as_str().into(),
                by: by.into(),
                ok: result.ok(),
                result: result.to_string().into(),
            });
        }
        self.summary.uploads.push(format!("{} -> {result}", up.url));
        if result.ok() && !self.engine.config.media.keep_recordings {
            self.delete_recording(&up.file).await;
        }
        result
    }

    /// Deletes a recording the web app has (`media.keep_recordings = false`). pivot can only
    /// when it sees the file: same host, or a directory shared with FreeSWITCH.
    async fn delete_recording(&self, file: &str) {
        match tokio::fs::remove_file(file).await {
            Ok(()) => {
                let deleted = &self.engine.stats.recordings_deleted;
                deleted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(file, "recording deleted after its upload");
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                static ONCE: std::sync::Once = std::sync::Once::new();
                ONCE.call_once(|| {
                    tracing::info!(file, "uploaded recordings are not deleted: pivot does not see media.recordings_dir (FreeSWITCH on another host?); clean it up there (docs/security.md)");
                });
            }
            Err(e) => tracing::warn!(file, error = %e, "cannot delete an uploaded recording"),
        }
    }

    async fn send_file(&self, up: &Upload, verb: UploadVerb) -> UploadResult {
        let body = match tokio::fs::read(&up.file).await {
            Ok(b) => Bytes::from(b),
            Err(e) => return UploadResult::Failed(format!("-ERR cannot read {}: {e}", up.file)),
        };
        let ct = if up.file.ends_with(".wav") {
            "audio/wav"
        } else {
            "audio/mpeg"
        };
        let method = match verb {
            UploadVerb::Put => reqwest::Method::PUT,
            UploadVerb::Post => reqwest::Method::POST,
        };
        let sent = self
            .engine
            .http
            .send_simple(method, &up.url, &self.account, ct, body, POST_TIMEOUT)
            .await;
        match sent {
            Ok(s) if (200..300).contains(&s) => UploadResult::Uploaded(format!("+OK {s}")),
            Ok(s) => UploadResult::Failed(format!("-ERR {s}")),
            Err(e) => UploadResult::Failed(format!("-ERR {e}")),
        }
    }

    /// Posts the call's summary to the last `cdr_url` a pivot node named.
    async fn post_cdr(&mut self) {
        let (Some(url), Some(info)) = (&self.owed.cdr_url, &self.info) else {
            return;
        };
        let mut params = piston_params(info, &Default::default());
        for (name, value) in params.iter_mut() {
            if name == "Call-Status" {
                *value = ParamValue::Str("completed".into());
            }
        }
        let cause = self
            .summary
            .hangup_cause
            .as_ref()
            .map_or(String::new(), |c| c.to_string());
        params.push(("Hangup-Cause".into(), ParamValue::Str(cause)));
        let body = Bytes::from(form_body(&params));
        let sent = self
            .engine
            .http
            .send_simple(
                reqwest::Method::POST,
                url,
                &self.account,
                "application/x-www-form-urlencoded",
                body,
                CDR_TIMEOUT,
            )
            .await;
        let (ok, result) = match sent {
            Ok(status) => {
                tracing::info!(url = %url, status, "CDR posted");
                ((200..300).contains(&status), status.to_string())
            }
            Err(e) => {
                tracing::warn!(url = %url, error = %e, "CDR post failed");
                (false, e.to_string())
            }
        };
        if self.session.noting() {
            let url = url.as_str().to_string();
            self.session.note(CallNote::Cdr {
                url: url.into(),
                ok,
                result: result.into(),
            });
        }
    }
}

/// `http_put` answers `+OK <status>`; only a 2xx status means the file arrived.
fn http_put_ok(reply: &str) -> bool {
    reply
        .trim()
        .strip_prefix("+OK ")
        .and_then(|code| code.trim().parse::<u16>().ok())
        .is_some_and(|code| (200..300).contains(&code))
}

/// `<url>/<name>`, keeping the base URL's query string.
pub(super) fn upload_url(base: &HttpUrl, name: &str) -> HttpUrl {
    let mut url = base.as_url().clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(name);
    }
    base.derive(url).unwrap_or_else(|_| base.clone())
}

/// A URL as FreeSWITCH gets it: `$`, `{` and `}` percent-encoded (the same URL to any HTTP
/// server), so no `${...}` can appear in an argument even if expansion were on.
pub(super) fn fs_url(url: &HttpUrl) -> String {
    url.as_str()
        .replace('$', "%24")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

#[cfg(test)]
mod tests {
    use super::http_put_ok;

    #[test]
    fn only_a_2xx_http_put_is_an_upload() {
        assert!(http_put_ok("+OK 201\n"));
        assert!(http_put_ok("+OK 204"));
        assert!(!http_put_ok("+OK 0"), "an empty file: no request was sent");
        assert!(!http_put_ok("-ERR 500"));
        assert!(!http_put_ok("+OK"));
    }
}
