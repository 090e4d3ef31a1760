//! The `collect_dtmf` module: which digits to collect and for how long. Reading DTMF events
//! and storing the result for the next request is the engine's business.

use std::time::Duration;

use super::value::{DtmfKeys, Token};

/// `collect_dtmf`: up to `max_digits` keys, ended by a terminator, `timeout` without a first
/// key or `interdigit_timeout` between keys; stored under `collection_name`.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectDtmf {
    /// 1..=[`CollectDtmf::MAX_DIGITS`].
    pub max_digits: u32,
    /// At most [`CollectDtmf::MAX_TIMEOUT`].
    pub timeout: Duration,
    /// At most [`CollectDtmf::MAX_TIMEOUT`].
    pub interdigit_timeout: Duration,
    pub terminators: DtmfKeys,
    pub collection_name: Token,
}

impl CollectDtmf {
    pub const DEFAULT_MAX_DIGITS: u32 = 1;
    pub const MAX_DIGITS: u32 = 128;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);
    pub const DEFAULT_INTERDIGIT_TIMEOUT: Duration = Duration::from_millis(2000);
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
    pub const DEFAULT_TERMINATORS: &'static str = "#";
    pub const DEFAULT_COLLECTION_NAME: &'static str = "default";
}

impl Default for CollectDtmf {
    fn default() -> CollectDtmf {
        CollectDtmf {
            max_digits: Self::DEFAULT_MAX_DIGITS,
            timeout: Self::DEFAULT_TIMEOUT,
            interdigit_timeout: Self::DEFAULT_INTERDIGIT_TIMEOUT,
            terminators: DtmfKeys::from_chars(['#']).unwrap_or_default(),
            collection_name: Token::from_static(Self::DEFAULT_COLLECTION_NAME),
        }
    }
}
