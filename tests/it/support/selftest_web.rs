//! Self-tests of the scripted web app: replies in order, request recording, uploads,
//! unscripted paths, slow replies and refused URLs.
#![allow(clippy::unwrap_used)] // tests may unwrap

use super::web::{Reply, WebApp};
use std::time::Duration;

#[tokio::test]
async fn replies_in_order_and_records_requests() {
    let web = WebApp::start().await;
    web.script(
        "/flow",
        [Reply::json(r#"{"a":1}"#), Reply::xml("<Response/>")],
    );
    let client = reqwest::Client::new();
    let url = web.url("/flow?From=5551000&To=3004");
    let r1 = client
        .get(&url)
        .header("X-Test", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(r1.headers()["content-type"], "application/json");
    assert_eq!(r1.text().await.unwrap(), r#"{"a":1}"#);
    let form = [("CallerIdName", "Lab Caller"), ("Digits[default]", "42")];
    let r2 = client
        .post(web.url("/flow"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r2.headers()["content-type"], "text/xml");
    let r3 = client
        .post(web.url("/flow"))
        .header("content-type", "application/json")
        .body(r#"{"To": "3004"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r3.text().await.unwrap(),
        "<Response/>",
        "the last reply repeats"
    );
    let r4 = client.get(web.url("/nothing")).send().await.unwrap();
    assert_eq!(r4.status(), 404);

    let reqs = web.wait_for_requests(4).await;
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/flow");
    assert_eq!(reqs[0].query, "From=5551000&To=3004");
    assert_eq!(reqs[0].header("x-test"), Some("yes"));
    assert_eq!(reqs[0].param("To").as_deref(), Some("3004"));
    assert_eq!(reqs[1].param("Digits[default]").as_deref(), Some("42"));
    assert_eq!(reqs[1].param("CallerIdName").as_deref(), Some("Lab Caller"));
    assert_eq!(reqs[2].param("To").as_deref(), Some("3004"));
    assert_eq!(web.requests_to("/flow").len(), 3);
    assert!(web.uploads().is_empty());
}

#[tokio::test]
async fn accepts_uploads() {
    let web = WebApp::start().await;
    let client = reqwest::Client::new();
    let put = client
        .put(web.url("/rec/a.mp3"))
        .body(vec![1u8, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let post = client
        .post(web.url("/rec/b.wav"))
        .header("content-type", "audio/wav")
        .body(vec![4u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404, "POST is only answered when scripted");
    let ups = web.uploads();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[0].body, [1, 2, 3]);
    assert_eq!(ups[1].body.len(), 10);
}

#[tokio::test]
async fn slow_replies_time_out_and_refused_urls_refuse() {
    let web = WebApp::start().await;
    web.script("/slow", [Reply::slow(Duration::from_secs(30))]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client.get(web.url("/slow")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let err = client
        .get(WebApp::refused_url("/x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert_eq!(web.wait_for_requests(1).await[0].path, "/slow");
}
