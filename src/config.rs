//! `pivot.toml` → a validated [`Config`]. Owns the defaults and the error messages that name
//! the file and the key; does not load callflow documents (that is `route`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::pivot::breaker::BreakerConfig;
use crate::pivot::policy::Rule;
use crate::pivot::sign::Signer;

mod esl;
mod media;
mod web;
use crate::route::AccountId;
pub use esl::{EslConfig, PeerAllowList};
pub use media::MediaConfig;

/// Why a configuration could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {message}")]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
}

/// The whole configuration; every field has a default so `pivot serve` runs without a file.
#[derive(Debug, Clone)]
pub struct Config {
    /// This pivot node's name, written into every debug record (`node_name`; default the
    /// host name).
    pub node_name: String,
    pub default_account: AccountId,
    pub callflows: Option<PathBuf>,
    pub esl: EslConfig,
    pub api: ApiSection,
    pub store: StoreSection,
    pub http: HttpConfig,
    pub media: MediaConfig,
    pub twiml: TwimlConfig,
    pub accounts: Vec<AccountConfig>,
    /// `[signing]`: each account's secrets for `X-Pivot-Signature`.
    pub signing: Signer,
}

#[derive(Debug, Clone)]
pub struct ApiSection {
    pub listen: SocketAddr,
    pub token_ttl: Duration,
    /// Live tokens one account may hold; its oldest go first beyond this.
    pub max_tokens_per_account: usize,
    /// `PUT /v2/api_auth` attempts per minute from one source address (IPv6: one /64).
    pub auth_per_minute_per_address: u32,
    /// Successful logins per minute for one account.
    pub auth_per_minute_per_account: u32,
    /// API connections open at once (beyond it, the oldest still sending its head is
    /// closed, else the new one is).
    pub max_connections: usize,
    /// API connections open at once from one source address (IPv6: one /64).
    pub max_connections_per_address: usize,
    /// How long a connection may take to send its whole request head.
    pub header_timeout: Duration,
    /// How long a connection may go without a byte read or written once its head is in.
    pub idle_timeout: Duration,
    /// How long a request may take once its head is in: body, answer and its sending.
    pub request_timeout: Duration,
    /// Accounts with their own per-account series on `/metrics`; later ones count as
    /// `other`.
    pub metrics_max_accounts: usize,
}

#[derive(Debug, Clone)]
pub struct StoreSection {
    /// The SQLite file, unless `url` names a PostgreSQL database.
    pub path: PathBuf,
    pub url: Option<PgUrl>,
    pub retention_days: u32,
    pub queue_capacity: usize,
    /// PostgreSQL connections for the REST API (the writer has one of its own).
    pub pool_size: usize,
    /// Steps kept in one call's timeline (debug calls), then one `truncated` entry.
    pub timeline_max_entries: usize,
}

/// A `postgres://` URL; its password never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::store::redacted(&self.0))
    }
}

impl Config {
    /// Where the debug log goes, for [`crate::store::open`].
    pub fn store_config(&self) -> crate::store::StoreConfig {
        let database = match &self.store.url {
            Some(url) => crate::store::Database::Postgres(url.0.clone()),
            None => crate::store::Database::Sqlite(self.store.path.clone()),
        };
        crate::store::StoreConfig {
            database,
            node: self.node_name.clone(),
            retention_days: self.store.retention_days,
            queue_capacity: self.store.queue_capacity,
            pool_size: self.store.pool_size,
            ..crate::store::StoreConfig::new("")
        }
    }
}

/// This host's name, if it is usable as a node name; else `pivot`.
pub fn host_name() -> String {
    gethostname::gethostname()
        .into_string()
        .ok()
        .filter(|n| is_node_name(n))
        .unwrap_or_else(|| "pivot".into())
}

/// 1 to 64 of letters, digits, `.`, `_`, `-`: safe in logs, metrics and JSON as is.
fn is_node_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    /// How many requests one call may make to web apps (stops a web app that answers every
    /// request with another pivot node from looping forever).
    pub max_requests_per_call: u32,
    pub max_flow_nodes: usize,
    pub max_flow_depth: usize,
    pub user_agent: String,
    /// `allow` and `deny`: the operator's rules on top of the outbound URL policy's
    /// built-in refused ranges (for URLs web apps named).
    pub outbound: crate::pivot::policy::OutboundPolicy,
    /// `[http.breaker]`: the circuit breaker per web app host.
    pub breaker: BreakerConfig,
}

