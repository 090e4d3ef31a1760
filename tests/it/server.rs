//! The server around the calls: the call cap, broken peers, callflow documents, owed work
//! after a hangup, metrics and graceful shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Pivot, ACCOUNT};
use crate::support::fake_fs::{AppScript, FakeCall, FakeFs};
use crate::support::web::{Reply, WebApp};

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn say(text: &str) -> String {
    serde_json::json!({"module": "say", "data": {"text": text}}).to_string()
}

#[tokio::test]
async fn calls_over_the_cap_are_refused_and_the_others_go_on() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::json(&say("hello"))]);
    let pivot = Pivot::start_with(|c| c.esl.max_calls = 1, pivot::route::Router::empty()).await;
    let long = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .app(
            "speak",
            AppScript::new(Duration::from_millis(500), "_none_"),
        );
    let first = FakeFs::connect(pivot.esl, long).await;
    first.wait_for_app_start("speak").await;
    // The second call finds pivot full. Found on a real FreeSWITCH: a socket closed
    // without a word leaves the channel parked; `connect` then `exit` ends the socket
    // application at once, so the dialplan's fallback runs.
    let second = FakeFs::connect(pivot.esl, FakeCall::new()).await;
    let refused = second.finish().await;
    let lines: Vec<&str> = refused.frames.iter().map(|f| f.line()).collect();
    assert_eq!(lines, ["connect", "exit"], "{refused}");
    assert!(refused.server_sent_exit);
    let t = first.finish().await;
    assert_eq!(t.app_names(), ["speak"]);
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    pivot.stop().await;
}

#[tokio::test]
async fn garbage_or_a_closed_socket_ends_only_that_call() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::json(&say("hello"))]);
    let pivot = Pivot::start().await;
    // A peer that answers `connect` with a header line that is not a header.
    let mut bad = TcpStream::connect(pivot.esl).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = bad.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"connect\n\n");
    bad.write_all(b"this is not an event socket\n\n")
        .await
        .unwrap();
    // A peer that closes right after the connect command.
    let mut gone = TcpStream::connect(pivot.esl).await.unwrap();
    let _ = gone.read(&mut buf).await.unwrap();
    drop(gone);
    // A real call at the same time is untouched.
    let good = FakeFs::connect(
        pivot.esl,
        FakeCall::new().var("pivot_voice_url", &web.url("/voice")),
    );
    let t = good.await.finish().await;
    assert_eq!(t.app_names(), ["speak"]);
    // pivot closed the garbage connection and both tasks are gone.
    let n = tokio::time::timeout(Duration::from_secs(5), bad.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    let stats = &pivot.engine.stats;
    wait_for("call tasks to end", || {
        stats.calls_active.load(Ordering::SeqCst) == 0
    })
    .await;
    // The garbage is a failed call; the peer that left without a word is not a call at
    // all (a TCP health check looks like that).
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 1);
    assert_eq!(stats.probes.load(Ordering::SeqCst), 1);
    assert!(stats.protocol_errors.load(Ordering::SeqCst) >= 1);
    pivot.stop().await;
}

#[tokio::test]
async fn a_recording_ended_by_the_hangup_is_still_uploaded() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({"module": "record_caller", "data": {"url": web.url("/rec"), "format": "wav"}});
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let pivot = Pivot::start().await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .app("record", AppScript::new(Duration::from_secs(30), "_none_"))
        .hangup_when_app_starts("record");
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    assert_eq!(t.app_names(), ["playback", "record"], "{t}");
    let ups = web.uploads();
    assert_eq!(ups.len(), 1, "{t}");
    assert_eq!(ups[0].path, format!("/rec/{}.wav", t.uuid));
    // The upload came after the hangup, through the still-open (lingering) socket.
    assert!(
        t.after_hangup
            .iter()
            .any(|f| f.line().starts_with("api http_put")),
        "{t}"
    );
    assert!(t.executes_after_hangup().is_empty());
    pivot.stop().await;
}

