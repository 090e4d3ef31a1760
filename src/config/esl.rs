//! `[esl]`: the event socket server. Who may connect (`allow`), how many connections and
//! calls at once, and how long each wait on FreeSWITCH may last. Same validator style as
//! the rest of the file.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::{set, ConfigError, Validator};

#[derive(Debug, Clone)]
pub struct EslConfig {
    pub listen: SocketAddr,
    /// Peers that may connect (FreeSWITCH's addresses); anyone else is closed at once.
    pub allow: PeerAllowList,
    pub max_calls: usize,
    /// Connections that have not yet answered `connect` (see `server`).
    pub max_handshaking: usize,
    /// How long a new connection may take to answer `connect` with its channel data.
    pub handshake_timeout: Duration,
    pub max_frame_bytes: usize,
    /// Bytes of unfinished frames all connections together may buffer (beyond each
    /// connection's first 16 KiB): what stalled peers can pin.
    pub read_budget_bytes: usize,
    /// How long a frame may take to arrive in full once its first bytes did.
    pub frame_timeout: Duration,
    /// How long a finished call waits for CHANNEL_HANGUP_COMPLETE before it closes anyway.
    pub hangup_wait: Duration,
    /// How long a command may wait for its reply before the call is given up.
    pub reply_timeout: Duration,
    /// How long FreeSWITCH's `http_put` of a recording may take to answer.
    pub upload_timeout: Duration,
    /// The longest a call may last: pivot hangs up (ALLOTTED_TIMEOUT) when it is reached,
    /// and FreeSWITCH itself a minute later if pivot is gone (`sched_hangup`).
    pub max_call_duration: Duration,
}

impl Default for EslConfig {
    fn default() -> Self {
        EslConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8084)),
            allow: PeerAllowList::loopback(),
            max_calls: 2000,
            max_handshaking: 256,
            handshake_timeout: Duration::from_secs(5),
            max_frame_bytes: 16 * 1024 * 1024,
            read_budget_bytes: 64 * 1024 * 1024,
            frame_timeout: Duration::from_secs(5),
            hangup_wait: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(10),
            upload_timeout: Duration::from_secs(600),
            max_call_duration: Duration::from_secs(4 * 3600),
        }
    }
}

/// Most handshaking connections allowed (the server scans them when it is full).
pub const MAX_HANDSHAKING: usize = 65_536;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEsl {
    listen: Option<String>,
    allow: Option<Vec<String>>,
    max_calls: Option<usize>,
    max_handshaking: Option<usize>,
    handshake_timeout_ms: Option<u64>,
    max_frame_bytes: Option<usize>,
    read_budget_bytes: Option<usize>,
    frame_timeout_ms: Option<u64>,
    hangup_wait_ms: Option<u64>,
    reply_timeout_ms: Option<u64>,
    upload_timeout_secs: Option<u64>,
    max_call_secs: Option<u64>,
}

/// `[esl] allow`: the addresses and ranges that may connect to the event socket. Default:
/// loopback only. An IPv4 peer seen on a dual-stack socket (`::ffff:a.b.c.d`) is matched
/// as the IPv4 address it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAllowList(Vec<IpNet>);

impl PeerAllowList {
    /// `127.0.0.0/8` and `::1`.
    pub fn loopback() -> Self {
        let v4 = ipnet::Ipv4Net::new([127, 0, 0, 0].into(), 8).expect("8 is a prefix length");
        let v6 = IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]);
        PeerAllowList(vec![IpNet::V4(v4), IpNet::from(v6)])
    }

    /// One entry: an address (`10.0.0.5`, `::1`) or a CIDR range (`10.0.0.0/24`).
    pub fn entry(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(net.trunc());
        }
        s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
            format!("`{s}` is not an address or a CIDR range like 10.0.0.5 or 10.0.0.0/24")
        })
    }

    pub fn new(nets: Vec<IpNet>) -> Self {
        PeerAllowList(nets)
    }

    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|net| net.contains(&peer))
    }
}

impl std::fmt::Display for PeerAllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

