use super::*;

const SECRET: &str = "whsec-0123456789abcdef";
const OLD: &str = "whsec-previous-0000000";
const URL: &str = "http://127.0.0.1:5000/voice?Call-ID=abc&To=3004";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn account() -> AccountId {
    "4b8c4d4a2f1e4c1b9a0d7e6f5a4b3c2d".parse().unwrap()
}

fn signer(secrets: &[&str]) -> Signer {
    let secrets = secrets.iter().map(|s| s.to_string()).collect();
    Signer::new([(account(), secrets)].into_iter().collect())
}

/// The documented algorithm, written out: RFC 4231-style known answer for
/// HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
#[test]
fn the_mac_is_hmac_sha256_in_hex() {
    let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
    mac.update(b"The quick brown fox jumps over the lazy dog");
    assert_eq!(
        hex(&mac.finalize().into_bytes()),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
    // The signed string is `t.METHOD.URL.BODY`, method upper-cased.
    let by_hand = {
        let mut m = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
        m.update(format!("1700000000.POST.{URL}.a=1&b=2").as_bytes());
        hex(&m.finalize().into_bytes())
    };
    assert_eq!(
        signature(SECRET.as_bytes(), 1_700_000_000, "post", URL, b"a=1&b=2"),
        by_hand
    );
}

#[test]
fn the_header_verifies_and_fails_when_any_part_changes() {
    let now = at(1_700_000_000);
    let header = signer(&[SECRET])
        .header(&account(), "POST", URL, b"a=1", now)
        .unwrap();
    assert!(header.starts_with("t=1700000000,v1="), "{header}");
    let window = Duration::from_secs(300);
    let ok = |h: &str, secret: &str, req: (&str, &str, &[u8]), now| {
        verify(h, &[secret], req, now, window)
    };
    assert_eq!(ok(&header, SECRET, ("POST", URL, b"a=1"), now), Ok(()));
    assert_eq!(
        ok(&header, SECRET, ("post", URL, b"a=1"), now),
        Ok(()),
        "method case"
    );
    for (what, req) in [
        ("method", ("GET", URL, &b"a=1"[..])),
        (
            "url",
            (
                "POST",
                "http://127.0.0.1:5000/voice?Call-ID=abd&To=3004",
                &b"a=1"[..],
            ),
        ),
        ("body", ("POST", URL, &b"a=2"[..])),
    ] {
        assert_eq!(
            ok(&header, SECRET, req, now),
            Err(VerifyError::Mismatch),
            "{what}"
        );
    }
    assert_eq!(
        ok(&header, OLD, ("POST", URL, b"a=1"), now),
        Err(VerifyError::Mismatch),
        "secret"
    );
    let other_t = header.replacen("t=1700000000", "t=1700000001", 1);
    assert_eq!(
        ok(&other_t, SECRET, ("POST", URL, b"a=1"), now),
        Err(VerifyError::Mismatch),
        "t"
    );
    assert_eq!(
        ok(&header, SECRET, ("POST", URL, b"a=1"), at(1_700_000_301)),
        Err(VerifyError::Stale),
        "a replay after the window"
    );
    assert_eq!(
        ok("v1=00", SECRET, ("POST", URL, b""), now),
        Err(VerifyError::Malformed)
    );
    assert_eq!(
        ok("t=1700000000", SECRET, ("POST", URL, b""), now),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn during_a_rotation_both_secrets_sign() {
    let now = at(1_700_000_000);
    let header = signer(&[SECRET, OLD])
        .header(&account(), "GET", URL, b"", now)
        .unwrap();
    assert_eq!(header.matches(",v1=").count(), 2, "{header}");
    let window = Duration::from_secs(300);
    for secret in [SECRET, OLD] {
        assert_eq!(
            verify(&header, &[secret], ("GET", URL, b""), now, window),
            Ok(())
        );
    }
}

#[test]
fn an_account_without_a_secret_is_not_signed() {
    let other: AccountId = "0f0e0d0c0b0a09080706050403020100".parse().unwrap();
    assert_eq!(
        signer(&[SECRET]).header(&other, "GET", URL, b"", at(1)),
        None
    );
    assert!(!Signer::default().has_secret(&account()));
}
