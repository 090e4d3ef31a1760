use super::*;
use crate::callflow::Trust;

fn options() -> HttpOptions {
    HttpOptions {
        user_agent: "pivot-test".into(),
        max_redirects: 5,
        max_body: 1024,
        policy: OutboundPolicy::default(),
        resolver: Arc::new(SystemResolver),
        breaker: BreakerConfig::default(),
        signer: Signer::default(),
    }
}

fn client() -> HttpClient {
    HttpClient::new(options()).unwrap()
}

fn get(url: &str, trust: Trust) -> RequestSpec {
    RequestSpec {
        method: HttpMethod::Get,
        url: url.parse().unwrap(),
        headers: Vec::new(),
        body: String::new(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(5),
        trust,
        account: None,
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

/// A listener that never accepts: the kernel completes the TCP handshake, and nothing more
/// ever comes (no TLS handshake, no answer).
fn silent() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[tokio::test]
async fn a_silent_server_is_a_read_timeout_and_a_stalled_tls_handshake_a_connect_timeout() {
    let c = client();
    let (_l, port) = silent();
    let mut spec = get(&format!("http://127.0.0.1:{port}/x"), Trust::Operator);
    spec.connect_timeout = Duration::from_millis(150);
    spec.read_timeout = Duration::from_millis(150);
    let e = c.fetch(&spec).await.unwrap_err();
    assert_eq!(e.kind(), "timeout", "{e}");
    assert!(e.to_string().contains("within 150 ms"), "{e}");
    spec.url = format!("https://127.0.0.1:{port}/x").parse().unwrap();
    let e = c.fetch(&spec).await.unwrap_err();
    assert_eq!(e.kind(), "connect_timeout", "{e}");
}

#[tokio::test]
async fn a_refused_connection_is_connect_and_feeds_the_breaker() {
    let c = HttpClient::new(HttpOptions {
        breaker: BreakerConfig {
            failures: 2,
            ..BreakerConfig::default()
        },
        ..options()
    })
    .unwrap();
    let port = {
        let (l, port) = silent();
        drop(l);
        port
    };
    let spec = get(&format!("http://127.0.0.1:{port}/x"), Trust::Operator);
    for _ in 0..2 {
        assert_eq!(c.fetch(&spec).await.unwrap_err().kind(), "connect");
    }
    let e = c.fetch(&spec).await.unwrap_err();
    assert_eq!(e.kind(), "circuit_open", "{e}");
    assert_eq!(c.breaker_stats().open_hosts, [format!("127.0.0.1:{port}")]);
}
