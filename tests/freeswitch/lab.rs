//! One test's world: the FreeSWITCH named by `PIVOT_TEST_FREESWITCH` (its inbound event
//! socket and the event log of this test's calls), the real pivot binary, a recording proxy
//! between them, and a scripted web app. `Lab::start` returns `None` (after one line on
//! stderr) when the suite is not configured; `Lab::finish` checks that no channel is left.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use pivot::esl::client::{Client, Options};

use crate::calls::{CallBuilder, EventLog};
use crate::pivot_proc::PivotProc;
use crate::proxy::Proxy;
use crate::web::WebApp;

/// The suite's settings, from the environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `host:port` of FreeSWITCH's inbound event socket.
    pub esl: String,
    pub password: String,
    /// The address FreeSWITCH reaches this machine at (pivot's socket, the web app).
    pub host: String,
    pub capture: Option<PathBuf>,
    pub update_sequences: bool,
}

const SKIP: &str = "SKIPPED: the FreeSWITCH conformance suite needs PIVOT_TEST_FREESWITCH=host:port[:password], \
the inbound event socket of a FreeSWITCH 1.10 running freeswitch-conf/freeswitch (see docs/lab.md); \
none is set, so no test of tests/freeswitch ran";

impl Settings {
    /// None when the suite is not configured.
    pub fn from_env() -> Option<Settings> {
        let target = std::env::var("PIVOT_TEST_FREESWITCH").ok()?;
        let target = target.trim();
        if target.is_empty() {
            return None;
        }
        let (addr, password) = parse_target(target);
        let host = std::env::var("PIVOT_TEST_HOST").unwrap_or_else(|_| "127.0.0.1".into());
        Some(Settings {
            esl: addr,
            password,
            host,
            capture: std::env::var_os("PIVOT_TEST_CAPTURE").map(PathBuf::from),
            update_sequences: std::env::var("PIVOT_TEST_UPDATE_SEQUENCES").is_ok_and(|v| v == "1"),
        })
    }

