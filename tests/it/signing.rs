//! Signed requests (issue 13) through the fake FreeSWITCH and a scripted web app: every
//! request pivot sends checks out with the documented algorithm (written out in the test
//! support, independently of pivot's code) and fails when any part changes; the example
//! web app accepts pivot's signatures and refuses a replay; `pivot simulate` and the demo
//! sign too.

use std::time::Duration;

use serde_json::json;

use crate::harness::Pivot;
use crate::support::scenario::{call_to, failure, hmac_hex, run, say, signing, spoken, url_of};
use crate::support::web::{Reply, Request, WebApp};
use pivot::route::Router;

const SECRET: &str = "whsec-integration-0123456789";
const OLD_SECRET: &str = "whsec-integration-previous";

/// `t` and every `v1` of a request's signature header.
fn signature(r: &Request) -> (String, Vec<String>) {
    let header = r.header("x-pivot-signature").expect("a signature header");
    let mut t = String::new();
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.to_string(),
            Some(("v1", v)) => v1.push(v.to_string()),
            _ => panic!("unexpected part {part:?} in {header:?}"),
        }
    }
    (t, v1)
}

fn assert_signed(web: &WebApp, r: &Request, secrets: &[&str]) {
    let (t, v1) = signature(r);
    let url = url_of(web, r);
    let expected: Vec<String> = secrets
        .iter()
        .map(|s| hmac_hex(s, &t, &r.method, &url, &r.body))
        .collect();
    assert_eq!(v1, expected, "{} {url}", r.method);
    // Any change of any part breaks it.
    let body_changed = [r.body.as_slice(), b"x"].concat();
    for (what, method, url, body) in [
        ("method", "PUT", url.as_str(), r.body.as_slice()),
        (
            "url",
            r.method.as_str(),
            &format!("{url}&x=1"),
            r.body.as_slice(),
        ),
        (
            "body",
            r.method.as_str(),
            url.as_str(),
            body_changed.as_slice(),
        ),
    ] {
        assert_ne!(hmac_hex(secrets[0], &t, method, url, body), v1[0], "{what}");
    }
    let t_next = (t.parse::<u64>().unwrap() + 1).to_string();
    assert_ne!(
        hmac_hex(secrets[0], &t_next, &r.method, &url, &r.body),
        v1[0],
        "t"
    );
    assert_ne!(
        hmac_hex("another-secret", &t, &r.method, &url, &r.body),
        v1[0],
        "secret"
    );
}

#[tokio::test]
async fn every_request_is_signed_with_the_documented_algorithm() {
    let web = WebApp::start().await;
    let next = json!({"module": "pivot", "data": {
        "voice_url": web.url("/post?x=1"), "method": "post",
        "cdr_url": web.url("/cdr"),
    }});
    web.script("/voice", [Reply::json(&next.to_string())]);
    let record = json!({"module": "pivot", "data": {"voice_url": web.url("/hop")}});
    web.script("/post", [Reply::json(&record.to_string())]);
    web.script("/hop", [Reply::redirect(&web.url("/landed?y=2"))]);
    web.script("/landed", [say("signed all the way")]);
    web.script("/cdr", [Reply::status(200)]);
    let pivot = Pivot::start_with(signing(&[SECRET, OLD_SECRET]), Router::empty()).await;
    let t = run(&pivot, call_to(&web.url("/voice?app=1"))).await;
    pivot.stop().await;
    t.assert_no_protocol_errors();
    assert_eq!(spoken(&t), ["signed all the way"], "{t}");
    let reqs = web.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/voice", "/post", "/hop", "/landed", "/cdr"]);
    for r in &reqs {
        // A GET with its parameters, a POST form, a redirect signed for its own URL, the CDR.
        assert_signed(&web, r, &[SECRET, OLD_SECRET]);
    }
    assert_eq!(reqs[1].method, "POST");
    assert!(!reqs[1].body.is_empty());
    assert_eq!(reqs[0].header("x-pivot-attempt"), Some("1"));
}

#[tokio::test]
async fn an_account_without_a_secret_sends_no_signature() {
    let web = WebApp::start().await;
    web.script("/voice", [say("hi")]);
    let pivot = Pivot::start().await;
    run(&pivot, call_to(&web.url("/voice"))).await;
    pivot.stop().await;
    assert_eq!(web.requests()[0].header("x-pivot-signature"), None);
}

/// `pivot simulate --signing-secret` signs as a configured account would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_signs_its_requests() {
    let web = WebApp::start().await;
    web.script("/voice", [say("hi")]);
    let report = pivot::sim::simulate(pivot::sim::SimulateOptions {
        url: web.url("/voice"),
        fast: true,
        signing_secret: Some(SECRET.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_signed(&web, &web.requests()[0], &[SECRET]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_web_app_verifies_pivots_signature() {
    let report = pivot::sim::demo(pivot::sim::DemoOptions { fast: true })
        .await
        .unwrap();
    let web_notes: Vec<String> = report
        .timeline
        .entries()
        .into_iter()
        .map(|e| e.text)
        .filter(|t| t.contains("/voice"))
        .collect();
    assert!(
        web_notes.iter().any(|t| t.contains("signature verified")),
        "{web_notes:#?}"
    );
}

/// The lab's example web app (examples/webapp/app.py), verifying with `secret`; its port.
async fn example_app(secret: &str, dir: &std::path::Path) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/webapp/app.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--signing-secrets",
            secret,
        ])
        .arg("--recordings-dir")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs the example web app");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the example app starts")
            .unwrap()
            .expect("the example app logs its port");
        if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
            break rest.split(',').next().unwrap().parse().unwrap();
        }
    };
    // Keep reading its log, so that a full pipe never blocks it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

#[tokio::test]
async fn the_example_web_app_accepts_pivots_signature_and_refuses_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (_app, port) = example_app(SECRET, dir.path()).await;
    let voice = format!("http://127.0.0.1:{port}/voice");
    let pivot = Pivot::start_with(signing(&[SECRET]), Router::empty()).await;
    let t = run(&pivot, call_to(&voice)).await;
    assert_eq!(
        spoken(&t)[0],
        "Please leave a message after the beep.",
        "{t}"
    );
    pivot.stop().await;

    // Signed with another secret: refused, and the call takes the failback.
    let pivot = Pivot::start_with(signing(&["whsec-of-another-account"]), Router::empty()).await;
    let t = run(&pivot, call_to(&voice)).await;
    assert!(failure(&t).contains("answered HTTP 403"), "{t}");
    pivot.stop().await;

    // A request pivot signed ten minutes ago, replayed: refused. The same, fresh: answered.
    let url = format!("{voice}?Call-ID=replayed");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (t, status) in [(now - 600, 403), (now, 200)] {
        let t = t.to_string();
        let header = format!("t={t},v1={}", hmac_hex(SECRET, &t, "GET", &url, b""));
        let resp = reqwest::Client::new()
            .get(&url)
            .header("X-Pivot-Signature", header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
    }
}
