//! Signed requests: `X-Pivot-Signature: t=<unix seconds>,v1=<hex>` where the hex is the
//! HMAC-SHA256, keyed with the account's signing secret, of `t.METHOD.URL.BODY` (the method
//! in upper case, the URL as sent without its fragment, the body's bytes; empty for GET).
//! During a rotation an account has two secrets and the header carries one `v1` per
//! secret. [`verify`] is what a web app does (docs/webhooks.md has it in Python and Node).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};

use crate::route::AccountId;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The header's name.
pub const HEADER: &str = "X-Pivot-Signature";

/// Each account's secrets: the current one first, then the one being retired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signer {
    secrets: HashMap<AccountId, Vec<String>>,
}

impl Signer {
    /// At most two secrets per account (checked by the config).
    pub fn new(secrets: HashMap<AccountId, Vec<String>>) -> Signer {
        Signer { secrets }
    }

    pub fn has_secret(&self, account: &AccountId) -> bool {
        self.secrets.get(account).is_some_and(|s| !s.is_empty())
    }

    /// The header value for a request of `account` made at `now`; None when the account
    /// has no secret (its requests go unsigned).
    pub fn header(
        &self,
        account: &AccountId,
        method: &str,
        url: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Option<String> {
        let secrets = self.secrets.get(account).filter(|s| !s.is_empty())?;
        let t = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut value = format!("t={t}");
        for secret in secrets {
            value.push_str(",v1=");
            value.push_str(&signature(secret.as_bytes(), t, method, url, body));
        }
        Some(value)
    }
}

/// The hex HMAC-SHA256 of `t.METHOD.URL.BODY`.
pub fn signature(secret: &[u8], t: u64, method: &str, url: &str, body: &[u8]) -> String {
    hex(&mac(secret, t, method, url, body).finalize().into_bytes())
}

fn mac(secret: &[u8], t: u64, method: &str, url: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{t}.{}.{url}.", method.to_ascii_uppercase()).as_bytes());
    mac.update(body);
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no t= or no v1= in the signature header")]
    Malformed,
    #[error("the timestamp is outside the allowed window")]
    Stale,
    #[error("no v1= matches any secret")]
    Mismatch,
}

/// A web app's check: a `v1` that matches one of `secrets` (compared in constant time),
/// and a timestamp no further than `window` from `now` (replays of old requests fail).
pub fn verify(
    header: &str,
    secrets: &[&str],
    (method, url, body): (&str, &str, &[u8]),
    now: SystemTime,
    window: Duration,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => sigs.extend(unhex(v)),
            _ => {}
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if sigs.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.abs_diff(t) > window.as_secs() {
        return Err(VerifyError::Stale);
    }
    let ok = secrets.iter().any(|secret| {
        sigs.iter().any(|sig| {
            mac(secret.as_bytes(), t, method, url, body)
                .verify_slice(sig)
                .is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
