use super::*;

fn breakers(failures: u32) -> Arc<Breakers> {
    Arc::new(Breakers::new(BreakerConfig {
        enabled: true,
        failures,
        window: Duration::from_secs(10),
        cooldown: Duration::from_secs(30),
    }))
}

fn fail(b: &Arc<Breakers>, host: &str) {
    b.admit(host).unwrap().record(Health::Down);
}

fn skipped(b: &Arc<Breakers>, host: &str) -> bool {
    match b.admit(host) {
        Err(e) => {
            assert_eq!(e.kind(), "circuit_open");
            assert!(
                e.to_string().starts_with("skipped: circuit open for "),
                "{e}"
            );
            true
        }
        Ok(_) => false,
    }
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_open_the_circuit_until_a_good_trial() {
    let b = breakers(3);
    fail(&b, "app:80");
    fail(&b, "app:80");
    assert!(!skipped(&b, "app:80"), "two failures are not enough");
    fail(&b, "app:80");
    assert!(skipped(&b, "app:80"));
    assert!(!skipped(&b, "other:80"), "per host");
    assert_eq!(b.stats().open_hosts, ["app:80"]);
    assert_eq!((b.stats().opened, b.stats().skipped), (1, 1));

    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(skipped(&b, "app:80"), "still cooling down");
    tokio::time::advance(Duration::from_secs(1)).await;
    let trial = b.admit("app:80").unwrap();
    assert!(skipped(&b, "app:80"), "one trial at a time");
    trial.record(Health::Up);
    assert!(!skipped(&b, "app:80"), "a good trial closes it");
    assert!(b.stats().open_hosts.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_opens_it_again_and_an_abandoned_one_frees_the_slot() {
    let b = breakers(1);
    fail(&b, "app:80");
    tokio::time::advance(Duration::from_secs(30)).await;
    b.admit("app:80").unwrap().record(Health::Down);
    assert!(skipped(&b, "app:80"), "the trial failed: another cooldown");
    assert_eq!(b.stats().opened, 2);
    tokio::time::advance(Duration::from_secs(30)).await;
    drop(b.admit("app:80").unwrap());
    let again = b.admit("app:80");
    assert!(
        again.is_ok(),
        "a trial dropped without an outcome frees its slot"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_outside_the_window_and_answers_reset_the_count() {
    let b = breakers(3);
    fail(&b, "app:80");
    fail(&b, "app:80");
    tokio::time::advance(Duration::from_secs(11)).await;
    fail(&b, "app:80");
    assert!(!skipped(&b, "app:80"), "the first two were too long ago");
    fail(&b, "app:80");
    b.admit("app:80").unwrap().record(Health::Up);
    fail(&b, "app:80");
    assert!(
        !skipped(&b, "app:80"),
        "an answer in between resets the count"
    );
    b.admit("app:80").unwrap().record(Health::Unknown);
    fail(&b, "app:80");
    assert!(!skipped(&b, "app:80"));
    fail(&b, "app:80");
    assert!(
        skipped(&b, "app:80"),
        "unknown outcomes do not reset the count"
    );
}

#[tokio::test(start_paused = true)]
async fn a_disabled_breaker_never_skips() {
    let b = Arc::new(Breakers::new(BreakerConfig {
        enabled: false,
        ..BreakerConfig::default()
    }));
    for _ in 0..20 {
        fail(&b, "app:80");
    }
    assert!(!skipped(&b, "app:80"));
}

#[test]
fn the_host_key_has_the_port() {
    let key = |s: &str| host_key(&s.parse().unwrap());
    assert_eq!(key("http://App.Example.com/x"), "app.example.com:80");
    assert_eq!(key("https://app.example.com/x"), "app.example.com:443");
    assert_eq!(key("http://127.0.0.1:5000/x?y"), "127.0.0.1:5000");
}