#[tokio::test]
async fn custom_headers_and_get_redirects_reach_the_web_app() {
    let web = WebApp::start().await;
    web.script("/old", [Reply::status(302).header("location", "/new")]);
    web.script("/new", [Reply::json(&say("moved"))]);
    let entry = serde_json::json!({"module": "pivot", "data": {
        "voice_url": web.url("/old"),
        "custom_request_headers": {"X-Tenant": "acme"}
    }});
    web.script("/entry", [Reply::json(&entry.to_string())]);
    let pivot = Pivot::start().await;
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/entry"));
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    assert_eq!(t.app_calls(), [("speak", "flite|slt|moved")], "{t}");
    assert_eq!(web.requests_to("/old")[0].header("x-tenant"), Some("acme"));
    assert_eq!(web.requests_to("/new").len(), 1);
    pivot.stop().await;
}

#[tokio::test]
async fn callflow_documents_route_by_number_then_pattern() {
    let web = WebApp::start().await;
    web.script("/a", [Reply::json(&say("exact"))]);
    web.script("/b", [Reply::json(&say("pattern"))]);
    let dir = tempfile::tempdir().unwrap();
    let doc = |name: &str, numbers: &[&str], patterns: &[&str], url: String| {
        let v = serde_json::json!({
            "name": name, "account_id": crate::harness::OTHER_ACCOUNT,
            "numbers": numbers, "patterns": patterns,
            "flow": {"module": "pivot", "data": {"voice_url": url}}
        });
        std::fs::write(dir.path().join(format!("{name}.json")), v.to_string()).unwrap();
    };
    doc("10-exact", &["3004"], &[], web.url("/a"));
    doc("20-pattern", &[], &["^30\\d\\d$"], web.url("/b"));
    let limits = pivot::callflow::FlowLimits::default();
    let router = pivot::route::Router::load_dir(dir.path(), &limits).unwrap();
    let pivot = Pivot::start_with(|_| {}, router).await;
    let a = FakeFs::connect(pivot.esl, FakeCall::new().destination("3004"))
        .await
        .finish()
        .await;
    let b = FakeFs::connect(pivot.esl, FakeCall::new().destination("3010"))
        .await
        .finish()
        .await;
    assert_eq!(a.app_calls(), [("speak", "flite|slt|exact")]);
    assert_eq!(b.app_calls(), [("speak", "flite|slt|pattern")]);
    // The document's account is the one sent to the web app.
    assert_eq!(
        web.requests_to("/a")[0].param("Account-ID").as_deref(),
        Some(crate::harness::OTHER_ACCOUNT)
    );
    // A channel variable names the account over the document.
    let c = FakeCall::new()
        .destination("3004")
        .var("piston_account_id", ACCOUNT);
    FakeFs::connect(pivot.esl, c).await.finish().await;
    assert_eq!(
        web.requests_to("/a")[1].param("Account-ID").as_deref(),
        Some(ACCOUNT)
    );
    pivot.stop().await;
}

#[tokio::test]
async fn metrics_follow_the_calls() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::json(&say("hi"))]);
    web.script("/broken", [Reply::status(500)]);
    let pivot = Pivot::start().await;
    let metrics = || async {
        reqwest::get(pivot.api_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let value = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from\n{text}"))
    };
    let before = metrics().await;
    assert_eq!(value(&before, "pivot_calls_total"), 0);
    let ok = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    FakeFs::connect(pivot.esl, ok).await.finish().await;
    let broken = FakeCall::new().var("pivot_voice_url", &web.url("/broken"));
    FakeFs::connect(pivot.esl, broken).await.finish().await;
    let stats = &pivot.engine.stats;
    wait_for("calls to end", || {
        stats.calls_active.load(Ordering::SeqCst) == 0
    })
    .await;
    let after = metrics().await;
    assert_eq!(value(&after, "pivot_calls_total"), 2);
    assert_eq!(value(&after, "pivot_calls_active"), 0);
    assert_eq!(value(&after, "pivot_requests_total"), 2);
    assert_eq!(value(&after, "pivot_failbacks_total"), 1);
    assert!(
        after.contains("pivot_failbacks_by_cause_total{cause=\"http_status\"} 1"),
        "{after}"
    );
    assert!(
        after.contains("pivot_request_duration_seconds_count 2"),
        "{after}"
    );
    pivot.stop().await;
}

