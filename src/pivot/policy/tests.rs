use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn policy(allow: &[&str], deny: &[&str]) -> OutboundPolicy {
    OutboundPolicy {
        allow: allow.iter().map(|r| Rule::parse(r).unwrap()).collect(),
        deny: deny.iter().map(|r| Rule::parse(r).unwrap()).collect(),
    }
}

#[test]
fn internal_addresses_are_refused_in_every_form() {
    let p = OutboundPolicy::default();
    for (addr, reason) in [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.100.100.200", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified (\"this network\")"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00:ec2::254", "private (unique local)"),
        ("fc00::1", "private (unique local)"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        // IPv6 forms of internal IPv4 addresses.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:7f00:1::1", "loopback"),
    ] {
        let refusal = p.check_ip("h", ip(addr)).unwrap_err();
        assert_eq!(refusal.reason, reason, "{addr}");
        assert_eq!(refusal.addr, Some(ip(addr)));
    }
}

#[test]
fn public_addresses_pass() {
    let p = OutboundPolicy::default();
    for addr in [
        "93.184.215.14",
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ] {
        assert_eq!(p.check_ip("h", ip(addr)), Ok(()), "{addr}");
    }
}

#[test]
fn the_operator_allows_and_denies_ranges_and_names() {
    let p = policy(
        &[
            "10.1.2.0/24",
            "webapp.internal",
            "*.corp.example",
            "127.0.0.1",
        ],
        &["8.8.4.0/24", "evil.example.com", "10.1.2.99"],
    );
    assert_eq!(p.check_ip("h", ip("10.1.2.7")), Ok(()));
    assert_eq!(
        p.check_ip("h", ip("::ffff:10.1.2.7")),
        Ok(()),
        "mapped form"
    );
    assert!(p.check_ip("h", ip("10.1.3.7")).is_err());
    assert_eq!(p.check_ip("h", ip("127.0.0.1")), Ok(()));
    assert!(p.check_ip("h", ip("127.0.0.2")).is_err());
    // Deny wins over allow and over a public address.
    let denied = p.check_ip("h", ip("10.1.2.99")).unwrap_err();
    assert_eq!(denied.reason, "denied by http.deny");
    assert!(p.check_ip("h", ip("8.8.4.4")).is_err());
    assert_eq!(p.host_verdict("WebApp.Internal."), HostVerdict::Allowed);
    assert_eq!(p.host_verdict("a.b.corp.example"), HostVerdict::Allowed);
    assert_eq!(p.host_verdict("corp.example"), HostVerdict::ByAddress);
    assert_eq!(p.host_verdict("evil.example.com"), HostVerdict::Denied);
}

#[test]
fn rules_parse_and_bad_ones_are_named() {
    assert_eq!(
        Rule::parse("10.1.2.9/24").unwrap(),
        Rule::Net("10.1.2.0/24".parse().unwrap())
    );
    assert_eq!(
        Rule::parse("::1").unwrap(),
        Rule::Net("::1/128".parse().unwrap())
    );
    assert_eq!(
        Rule::parse("WebApp.Internal").unwrap(),
        Rule::Host("webapp.internal".into())
    );
    assert_eq!(
        Rule::parse("*.internal").unwrap(),
        Rule::Suffix(".internal".into())
    );
    for bad in ["", "10.0.0.0/33", "a b", "*.", "http://x", "x..y"] {
        let e = Rule::parse(bad).unwrap_err();
        assert!(e.contains("range like"), "{bad}: {e}");
    }
}

#[test]
fn filtering_keeps_allowed_addresses_and_refuses_when_none_is_left() {
    let p = OutboundPolicy::default();
    let sa = |s: &str| SocketAddr::new(ip(s), 80);
    let kept = p
        .filter("mixed.test", vec![sa("127.0.0.1"), sa("93.184.215.14")])
        .unwrap();
    assert_eq!(kept, vec![sa("93.184.215.14")]);
    let r = p.filter("rebind.test", vec![sa("127.0.0.1")]).unwrap_err();
    assert_eq!(
        r.to_string(),
        "rebind.test resolves to 127.0.0.1, a loopback address (outbound URL policy, see [http] allow)"
    );
    let allowed = policy(&["rebind.test"], &[]);
    assert_eq!(
        allowed.filter("rebind.test", vec![sa("127.0.0.1")]),
        Ok(vec![sa("127.0.0.1")])
    );
    let denied = policy(&[], &["*.test"]);
    assert!(denied.filter("x.test", vec![sa("93.184.215.14")]).is_err());
}

#[tokio::test]
async fn the_guarded_resolver_refuses_a_name_that_resolves_to_loopback() {
    let guarded = GuardedResolver {
        policy: Arc::new(OutboundPolicy::default()),
        base: Arc::new(SystemResolver),
    };
    let err = match guarded.resolve("localhost".parse().unwrap()).await {
        Ok(addrs) => panic!("resolved: {:?}", addrs.collect::<Vec<_>>()),
        Err(e) => e,
    };
    let refusal = err.downcast_ref::<Refusal>().expect("a Refusal");
    assert_eq!(refusal.reason, "loopback");
}