/// What TwiML documents need from the operator (`[twiml]`).
#[derive(Debug, Clone)]
pub struct TwimlConfig {
    /// The `bridge` dial string of a `<Number>`: `{number}` is replaced by the number.
    pub dial_number: String,
    /// The `bridge` dial string of a `<Sip>`: `{uri}` is replaced by the URI without `sip:`.
    pub dial_sip: String,
    /// Where `<Record>` uploads when the document names no `recordingUrl`.
    pub recording_url: Option<crate::callflow::HttpUrl>,
    /// Twilio voice names (`man`, `woman`, `alice`) → voices of the configured TTS engine.
    pub voices: std::collections::BTreeMap<String, String>,
}

impl TwimlConfig {
    /// The FreeSWITCH voice for a voice name: its mapping, else the name itself.
    pub fn voice<'a>(&'a self, name: &'a str) -> &'a str {
        self.voices.get(name).map_or(name, String::as_str)
    }
}

impl Default for TwimlConfig {
    fn default() -> Self {
        let voices = [("man", "kal"), ("woman", "slt"), ("alice", "slt")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TwimlConfig {
            dial_number: "sofia/gateway/carrier/{number}".into(),
            dial_sip: "sofia/internal/{uri}".into(),
            recording_url: None,
            voices,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub id: AccountId,
    pub name: String,
    pub api_key: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_name: host_name(),
            default_account: "00000000000000000000000000000000"
                .parse()
                .expect("a constant of 32 hex digits is an account id"),
            callflows: None,
            esl: EslConfig::default(),
            api: ApiSection {
                listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
                token_ttl: Duration::from_secs(3600),
                max_tokens_per_account: 100,
                auth_per_minute_per_address: 60,
                auth_per_minute_per_account: 30,
                max_connections: 256,
                max_connections_per_address: 64,
                header_timeout: Duration::from_secs(5),
                idle_timeout: Duration::from_secs(10),
                request_timeout: Duration::from_secs(30),
                metrics_max_accounts: 100,
            },
            store: StoreSection {
                path: PathBuf::from("pivot.db"),
                url: None,
                retention_days: 30,
                queue_capacity: 10_000,
                pool_size: 4,
                timeline_max_entries: 1000,
            },
            http: HttpConfig {
                max_body_bytes: 1024 * 1024,
                max_redirects: 5,
                max_requests_per_call: 64,
                max_flow_nodes: 1000,
                max_flow_depth: 64,
                user_agent: format!("pivot/{}", env!("CARGO_PKG_VERSION")),
                outbound: Default::default(),
                breaker: BreakerConfig::default(),
            },
            media: MediaConfig::default(),
            twiml: TwimlConfig::default(),
            accounts: Vec::new(),
            signing: Signer::default(),
        }
    }
}

/// The file's shape: every section optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node_name: Option<String>,
    default_account: Option<String>,
    callflows: Option<PathBuf>,
    esl: Option<esl::RawEsl>,
    api: Option<RawApi>,
    store: Option<RawStore>,
    http: Option<RawHttp>,
    media: Option<media::RawMedia>,
    twiml: Option<RawTwiml>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    signing: Option<web::RawSigning>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    listen: Option<String>,
    token_ttl_secs: Option<u64>,
    max_tokens_per_account: Option<usize>,
    auth_per_minute_per_address: Option<u32>,
    auth_per_minute_per_account: Option<u32>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    header_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    metrics_max_accounts: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    url: Option<String>,
    retention_days: Option<u32>,
    queue_capacity: Option<usize>,
    pool_size: Option<usize>,
    timeline_max_entries: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    max_body_bytes: Option<usize>,
    max_redirects: Option<usize>,
    max_requests_per_call: Option<u32>,
    max_flow_nodes: Option<usize>,
    max_flow_depth: Option<usize>,
    user_agent: Option<String>,
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    breaker: Option<web::RawBreaker>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwiml {
    dial_number: Option<String>,
    dial_sip: Option<String>,
    recording_url: Option<String>,
    voices: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: String,
    name: String,
    api_key: String,
}

impl Config {
    /// Reads and validates `path`. Relative paths inside it (callflows, store) are taken
    /// relative to the file's directory, so a config works from any working directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_toml(&text, path, base)
    }

