//! The stable catalogue of failure kinds and their numeric `ErrorCode`s, sent to a
//! `fallback_url` (with `ErrorUrl`) and documented in docs/webhooks.md. Codes with a Twilio
//! counterpart use Twilio's number; the others are pivot's own (11250 and up). A kind or a
//! code is never renamed, renumbered or reused.

/// One failure kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureKind {
    /// As in `pivot_failure`, the debug log's `error_kind` and the metrics.
    pub kind: &'static str,
    pub code: u32,
    pub meaning: &'static str,
}

const fn k(kind: &'static str, code: u32, meaning: &'static str) -> FailureKind {
    FailureKind {
        kind,
        code,
        meaning,
    }
}

/// Every kind a request to a web app can fail with.
pub const CATALOGUE: &[FailureKind] = &[
    k(
        "http_status",
        11200,
        "the web app answered a status other than 2xx",
    ),
    k(
        "connect",
        11205,
        "the connection was refused or could not be made",
    ),
    k("dns", 11210, "the host name could not be resolved"),
    k("redirects", 11215, "more redirects than http.max_redirects"),
    k("tls", 11220, "the TLS handshake or the certificate failed"),
    k(
        "connect_timeout",
        11250,
        "no connection within the connect timeout",
    ),
    k(
        "timeout",
        11251,
        "no complete answer within the read or total timeout",
    ),
    k("empty_body", 11252, "a 2xx answer with an empty body"),
    k(
        "forbidden_destination",
        11253,
        "the outbound URL policy refused the address",
    ),
    k(
        "circuit_open",
        11254,
        "skipped: the web app's host failed too often lately",
    ),
    k("request", 11255, "any other failure of the HTTP exchange"),
    k(
        "request_limit",
        11256,
        "the call made http.max_requests_per_call requests",
    ),
    k(
        "too_large",
        11750,
        "the answer is larger than http.max_body_bytes",
    ),
    k(
        "invalid_flow",
        12100,
        "the answer is not a valid Piston JSON flow",
    ),
    k("invalid_twiml", 12101, "the answer is not valid TwiML"),
    k(
        "unknown_format",
        12300,
        "the answer is neither JSON nor XML",
    ),
];

/// The code of a kind; 11255 (`request`) for a kind not in the catalogue.
pub fn error_code(kind: &str) -> u32 {
    CATALOGUE
        .iter()
        .find(|f| f.kind == kind)
        .map_or(11255, |f| f.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_codes_are_unique() {
        for (i, a) in CATALOGUE.iter().enumerate() {
            for b in &CATALOGUE[i + 1..] {
                assert_ne!(a.kind, b.kind);
                assert_ne!(a.code, b.code);
            }
        }
        assert_eq!(error_code("forbidden_destination"), 11253);
        assert_eq!(error_code("something new"), 11255);
    }

    #[test]
    fn the_documentation_lists_every_kind() {
        let doc = include_str!("../../docs/webhooks.md");
        for f in CATALOGUE {
            let row = format!("| {} | `{}` |", f.code, f.kind);
            assert!(doc.contains(&row), "docs/webhooks.md lacks {row}");
        }
    }
}
