//! The real `pivot` binary (`pivot serve`) on free ports with a throwaway configuration and
//! database, its JSON log kept for failure messages, stopped with SIGTERM or killed with
//! SIGKILL; and its REST API (login, debug records).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

pub const ACCOUNT: &str = "4b8c4d4a2f1e4c1b9a0d7e6f5a4b3c2d";
pub const API_KEY: &str = "key-of-the-conformance-account";

pub struct PivotProc {
    child: Child,
    pub esl: SocketAddr,
    pub api: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

/// pivot's configuration for the suite: `[twiml] dial_number` dials the test extensions.
fn config(dir: &std::path::Path, bind: IpAddr, extra: &str) -> String {
    format!(
        r#"default_account = "{ACCOUNT}"
[esl]
listen = "{esl}"
{allow}
hangup_wait_ms = 5000
[api]
listen = "127.0.0.1:0"
[store]
path = "{db}"
# The suite's web apps all listen on this host; the outbound URL policy (which refuses
# loopback for URLs a web app names) has its own tests in tests/it/outbound.rs.
[http]
allow = ["127.0.0.0/8"]
[media]
recordings_dir = "/tmp"
[twiml]
dial_number = "loopback/{{number}}/default"
[[accounts]]
id = "{ACCOUNT}"
name = "Conformance"
api_key = "{API_KEY}"
{extra}"#,
        esl = SocketAddr::new(bind, 0),
        // FreeSWITCH in a container reaches this host from its own network: a throwaway
        // pivot for one test may take any peer (the default is loopback only).
        allow = if bind.is_loopback() {
            ""
        } else {
            r#"allow = ["0.0.0.0/0", "::/0"]"#
        },
        db = dir.join("pivot.db").display(),
    )
}

impl PivotProc {
    /// Starts pivot and waits (bounded) for its "pivot is running" log line. `grace`: how
    /// long calls may go on after SIGTERM before pivot hangs them up.
    pub async fn start(bind: IpAddr, extra_toml: &str, grace: Duration) -> PivotProc {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pivot.toml");
        std::fs::write(&path, config(dir.path(), bind, extra_toml)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pivot"))
            .args(["serve", "--log-format", "json", "--config"])
            .arg(&path)
            .arg("--shutdown-grace")
            .arg(format!("{}ms", grace.as_millis()))
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = logs.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["fields"]["message"] == "pivot is running" {
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(v["fields"].clone());
                        }
                    }
                }
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let running = tokio::time::timeout(Duration::from_secs(30), rx).await;
        let fields = match running {
            Ok(Ok(fields)) => fields,
            _ => panic!("pivot did not start: {:#?}", logs.lock().unwrap()),
        };
        let addr = |k: &str| fields[k].as_str().unwrap().parse::<SocketAddr>().unwrap();
        PivotProc {
            esl: addr("esl"),
            api: addr("api"),
            child,
            logs,
            _dir: dir,
        }
    }

    /// pivot's log lines so far (JSON).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Log lines whose message contains `text`.
    pub fn log_lines_with(&self, text: &str) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|l| l.contains(text))
            .collect()
    }

    fn signal(&self, sig: &str) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status();
        }
    }

    /// SIGTERM: stop accepting, let calls finish (up to --shutdown-grace), exit.
    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    /// SIGKILL: pivot vanishes mid-whatever, like a crash.
    pub async fn sigkill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Waits (bounded) for the process to exit; its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => panic!(
                "pivot did not exit within {within:?}:\n{}",
                self.logs().join("\n")
            ),
        }
    }

    /// SIGTERM and wait; a pivot already gone is fine.
    pub async fn stop(&mut self, within: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.sigterm();
        self.wait_exit(within).await;
    }

    /// An auth token for the suite's account.
    pub async fn login(&self) -> String {
        let body = serde_json::json!({"data": {"api_key": API_KEY}});
        let resp = reqwest::Client::new()
            .put(format!("http://{}/v2/api_auth", self.api))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        v["auth_token"].as_str().unwrap().to_string()
    }

    /// The call's debug records, once there are at least `n` (bounded wait: the store
    /// writes off the call's path).
    pub async fn debug_records(&self, call_id: &str, n: usize) -> Vec<Value> {
        let token = self.login().await;
        let url = format!(
            "http://{}/v2/accounts/{ACCOUNT}/pivot/debug/{call_id}",
            self.api
        );
        let mut last = Value::Null;
        for _ in 0..100 {
            let resp = reqwest::Client::new()
                .get(&url)
                .header("X-Auth-Token", &token)
                .send()
                .await
                .unwrap();
            if resp.status() == 200 {
                last = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
                let data = last["data"].as_array().cloned().unwrap_or_default();
                if data.len() >= n {
                    return data;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("call {call_id} never had {n} debug records: {last:#}");
    }
}