#[tokio::test]
async fn shutdown_lets_calls_in_flight_finish_and_keeps_their_debug_records() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::json(&say("goodbye"))]);
    let pivot = Pivot::start().await;
    let db = pivot.dir.path().join("pivot.db");
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .var("pivot_debug", "true")
        .app(
            "speak",
            AppScript::new(Duration::from_millis(300), "_none_"),
        );
    let handle = FakeFs::connect(pivot.esl, call).await;
    handle.wait_for_app_start("speak").await;
    let esl = pivot.esl;
    let dir = pivot.stop_keep_dir().await;
    // The call went on to its end after the shutdown began.
    let t = handle.finish().await;
    assert_eq!(t.app_names(), ["speak"]);
    assert_eq!(t.hangup_cause(), Some("NORMAL_CLEARING"));
    // New calls are no longer accepted.
    assert!(TcpStream::connect(esl).await.is_err());
    // Its three debug records were flushed to the database before pivot returned.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM debug_records WHERE call_id = ?1",
            [&t.uuid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3);
    drop(dir);
}

#[test]
fn serve_refuses_a_bad_config_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str| {
        let path = dir.path().join("pivot.toml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pivot"))
            .args(["serve", "--check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("[esl]\nlisten = \"no-port\"\n");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("pivot.toml") && err.contains("esl.listen") && err.contains("no-port"),
        "{err}"
    );
    let (code, err) = run("[api]\nlistne = \"127.0.0.1:1\"\n");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("pivot.toml") && err.contains("listne"),
        "{err}"
    );
    std::fs::create_dir(dir.path().join("flows")).unwrap();
    std::fs::write(
        dir.path().join("flows/menu.json"),
        r#"{"name":"m","numbers":["1"],"flow":{"module":"record_caller","data":{"url":"http://x","time_limit":"abc"}}}"#,
    )
    .unwrap();
    let (code, err) = run("callflows = \"flows\"\n");
    assert_eq!(code, Some(1));
    assert!(
        err.contains("menu.json") && err.contains("time_limit"),
        "{err}"
    );
    let (code, _) = run("");
    assert_eq!(code, Some(0));
}

/// The configuration reference in the README is real: every key in it is accepted.
#[test]
fn the_readme_configuration_block_is_a_valid_config() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = readme[start..].find("```").unwrap();
    let text = &readme[start..start + len];
    let config =
        pivot::config::Config::from_toml(text, "README.md".as_ref(), "/etc/pivot".as_ref())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.accounts.len(), 1);
    assert_eq!(config.esl.listen.port(), 8084);
}

/// The real binary: SIGTERM stops it cleanly (exit 0) after it logged its bound addresses.
#[cfg(unix)]
#[tokio::test]
async fn the_binary_stops_cleanly_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pivot.toml");
    std::fs::write(
        &config,
        "[esl]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"pivot.db\"\n",
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pivot"))
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let running = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log lines");
            if v["fields"]["message"] == "pivot is running" {
                return v;
            }
        }
        panic!("pivot exited before it was running");
    };
    let line = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap();
    let esl: std::net::SocketAddr = line["fields"]["esl"].as_str().unwrap().parse().unwrap();
    assert_ne!(esl.port(), 0, "the bound port is logged");
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(dir.path().join("pivot.db").exists());
}

#[tokio::test]
async fn the_cdr_is_posted_when_the_call_ends_even_after_the_caller_hung_up() {
    let web = WebApp::start().await;
    let entry = serde_json::json!({"module": "pivot", "data": {
        "voice_url": web.url("/voice"), "cdr_url": web.url("/cdr")
    }});
    web.script("/entry", [Reply::json(&entry.to_string())]);
    let flow = serde_json::json!({"module": "play", "data": {"id": "/sounds/long.wav"}});
    web.script("/voice", [Reply::json(&flow.to_string())]);
    web.script("/cdr", [Reply::status(204)]);
    let pivot = Pivot::start().await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/entry"))
        .app(
            "playback",
            AppScript::new(Duration::from_secs(30), "FILE PLAYED"),
        )
        .hangup_when_app_starts("playback");
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    let cdr = web.wait_for_requests(3).await;
    let cdr = cdr
        .iter()
        .find(|r| r.path == "/cdr")
        .expect("a CDR request");
    assert_eq!(cdr.method, "POST");
    assert_eq!(cdr.param("Call-ID").as_deref(), Some(t.uuid.as_str()));
    assert_eq!(
        cdr.param("Hangup-Cause").as_deref(),
        Some("NORMAL_CLEARING")
    );
    pivot.stop().await;
}

