//! Helpers for the scenario tests of web app requests (signing, retries, fallback,
//! breaker, outbound policy): a call routed to a URL, what it said, why it failed, and the
//! signature algorithm written out as docs/webhooks.md gives it.

use hmac::{KeyInit, Mac};

use crate::harness::{Pivot, ACCOUNT};
use crate::support::fake_fs::{FakeCall, FakeFs};
use crate::support::transcript::Transcript;
use crate::support::web::{Reply, Request, WebApp};
use pivot::config::Config;
use pivot::pivot::sign::Signer;

/// A Piston `say` answer.
pub fn say(text: &str) -> Reply {
    Reply::json(&serde_json::json!({"module": "say", "data": {"text": text}}).to_string())
}

/// A call routed by channel variables to `url`.
pub fn call_to(url: &str) -> FakeCall {
    FakeCall::new().var("pivot_voice_url", url)
}

/// The same with the debug log on.
pub fn debug_call(url: &str) -> FakeCall {
    call_to(url).var("pivot_debug", "true")
}

pub async fn run(pivot: &Pivot, call: FakeCall) -> Transcript {
    FakeFs::connect(pivot.esl, call).await.finish().await
}

/// The texts spoken, without the engine and voice.
pub fn spoken(t: &Transcript) -> Vec<String> {
    t.app_calls()
        .into_iter()
        .filter(|(n, _)| *n == "speak")
        .map(|(_, a)| a.trim_start_matches("flite|slt|").to_string())
        .collect()
}

/// `pivot_failure` as the call set it ("" when it did not).
pub fn failure(t: &Transcript) -> String {
    t.vars_set
        .iter()
        .find(|(k, _)| k == "pivot_failure")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A config change: the test account signs with `secrets`.
pub fn signing(secrets: &'static [&'static str]) -> impl FnOnce(&mut Config) {
    move |c| {
        let secrets = secrets.iter().map(|s| s.to_string()).collect();
        c.signing = Signer::new([(ACCOUNT.parse().unwrap(), secrets)].into_iter().collect());
    }
}

/// The documented algorithm, written out: hex HMAC-SHA256 of `t.METHOD.URL.BODY`.
pub fn hmac_hex(secret: &str, t: &str, method: &str, url: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{method}.{url}.").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The URL as the web app can rebuild it from the request line and its own address.
pub fn url_of(web: &WebApp, r: &Request) -> String {
    match r.query.as_str() {
        "" => web.url(&r.path),
        q => web.url(&format!("{}?{q}", r.path)),
    }
}
