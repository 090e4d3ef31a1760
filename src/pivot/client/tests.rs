use super::*;
use crate::callflow::Trust;

fn client() -> HttpClient {
    HttpClient::new(HttpOptions {
        user_agent: "pivot-test".into(),
        max_redirects: 5,
        max_body: 1024,
        policy: OutboundPolicy::default(),
        resolver: Arc::new(SystemResolver),
    })
    .unwrap()
}

fn get(url: &str, trust: Trust) -> RequestSpec {
    RequestSpec {
        method: HttpMethod::Get,
        url: url.parse().unwrap(),
        headers: Vec::new(),
        body: String::new(),
        timeout: Duration::from_secs(5),
        trust,
    }
}

#[tokio::test]
async fn a_web_app_url_to_an_internal_address_is_refused_before_connecting() {
    let c = client();
    for url in [
        "http://127.0.0.1:9/x",
        "http://[::1]:9/x",
        "http://[::ffff:127.0.0.1]:9/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:9/x",
    ] {
        let e = c.fetch(&get(url, Trust::WebApp)).await.unwrap_err();
        assert_eq!(e.kind(), "forbidden_destination", "{url}: {e}");
        assert!(e.response().is_none());
    }
}

#[tokio::test]
async fn check_destination_resolves_and_refuses_internal_names() {
    let c = client();
    let url = |s: &str| HttpUrl::new(s).unwrap();
    let e = c
        .check_destination(&url("http://localhost/up"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "forbidden_destination");
    assert!(e.to_string().contains("loopback"), "{e}");
    let e = c
        .check_destination(&url("http://10.0.0.1/up"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("private"), "{e}");
    assert!(c
        .check_destination(&url("http://localhost/up").operator())
        .await
        .is_ok());
    assert!(c
        .check_destination(&url("http://93.184.215.14/up"))
        .await
        .is_ok());
}