/// The README's flow examples (Piston JSON and TwiML) pass the server's validators.
#[test]
fn the_readme_flow_examples_are_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let blocks = |lang: &str| -> Vec<String> {
        let fence = format!("```{lang}\n");
        readme
            .split(&fence)
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap().to_string())
            .collect()
    };
    let mut checked = 0;
    for json in blocks("json") {
        let report = pivot::check::check_bytes("README.json", json.as_bytes());
        assert!(report.passes(true), "{}", report.render());
        checked += 1;
    }
    for xml in blocks("xml")
        .into_iter()
        .filter(|x| x.contains("<Response>"))
    {
        let report = pivot::check::check_bytes("README.xml", xml.as_bytes());
        assert!(report.passes(true), "{}", report.render());
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[tokio::test]
async fn a_frame_over_the_limit_closes_only_its_own_connection() {
    let web = WebApp::start().await;
    web.script("/voice", [Reply::json(&say("hello"))]);
    let pivot = Pivot::start_with(
        |c| c.esl.max_frame_bytes = 4096,
        pivot::route::Router::empty(),
    )
    .await;
    let mut big = TcpStream::connect(pivot.esl).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = big.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"connect\n\n");
    // A frame announcing a body over the limit: refused before the body is read.
    big.write_all(b"Content-Length: 100000\nContent-Type: text/event-plain\n\n")
        .await
        .unwrap();
    let call = FakeCall::new().var("pivot_voice_url", &web.url("/voice"));
    let t = FakeFs::connect(pivot.esl, call).await.finish().await;
    assert_eq!(t.app_names(), ["speak"], "the other call is untouched");
    let n = tokio::time::timeout(Duration::from_secs(5), big.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the offending connection is closed");
    let stats = &pivot.engine.stats;
    wait_for("the task to end", || {
        stats.calls_active.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(stats.protocol_errors.load(Ordering::SeqCst), 1);
    pivot.stop().await;
}

#[tokio::test]
async fn calls_still_running_after_the_grace_period_are_hung_up() {
    let web = WebApp::start().await;
    let flow = serde_json::json!({"module": "play", "data": {"id": "/sounds/long.wav"}});
    web.script("/voice", [Reply::json(&flow.to_string())]);
    let grace = Duration::from_millis(200);
    let pivot = Pivot::start_graced(|_| {}, pivot::route::Router::empty(), grace).await;
    let call = FakeCall::new()
        .var("pivot_voice_url", &web.url("/voice"))
        .app(
            "playback",
            AppScript::new(Duration::from_secs(60), "FILE PLAYED")
                .killed_response("PLAYBACK ERROR"),
        );
    let handle = FakeFs::connect(pivot.esl, call).await;
    handle.wait_for_app_start("playback").await;
    pivot.stop().await;
    let t = handle.finish().await;
    // pivot hung the call up itself with uuid_kill (a `sendmsg hangup` would wait behind
    // the event-locked playback), then left with `exit`.
    let kill = format!("uuid_kill {} SYSTEM_SHUTDOWN", t.uuid);
    assert!(t.api.iter().any(|a| a.command == kill), "{t}");
    assert_eq!(t.hangup_cause(), Some("SYSTEM_SHUTDOWN"));
    assert!(t.server_sent_exit, "{t}");
    assert!(t.executes_after_hangup().is_empty());
}

#[tokio::test]
async fn a_peer_that_stops_answering_is_dropped_after_the_reply_timeout() {
    let pivot = Pivot::start_with(
        |c| c.esl.reply_timeout = Duration::from_millis(300),
        pivot::route::Router::empty(),
    )
    .await;
    let capture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/esl/full.fs-sent.raw"
    ))
    .unwrap();
    let end = capture.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let mut peer = TcpStream::connect(pivot.esl).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = peer.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"connect\n\n");
    // The real connect reply, then silence: no reply to myevents and the rest.
    peer.write_all(&capture[..end]).await.unwrap();
    let mut sent = Vec::new();
    let closed = async {
        loop {
            match peer.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => sent.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), closed)
        .await
        .expect("pivot closes the socket");
    assert!(
        sent.starts_with(b"myevents\n\n"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
    let stats = &pivot.engine.stats;
    wait_for("the task to end", || {
        stats.calls_active.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(stats.calls_failed.load(Ordering::SeqCst), 1);
    pivot.stop().await;
}