    /// Where the test's listeners bind: loopback when FreeSWITCH is on this machine.
    pub fn bind_ip(&self) -> IpAddr {
        match self.host.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => ip,
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// Tests take turns (each has its own runtime; tokio's mutex works across them).
/// `host:port[:password]` (an IPv6 host in brackets) → (`host:port`, password).
pub fn parse_target(target: &str) -> (String, String) {
    let host_end = match target.strip_prefix('[') {
        Some(rest) => rest.find(']').map_or(0, |i| i + 2),
        None => target.find(':').unwrap_or(target.len()),
    };
    let (host, rest) = target.split_at(host_end.min(target.len()));
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    match rest.split_once(':') {
        Some((port, password)) => (format!("{host}:{port}"), password.to_string()),
        None => (format!("{host}:{rest}"), "ClueCon".to_string()),
    }
}

#[test]
fn targets_with_and_without_a_password() {
    let t = |s: &str| parse_target(s);
    let pair = |a: &str, p: &str| (a.to_string(), p.to_string());
    assert_eq!(t("127.0.0.1:8021"), pair("127.0.0.1:8021", "ClueCon"));
    assert_eq!(t("fs.lab:8021:s3cret"), pair("fs.lab:8021", "s3cret"));
    assert_eq!(t("fs.lab:8021:1234"), pair("fs.lab:8021", "1234"));
    assert_eq!(t("fs:8021:a:b"), pair("fs:8021", "a:b"));
    assert_eq!(t("[::1]:8021"), pair("[::1]:8021", "ClueCon"));
    assert_eq!(t("[::1]:8021:pw"), pair("[::1]:8021", "pw"));
}

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static SKIP_NOTICE: Once = Once::new();

pub struct Lab {
    pub name: String,
    pub settings: Settings,
    /// The inbound event socket (api, bgapi).
    pub fs: Client,
    /// Every event of this test's calls.
    pub events: EventLog,
    pub web: WebApp,
    /// The web app as FreeSWITCH and pivot reach it (a forwarder when not on loopback).
    web_base: String,
    _web_forward: Option<Proxy>,
    pub pivot: PivotProc,
    /// FreeSWITCH connects here; it forwards to pivot and records both directions.
    pub proxy: Proxy,
    /// Tags every call of this test: `pivot_test_run=<run>`.
    pub run: String,
    finished: bool,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Lab {
    /// The lab with pivot's default test configuration.
    pub async fn start(name: &str) -> Option<Lab> {
        Self::start_with(name, "", Duration::from_secs(20)).await
    }

    /// `extra_toml` is appended to pivot's configuration (e.g. `[esl]` keys); `grace` is
    /// pivot's `--shutdown-grace`.
    pub async fn start_with(name: &str, extra_toml: &str, grace: Duration) -> Option<Lab> {
        let Some(settings) = Settings::from_env() else {
            SKIP_NOTICE.call_once(|| {
                // Straight to stderr: libtest hides what print macros write in passing tests.
                let _ = writeln!(std::io::stderr(), "\n{SKIP}\n");
            });
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let options = Options {
            event_capacity: 100_000,
            ..Options::default()
        };
        let fs = Client::connect_with(settings.esl.as_str(), &settings.password, options)
            .await
            .unwrap_or_else(|e| panic!("PIVOT_TEST_FREESWITCH={}: {e}", settings.esl));
        let run = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        wait_idle(&fs).await;
        let events = EventLog::start(fs.clone(), &run).await;
        let bind = settings.bind_ip();
        let web = WebApp::start().await;
        let (web_base, web_forward) = if bind.is_loopback() {
            (format!("http://{}", web.addr()), None)
        } else {
            let fwd = Proxy::start(SocketAddr::new(bind, 0), web.addr(), false).await;
            let base = format!("http://{}:{}", settings.host, fwd.addr().port());
            (base, Some(fwd))
        };
        let pivot = PivotProc::start(bind, extra_toml, grace).await;
        let proxy = Proxy::start(SocketAddr::new(bind, 0), pivot.esl, true).await;
        Some(Lab {
            name: name.to_string(),
            settings,
            fs,
            events,
            web,
            web_base,
            _web_forward: web_forward,
            pivot,
            proxy,
            run,
            finished: false,
            _turn: turn,
        })
    }

    /// A web app URL FreeSWITCH and pivot can both reach; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.web_base)
    }

    /// The `host:port` the dialplan's socket should dial for pivot (the recording proxy).
    pub fn pivot_target(&self) -> (String, u16) {
        (self.settings.host.clone(), self.proxy.addr().port())
    }

    /// A call to `extension` (context default) through this test's pivot, tagged with
    /// the run id; the A leg runs extension 9001 (answers and waits) unless changed.
    pub fn call(&self, extension: &str) -> CallBuilder {
        let (host, port) = self.pivot_target();
        CallBuilder::new(self.fs.clone(), self.events.clone(), extension)
            .var("pivot_test_run", &self.run)
            .var("pivot_host", &host)
            .var("pivot_port", &port.to_string())
    }

    /// The number of channels FreeSWITCH has (all of them: tests run one at a time).
    pub async fn channel_count(&self) -> usize {
        let out = self.fs.api("show channels count").await.unwrap();
        out.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("show channels count: {out:?}"))
    }

    /// Waits (bounded) until FreeSWITCH has no channel left; panics with the list if not.
    pub async fn assert_no_channel_left(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.channel_count().await > 0 {
            if tokio::time::Instant::now() >= deadline {
                let list = self.fs.api("show channels").await.unwrap_or_default();
                panic!("channels left on FreeSWITCH after {within:?}:\n{list}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the test: no channel left, pivot stopped, captures written. With
    /// `PIVOT_TEST_VERBOSE=1` the test's FreeSWITCH events are printed.
    pub async fn finish(mut self) {
        if std::env::var("PIVOT_TEST_VERBOSE").is_ok_and(|v| v == "1") {
            println!(
                "--- FreeSWITCH events of {}:\n{}",
                self.name,
                self.events.summary()
            );
        }
        self.assert_no_channel_left(Duration::from_secs(10)).await;
        self.finished = true;
        self.write_captures();
        self.pivot.stop(Duration::from_secs(10)).await;
    }

    /// With `PIVOT_TEST_CAPTURE=dir`: every connection's bytes in the fixtures/esl format.
    pub fn write_captures(&self) {
        if let Some(dir) = &self.settings.capture {
            self.proxy.write_captures(dir, &self.name);
        }
    }
}

impl Drop for Lab {
    /// A failed test: hang up every call of this run, so the next test starts clean.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Shown with the failure (libtest prints a failed test's captured output).
        let logs = self.pivot.logs();
        let tail = &logs[logs.len().saturating_sub(60)..];
        println!("--- pivot's last log lines:\n{}", tail.join("\n"));
        println!(
            "--- FreeSWITCH events of this test:\n{}",
            self.events.summary()
        );
        self.write_captures();
        hupall_blocking(&self.settings, &self.run);
    }
}

/// A test starts on an idle switch (a failed test's calls take a moment to go).
async fn wait_idle(fs: &Client) {
    for _ in 0..100 {
        let out = fs.api("show channels count").await.unwrap();
        if out.trim().starts_with("0 total") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = fs.api("show channels").await.unwrap_or_default();
    panic!(
        "FreeSWITCH has channels that are not this test's: the suite needs an idle switch\n{list}"
    );
}

/// `hupall` of this run's calls over a plain blocking socket (no runtime in `drop`).
fn hupall_blocking(settings: &Settings, run: &str) {
    use std::io::Read;
    let Ok(addr) = std::net::ToSocketAddrs::to_socket_addrs(settings.esl.as_str()) else {
        return;
    };
    let Some(addr) = addr.into_iter().next() else {
        return;
    };
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let cmds = format!(
        "auth {}\n\napi hupall MANAGER_REQUEST pivot_test_run {run}\n\nexit\n\n",
        settings.password
    );
    let _ = s.write_all(cmds.as_bytes());
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}
