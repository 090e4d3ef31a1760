use super::*;
use crate::pivot::fetch::Response;

fn timing(total_ms: u64, connect_ms: u64, retries: u32) -> Timing {
    Timing {
        connect: Duration::from_millis(connect_ms),
        read: Duration::from_millis(total_ms),
        total: Duration::from_millis(total_ms),
        retries,
        retry_on: RetryOn::default(),
    }
}

fn status(code: u16) -> FetchError {
    FetchError::Status {
        url: "u".into(),
        status: code,
        response: Box::new(Response {
            status: code,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            url: "http://h/".parse().unwrap(),
        }),
    }
}

fn refused() -> FetchError {
    FetchError::Connect {
        url: "u".into(),
        message: "connection refused".into(),
    }
}

fn connect_timeout() -> FetchError {
    FetchError::ConnectTimeout {
        url: "u".into(),
        ms: 1,
    }
}

fn read_timeout() -> FetchError {
    FetchError::Timeout {
        url: "u".into(),
        ms: 1,
    }
}

#[test]
fn only_safe_failures_are_retried_unless_rp_widens_it() {
    let safe = RetryOn::default();
    for e in [
        refused(),
        connect_timeout(),
        status(502),
        status(503),
        status(504),
    ] {
        assert!(retryable(&e, safe), "{e}");
    }
    let others = [
        status(500),
        status(404),
        status(429),
        read_timeout(),
        FetchError::Dns {
            url: "u".into(),
            message: "m".into(),
        },
        FetchError::Tls {
            url: "u".into(),
            message: "m".into(),
        },
        FetchError::TooLarge {
            url: "u".into(),
            limit: 1,
        },
        FetchError::CircuitOpen {
            host: "h".into(),
            retry_in_ms: 1,
        },
    ];
    for e in &others {
        assert!(!retryable(e, safe), "{e}");
    }
    let all = RetryOn {
        read_timeout: true,
        status_5xx: true,
        status_4xx: true,
    };
    assert!(retryable(&status(500), all) && retryable(&status(429), all));
    assert!(retryable(&read_timeout(), all));
    assert!(
        !retryable(&others[4], all),
        "DNS failures are never retried"
    );
}

#[test]
fn backoff_doubles_with_jitter_in_its_upper_half_and_is_capped() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..100 {
        let d1 = backoff(1, &mut rng);
        assert!(d1 >= BASE_BACKOFF / 2 && d1 <= BASE_BACKOFF, "{d1:?}");
        let d3 = backoff(3, &mut rng);
        assert!(d3 >= BASE_BACKOFF * 2 && d3 <= BASE_BACKOFF * 4, "{d3:?}");
        let d30 = backoff(30, &mut rng);
        assert!(d30 >= MAX_BACKOFF / 2 && d30 <= MAX_BACKOFF, "{d30:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_count() {
    let mut a = Attempts::with_rng(
        timing(60_000, 1000, 2),
        Instant::now(),
        fastrand::Rng::with_seed(1),
    );
    let mut made = Vec::new();
    while let Some(attempt) = a.next(Instant::now()) {
        made.push(attempt.number);
        match a.retry_after(&refused(), Instant::now()) {
            Some(d) => tokio::time::sleep(d).await,
            None => break,
        }
    }
    assert_eq!(made, [1, 2, 3]);
    let mut none = Attempts::new(timing(60_000, 1000, 0), Instant::now());
    assert!(none.next(Instant::now()).is_some());
    assert_eq!(none.retry_after(&refused(), Instant::now()), None);
}

/// Every attempt uses up all the time it is given (a connect timeout each time): the
/// attempts and waits never go past the total, for many budgets and jitters.
#[tokio::test(start_paused = true)]
async fn the_total_budget_is_never_exceeded() {
    for (total, connect, retries) in [
        (1000, 300, 5),
        (500, 500, 5),
        (250, 100, 3),
        (5000, 2000, 1),
        (30, 10, 5),
    ] {
        for seed in 0..20 {
            let start = Instant::now();
            let t = timing(total, connect, retries);
            let mut a = Attempts::with_rng(t, start, fastrand::Rng::with_seed(seed));
            let mut count = 0;
            while let Some(attempt) = a.next(Instant::now()) {
                count += 1;
                assert!(attempt.connect <= attempt.limit && attempt.limit <= t.total);
                tokio::time::sleep(attempt.connect).await;
                match a.retry_after(&connect_timeout(), Instant::now()) {
                    Some(d) => tokio::time::sleep(d).await,
                    None => break,
                }
            }
            let spent = Instant::now() - start;
            assert!(
                spent <= t.total,
                "{total}/{connect}/{retries} seed {seed}: {spent:?}"
            );
            assert!(count >= 1 && count <= retries + 1);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_gets_at_most_what_is_left() {
    let mut a = Attempts::with_rng(
        timing(1000, 800, 3),
        Instant::now(),
        fastrand::Rng::with_seed(3),
    );
    let first = a.next(Instant::now()).unwrap();
    assert_eq!(
        (first.connect, first.limit),
        (Duration::from_millis(800), Duration::from_millis(1000))
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let wait = a.retry_after(&connect_timeout(), Instant::now()).unwrap();
    tokio::time::sleep(wait).await;
    let second = a.next(Instant::now()).unwrap();
    assert_eq!(second.limit, Duration::from_millis(200) - wait);
    assert_eq!(second.connect, second.limit);
}