impl Validator<'_> {
    pub(super) fn esl(&self, c: &mut EslConfig, e: RawEsl) -> Result<(), ConfigError> {
        if let Some(l) = e.listen {
            c.listen = self.addr("esl.listen", &l)?;
        }
        if let Some(items) = e.allow {
            c.allow = self.peers(&items)?;
        }
        set(&mut c.max_calls, e.max_calls);
        c.max_calls = self.positive("esl.max_calls", c.max_calls)?;
        set(&mut c.max_handshaking, e.max_handshaking);
        c.max_handshaking = self.positive("esl.max_handshaking", c.max_handshaking)?;
        if c.max_handshaking > MAX_HANDSHAKING {
            let msg = format!("at most {MAX_HANDSHAKING}");
            return Err(self.err("esl.max_handshaking", &msg));
        }
        set(&mut c.max_frame_bytes, e.max_frame_bytes);
        c.max_frame_bytes = self.positive("esl.max_frame_bytes", c.max_frame_bytes)?;
        set(&mut c.read_budget_bytes, e.read_budget_bytes);
        if c.read_budget_bytes < c.max_frame_bytes {
            let msg = format!(
                "must be at least esl.max_frame_bytes ({}), or the largest frame allowed could never be read",
                c.max_frame_bytes
            );
            return Err(self.err("esl.read_budget_bytes", &msg));
        }
        if let Some(ms) = e.hangup_wait_ms {
            c.hangup_wait = Duration::from_millis(ms);
        }
        let ms = |key: &str, v: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(self.positive(key, v as usize)? as u64))
        };
        let secs = |key: &str, v: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(self.positive(key, v as usize)? as u64))
        };
        if let Some(v) = e.handshake_timeout_ms {
            c.handshake_timeout = ms("esl.handshake_timeout_ms", v)?;
        }
        if let Some(v) = e.frame_timeout_ms {
            c.frame_timeout = ms("esl.frame_timeout_ms", v)?;
        }
        if let Some(v) = e.reply_timeout_ms {
            c.reply_timeout = ms("esl.reply_timeout_ms", v)?;
        }
        if let Some(v) = e.upload_timeout_secs {
            c.upload_timeout = secs("esl.upload_timeout_secs", v)?;
        }
        if let Some(v) = e.max_call_secs {
            c.max_call_duration = secs("esl.max_call_secs", v)?;
        }
        Ok(())
    }

    fn peers(&self, items: &[String]) -> Result<PeerAllowList, ConfigError> {
        if items.is_empty() {
            return Err(self.err(
                "esl.allow",
                "an empty list would refuse every connection; name FreeSWITCH's addresses",
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                PeerAllowList::entry(s).map_err(|e| self.err(&format!("esl.allow[{i}]"), &e))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(PeerAllowList::new)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("pivot.toml"), Path::new("/etc/pivot"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_only_by_default() {
        let allow = parse("").unwrap().esl.allow;
        assert!(allow.allows(ip("127.0.0.1")));
        assert!(allow.allows(ip("127.9.9.9")));
        assert!(allow.allows(ip("::1")));
        assert!(
            allow.allows(ip("::ffff:127.0.0.1")),
            "IPv4 on a dual-stack socket"
        );
        assert!(!allow.allows(ip("10.0.0.1")));
        assert!(!allow.allows(ip("::2")));
        assert_eq!(allow.to_string(), "127.0.0.0/8, ::1/128");
    }

    #[test]
    fn addresses_and_ranges_are_read() {
        let c =
            parse("[esl]\nallow = [\"10.84.0.10\", \"192.168.1.7/24\", \"fd00::/8\"]\n").unwrap();
        let allow = c.esl.allow;
        assert!(allow.allows(ip("10.84.0.10")));
        assert!(
            !allow.allows(ip("10.84.0.11")),
            "an address is a host, not a range"
        );
        assert!(
            allow.allows(ip("192.168.1.200")),
            "host bits of a range are ignored"
        );
        assert!(allow.allows(ip("fd12::1")));
        assert!(allow.allows(ip("::ffff:10.84.0.10")));
        assert!(
            !allow.allows(ip("127.0.0.1")),
            "the list replaces the default"
        );
    }

    #[test]
    fn bad_entries_name_the_key() {
        let e = parse("[esl]\nallow = [\"127.0.0.1\", \"freeswitch\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("pivot.toml: key `esl.allow[1]`"), "{e}");
        assert!(e.contains("freeswitch"), "{e}");
        let e = parse("[esl]\nallow = []\n").unwrap_err().to_string();
        assert!(e.contains("esl.allow") && e.contains("empty"), "{e}");
    }

    #[test]
    fn handshake_and_upload_waits_are_read_and_checked() {
        let c = parse(
            "[esl]\nmax_handshaking = 10\nhandshake_timeout_ms = 1500\nupload_timeout_secs = 30\n",
        )
        .unwrap();
        assert_eq!(c.esl.max_handshaking, 10);
        assert_eq!(c.esl.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(c.esl.upload_timeout, Duration::from_secs(30));
        let d = parse("").unwrap().esl;
        assert_eq!(
            (d.max_handshaking, d.handshake_timeout, d.upload_timeout),
            (256, Duration::from_secs(5), Duration::from_secs(600))
        );
        for (text, key) in [
            ("max_handshaking = 0", "esl.max_handshaking"),
            ("max_handshaking = 1000000", "esl.max_handshaking"),
            ("handshake_timeout_ms = 0", "esl.handshake_timeout_ms"),
            ("upload_timeout_secs = 0", "esl.upload_timeout_secs"),
        ] {
            let e = parse(&format!("[esl]\n{text}\n")).unwrap_err().to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_read_budget_and_the_frame_deadline_are_read_and_checked() {
        let d = parse("").unwrap().esl;
        assert_eq!(d.read_budget_bytes, 64 << 20);
        assert_eq!(d.frame_timeout, Duration::from_secs(5));
        let c = parse("[esl]\nread_budget_bytes = 20000000\nframe_timeout_ms = 250\n").unwrap();
        assert_eq!(c.esl.read_budget_bytes, 20_000_000);
        assert_eq!(c.esl.frame_timeout, Duration::from_millis(250));
        // A budget smaller than the largest frame would refuse frames the limit allows.
        let e = parse("[esl]\nmax_frame_bytes = 2000000\nread_budget_bytes = 1000000\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("esl.read_budget_bytes") && e.contains("max_frame_bytes"),
            "{e}"
        );
        let e = parse("[esl]\nframe_timeout_ms = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("esl.frame_timeout_ms"), "{e}");
    }
}
