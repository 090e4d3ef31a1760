//! The parts of `pivot.toml` about requests to web apps beyond `[http]`'s plain numbers:
//! `[http.breaker]` (the circuit breaker per host) and `[signing]` (each account's
//! signing secrets). Same validator style as the rest of the file.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Validator};
use crate::pivot::breaker::BreakerConfig;
use crate::pivot::sign::Signer;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreaker {
    enabled: Option<bool>,
    failures: Option<u32>,
    window_ms: Option<u64>,
    cooldown_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    #[serde(default)]
    secrets: BTreeMap<String, Vec<String>>,
}

/// Shortest signing secret accepted (bytes).
pub const MIN_SECRET: usize = 16;
/// Secrets per account: the current one and, during a rotation, the one being retired.
pub const MAX_SECRETS: usize = 2;

impl Validator<'_> {
    pub(super) fn breaker(
        &self,
        c: &mut BreakerConfig,
        raw: RawBreaker,
    ) -> Result<(), ConfigError> {
        if let Some(e) = raw.enabled {
            c.enabled = e;
        }
        if let Some(n) = raw.failures {
            c.failures = self.positive("http.breaker.failures", n as usize)? as u32;
        }
        let ms = |key: &str, v: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(self.positive(key, v as usize)? as u64))
        };
        if let Some(v) = raw.window_ms {
            c.window = ms("http.breaker.window_ms", v)?;
        }
        if let Some(v) = raw.cooldown_ms {
            c.cooldown = ms("http.breaker.cooldown_ms", v)?;
        }
        Ok(())
    }

    pub(super) fn signing(&self, raw: RawSigning) -> Result<Signer, ConfigError> {
        let mut by_account = HashMap::new();
        for (account, secrets) in raw.secrets {
            let key = format!("signing.secrets.{account}");
            let id = self.account(&key, &account)?;
            if secrets.is_empty() || secrets.len() > MAX_SECRETS {
                return Err(self.err(
                    &key,
                    "one secret, or two while rotating (the current one first)",
                ));
            }
            for (i, s) in secrets.iter().enumerate() {
                if s.len() < MIN_SECRET || s.trim() != s {
                    return Err(self.err(
                        &format!("{key}[{i}]"),
                        &format!(
                            "a secret is at least {MIN_SECRET} bytes, without surrounding spaces"
                        ),
                    ));
                }
            }
            if by_account.insert(id, secrets).is_some() {
                return Err(self.err(&key, "the same account appears twice"));
            }
        }
        Ok(Signer::new(by_account))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;
    use std::time::SystemTime;

    use crate::config::Config;

    const ACCOUNT: &str = "4b8c4d4a2f1e4c1b9a0d7e6f5a4b3c2d";

    fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_toml(text, Path::new("pivot.toml"), Path::new("/etc/pivot"))
    }

    #[test]
    fn signing_secrets_are_read_per_account() {
        let c = parse(&format!(
            "[signing.secrets]\n\"{ACCOUNT}\" = [\"current-secret-0001\", \"previous-secret-01\"]\n"
        ))
        .unwrap();
        let account = ACCOUNT.parse().unwrap();
        assert!(c.signing.has_secret(&account));
        let header = c
            .signing
            .header(&account, "GET", "http://a/", b"", SystemTime::now())
            .unwrap();
        assert_eq!(header.matches("v1=").count(), 2);
        assert!(!Config::default().signing.has_secret(&account));
    }

    #[test]
    fn bad_signing_secrets_name_the_key() {
        for (text, key, what) in [
            ("\"xyz\" = [\"a-long-enough-secret\"]", "signing.secrets.xyz", "account id"),
            (&format!("\"{ACCOUNT}\" = [\"short\"]"), "[0]", "at least 16 bytes"),
            (&format!("\"{ACCOUNT}\" = []"), ACCOUNT, "one secret, or two"),
            (
                &format!("\"{ACCOUNT}\" = [\"aaaaaaaaaaaaaaaa1\", \"aaaaaaaaaaaaaaaa2\", \"aaaaaaaaaaaaaaaa3\"]"),
                ACCOUNT,
                "one secret, or two",
            ),
        ] {
            let e = parse(&format!("[signing.secrets]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key) && e.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn the_breaker_section_is_read_and_checked() {
        let c = parse(
            "[http.breaker]\nenabled = false\nfailures = 3\nwindow_ms = 1000\ncooldown_ms = 2000\n",
        )
        .unwrap();
        let b = c.http.breaker;
        assert!(!b.enabled);
        assert_eq!(b.failures, 3);
        assert_eq!(b.cooldown, std::time::Duration::from_secs(2));
        assert!(Config::default().http.breaker.enabled);
        let e = parse("[http.breaker]\nfailures = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.breaker.failures"), "{e}");
        let e = parse("[http.breaker]\nfailure = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("failure"), "{e}");
    }
}