    /// Validates TOML text; `file` is only used in error messages, `base` resolves paths.
    pub fn from_toml(text: &str, file: &Path, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let v = Validator { file };
        let mut c = Config::default();
        if let Some(n) = raw.node_name {
            if !is_node_name(&n) {
                return Err(v.err(
                    "node_name",
                    "use 1 to 64 letters, digits, `.`, `_` or `-` (e.g. the host name)",
                ));
            }
            c.node_name = n;
        }
        if let Some(a) = raw.default_account {
            c.default_account = v.account("default_account", &a)?;
        }
        c.callflows = raw.callflows.map(|p| base.join(p));
        if let Some(e) = raw.esl {
            v.esl(&mut c.esl, e)?;
        }
        if let Some(a) = raw.api {
            v.api(&mut c.api, a)?;
        }
        if let Some(s) = raw.store {
            v.store(&mut c.store, s, base)?;
        }
        if let Some(h) = raw.http {
            set(&mut c.http.max_body_bytes, h.max_body_bytes);
            set(&mut c.http.max_redirects, h.max_redirects);
            set(&mut c.http.max_requests_per_call, h.max_requests_per_call);
            set(&mut c.http.max_flow_nodes, h.max_flow_nodes);
            set(&mut c.http.max_flow_depth, h.max_flow_depth);
            set(&mut c.http.user_agent, h.user_agent);
            c.http.max_body_bytes = v.positive("http.max_body_bytes", c.http.max_body_bytes)?;
            c.http.outbound.allow = v.rules("http.allow", h.allow.unwrap_or_default())?;
            c.http.outbound.deny = v.rules("http.deny", h.deny.unwrap_or_default())?;
            if let Some(b) = h.breaker {
                v.breaker(&mut c.http.breaker, b)?;
            }
        }
        if let Some(m) = raw.media {
            v.media(&mut c.media, m)?;
        }
        v.media_against(&c.media, c.esl.upload_timeout)?;
        if let Some(t) = raw.twiml {
            v.twiml(&mut c.twiml, t)?;
        }
        if let Some(s) = raw.signing {
            c.signing = v.signing(s)?;
        }
        for (i, a) in raw.accounts.into_iter().enumerate() {
            let key = format!("accounts[{i}]");
            let id = v.account(&format!("{key}.id"), &a.id)?;
            if a.api_key.len() < 8 {
                return Err(v.err(&format!("{key}.api_key"), "must be at least 8 characters"));
            }
            if c.accounts.iter().any(|o| o.id == id) {
                return Err(v.err(&format!("{key}.id"), "the same account id appears twice"));
            }
            c.accounts.push(AccountConfig {
                id,
                name: a.name,
                api_key: a.api_key,
            });
        }
        Ok(c)
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

struct Validator<'a> {
    file: &'a Path,
}

impl Validator<'_> {
    fn err(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    fn addr(&self, key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
        s.parse()
            .map_err(|_| self.err(key, &format!("`{s}` is not an address like 127.0.0.1:8084")))
    }

    fn account(&self, key: &str, s: &str) -> Result<AccountId, ConfigError> {
        s.parse()
            .map_err(|_| self.err(key, &format!("`{s}` is not an account id (32 hex digits)")))
    }

    /// `[http] allow`/`deny` entries: addresses, ranges, host names, `*.domain`.
    fn rules(&self, key: &str, items: Vec<String>) -> Result<Vec<Rule>, ConfigError> {
        items
            .iter()
            .enumerate()
            .map(|(i, s)| Rule::parse(s).map_err(|e| self.err(&format!("{key}[{i}]"), &e)))
            .collect()
    }

    fn positive(&self, key: &str, n: usize) -> Result<usize, ConfigError> {
        if n == 0 {
            return Err(self.err(key, "must be greater than 0"));
        }
        Ok(n)
    }

    fn millis(&self, key: &str, ms: Option<u64>, slot: &mut Duration) -> Result<(), ConfigError> {
        if let Some(ms) = ms {
            if ms == 0 {
                return Err(self.err(key, "must be greater than 0"));
            }
            *slot = Duration::from_millis(ms);
        }
        Ok(())
    }

    fn api(&self, c: &mut ApiSection, a: RawApi) -> Result<(), ConfigError> {
        if let Some(l) = a.listen {
            c.listen = self.addr("api.listen", &l)?;
        }
        if let Some(s) = a.token_ttl_secs {
            c.token_ttl =
                Duration::from_secs(self.positive("api.token_ttl_secs", s as usize)? as u64);
        }
        for (key, value, slot) in [
            (
                "api.max_tokens_per_account",
                a.max_tokens_per_account,
                &mut c.max_tokens_per_account,
            ),
            (
                "api.max_connections",
                a.max_connections,
                &mut c.max_connections,
            ),
            (
                "api.max_connections_per_address",
                a.max_connections_per_address,
                &mut c.max_connections_per_address,
            ),
            (
                "api.metrics_max_accounts",
                a.metrics_max_accounts,
                &mut c.metrics_max_accounts,
            ),
        ] {
            if let Some(n) = value {
                *slot = self.positive(key, n)?;
            }
        }
        for (key, value, slot) in [
            (
                "api.auth_per_minute_per_address",
                a.auth_per_minute_per_address,
                &mut c.auth_per_minute_per_address,
            ),
            (
                "api.auth_per_minute_per_account",
                a.auth_per_minute_per_account,
                &mut c.auth_per_minute_per_account,
            ),
        ] {
            if let Some(n) = value {
                *slot = self.positive(key, n as usize)? as u32;
            }
        }
        self.millis(
            "api.header_timeout_ms",
            a.header_timeout_ms,
            &mut c.header_timeout,
        )?;
        self.millis(
            "api.idle_timeout_ms",
            a.idle_timeout_ms,
            &mut c.idle_timeout,
        )?;
        self.millis(
            "api.request_timeout_ms",
            a.request_timeout_ms,
            &mut c.request_timeout,
        )?;
        Ok(())
    }

    fn store(&self, c: &mut StoreSection, s: RawStore, base: &Path) -> Result<(), ConfigError> {
        if s.path.is_some() && s.url.is_some() {
            return Err(self.err(
                "store.url",
                "set either `path` (a SQLite file) or `url` (PostgreSQL), not both",
            ));
        }
        if let Some(p) = s.path {
            c.path = base.join(p);
        }
        if let Some(url) = s.url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(self.err("store.url", "must be a postgres:// URL"));
            }
            // The parser's message never repeats the URL, so no password reaches a log.
            if let Err(e) = url.parse::<tokio_postgres::Config>() {
                return Err(self.err("store.url", &format!("not a usable PostgreSQL URL: {e}")));
            }
            c.url = Some(PgUrl(url));
        }
        set(&mut c.retention_days, s.retention_days);
        set(&mut c.queue_capacity, s.queue_capacity);
        c.queue_capacity = self.positive("store.queue_capacity", c.queue_capacity)?;
        if let Some(n) = s.pool_size {
            c.pool_size = self.positive("store.pool_size", n)?;
        }
        if let Some(n) = s.timeline_max_entries {
            c.timeline_max_entries = self.positive("store.timeline_max_entries", n)?;
        }
        Ok(())
    }

    /// Engine and voice names go into a FreeSWITCH argument: letters, digits, `_.-` only.
    fn word(&self, key: &str, s: &str) -> Result<(), ConfigError> {
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if ok {
            Ok(())
        } else {
            Err(self.err(key, "use letters, digits, `_`, `.` or `-` only"))
        }
    }

    fn twiml(&self, c: &mut TwimlConfig, t: RawTwiml) -> Result<(), ConfigError> {
        set(&mut c.dial_number, t.dial_number);
        set(&mut c.dial_sip, t.dial_sip);
        self.dial_template("twiml.dial_number", &c.dial_number, "{number}")?;
        self.dial_template("twiml.dial_sip", &c.dial_sip, "{uri}")?;
        if let Some(u) = t.recording_url {
            let url = crate::callflow::HttpUrl::new(&u)
                .map_err(|e| self.err("twiml.recording_url", &e.to_string()))?;
            // The operator's own upload base: not checked by the outbound URL policy.
            c.recording_url = Some(url.operator());
        }
        if let Some(voices) = t.voices {
            for (name, voice) in &voices {
                self.word(&format!("twiml.voices.{name}"), voice)?;
            }
            c.voices = voices;
        }
        Ok(())
    }

    /// A dial string template: one `slot`, and nothing that could expand a variable or
    /// split the dial string (`$`, `,`, `|`, spaces, control characters).
    fn dial_template(&self, key: &str, s: &str, slot: &str) -> Result<(), ConfigError> {
        if s.matches(slot).count() != 1 {
            return Err(self.err(key, &format!("must contain `{slot}` exactly once")));
        }
        if s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '$' | ',' | '|'))
        {
            return Err(self.err(
                key,
                "must not contain spaces, `$`, `,`, `|` or control characters",
            ));
        }
        Ok(())
    }

    fn path_text(&self, key: &str, s: &str) -> Result<(), ConfigError> {
        if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ' || c == '$') {
            return Err(self.err(
                key,
                "must be non-empty, without spaces, `$` or control characters",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("pivot.toml"), Path::new("/etc/pivot"))
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.esl.listen.port(), 8084);
        assert_eq!(c.api.listen.port(), 8000);
        assert_eq!(c.store.retention_days, 30);
        assert_eq!(c.http.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn full_file_is_read_and_paths_are_relative_to_it() {
        let c = parse(
            r#"
            default_account = "0123456789abcdef0123456789ABCDEF"
            callflows = "flows"
            [esl]
            listen = "0.0.0.0:0"
            [api]
            listen = "127.0.0.1:0"
            [store]
            path = "debug.db"
            [[accounts]]
            id = "0123456789abcdef0123456789abcdef"
            name = "Example"
            api_key = "secret-key-1"
            "#,
        )
        .unwrap();
        assert_eq!(
            c.default_account.to_string(),
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(c.callflows, Some(PathBuf::from("/etc/pivot/flows")));
        assert_eq!(c.store.path, PathBuf::from("/etc/pivot/debug.db"));
        assert_eq!(c.esl.listen.port(), 0);
        assert_eq!(c.accounts.len(), 1);
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let e = parse("[esl]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("pivot.toml:"), "{e}");
        assert!(e.contains("lisen"), "{e}");
    }

    #[test]
    fn bad_address_names_the_key() {
        let e = parse("[esl]\nlisten = \"nowhere\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("esl.listen") && e.contains("nowhere"), "{e}");
    }

    #[test]
    fn bad_account_id_names_the_key() {
        let e = parse("default_account = \"xyz\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("default_account") && e.contains("32 hex"), "{e}");
    }

    #[test]
    fn twiml_section_is_read_and_checked() {
        let c = parse(
            "[twiml]\ndial_number = \"sofia/gateway/gw1/{number}\"\n\
             recording_url = \"https://rec.example.com/vm\"\nvoices = { man = \"rms\" }\n",
        )
        .unwrap();
        assert_eq!(c.twiml.dial_number, "sofia/gateway/gw1/{number}");
        assert_eq!(c.twiml.dial_sip, "sofia/internal/{uri}");
        assert_eq!(c.twiml.voice("man"), "rms");
        assert_eq!(
            c.twiml.voice("woman"),
            "woman",
            "the table replaces the defaults"
        );
        assert!(c.twiml.recording_url.is_some());
        assert_eq!(Config::default().twiml.voice("alice"), "slt");
        for (text, key) in [
            ("dial_number = \"sofia/gateway/gw1\"", "twiml.dial_number"),
            ("dial_sip = \"a/{uri},b/{uri}\"", "twiml.dial_sip"),
            ("dial_sip = \"a/${x}{uri}\"", "twiml.dial_sip"),
            ("recording_url = \"ftp://x/y\"", "twiml.recording_url"),
            ("voices = { man = \"a|b\" }", "twiml.voices.man"),
        ] {
            let e = parse(&format!("[twiml]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn outbound_rules_are_read_and_bad_ones_named() {
        let c = parse(
            "[http]\nallow = [\"10.1.2.0/24\", \"webapp.internal\"]\ndeny = [\"*.evil.test\"]\n",
        )
        .unwrap();
        assert_eq!(c.http.outbound.allow.len(), 2);
        assert_eq!(c.http.outbound.deny, [Rule::Suffix(".evil.test".into())]);
        assert!(Config::default().http.outbound.allow.is_empty());
        let e = parse("[http]\nallow = [\"10.0.0.0/8\", \"not a host\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("http.allow[1]") && e.contains("not a host"),
            "{e}"
        );
    }

    #[test]
    fn recording_url_is_the_operators() {
        let c = parse("[twiml]\nrecording_url = \"http://127.0.0.1:5000/rec\"\n").unwrap();
        assert!(c.twiml.recording_url.unwrap().is_trusted());
    }

    #[test]
    fn store_url_picks_postgres_and_keeps_its_password_out_of_debug() {
        let c = parse(
            "node_name = \"pivot-a.dc1\"\n[store]\nurl = \"postgres://pivot:s3cret@db:5432/pivot\"\n",
        )
        .unwrap();
        assert_eq!(c.node_name, "pivot-a.dc1");
        let store = c.store_config();
        assert_eq!(store.node, "pivot-a.dc1");
        assert!(matches!(
            store.database,
            crate::store::Database::Postgres(_)
        ));
        let shown = format!("{c:?} {store:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db:5432"), "{shown}");
        for (text, key) in [
            (
                "[store]\npath = \"a.db\"\nurl = \"postgres://h/db\"",
                "store.url",
            ),
            ("[store]\nurl = \"mysql://h/db\"", "store.url"),
            ("[store]\nurl = \"postgres://h/db?bogus=1\"", "store.url"),
            ("[store]\npool_size = 0", "store.pool_size"),
            ("node_name = \"a b\"", "node_name"),
            ("node_name = \"\"", "node_name"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e.starts_with("pivot.toml:") && e.contains(key),
                "{text}: {e}"
            );
        }
        assert!(is_node_name(&Config::default().node_name));
    }

    #[test]
    fn api_limits_are_read_and_zero_is_refused() {
        let c = parse(
            "[api]\nmax_connections = 10\nmax_connections_per_address = 2\nheader_timeout_ms = 250\n\
             idle_timeout_ms = 500\nrequest_timeout_ms = 900\nauth_per_minute_per_address = 5\n\
             auth_per_minute_per_account = 3\nmax_tokens_per_account = 7\n",
        )
        .unwrap();
        assert_eq!(
            (c.api.max_connections, c.api.max_connections_per_address),
            (10, 2)
        );
        assert_eq!(c.api.header_timeout, Duration::from_millis(250));
        assert_eq!(c.api.idle_timeout, Duration::from_millis(500));
        assert_eq!(c.api.request_timeout, Duration::from_millis(900));
        assert_eq!(
            (
                c.api.auth_per_minute_per_address,
                c.api.auth_per_minute_per_account
            ),
            (5, 3)
        );
        assert_eq!(c.api.max_tokens_per_account, 7);
        for key in [
            "max_connections",
            "max_connections_per_address",
            "header_timeout_ms",
            "idle_timeout_ms",
            "request_timeout_ms",
            "auth_per_minute_per_address",
            "auth_per_minute_per_account",
            "max_tokens_per_account",
        ] {
            let e = parse(&format!("[api]\n{key} = 0\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("api.{key}")), "{key}: {e}");
        }
    }

    #[test]
    fn tts_voice_cannot_carry_separators() {
        let e = parse("[media]\ntts_voice = \"kal|x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("media.tts_voice"), "{e}");
    }
}
