//! Operator commands that talk to a running pivot's REST API: `pivot timeline` (a real
//! call's timeline, printed like `pivot demo` prints a simulated one) and `pivot replay`
//! (a logged request sent again to the web app, the new answer next to the logged one).
//! Owns the small API client they share; the server never imports this.

mod client;
mod replay;
mod timeline;

pub use client::{ApiClient, Auth};
pub use replay::{replay, ReplayOptions, ReplayReport};
pub use timeline::{fetch_timeline, TimelineReport};

/// Why a command could not do its job. Exit codes: [`CliError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    /// The API has nothing under that call id for the account.
    #[error("{0}")]
    NotFound(String),
    #[error("REST API: {status}: {message}")]
    Api { status: u16, message: String },
    #[error("cannot reach the REST API at {url}: {source}")]
    Connect { url: String, source: reqwest::Error },
    #[error("the REST API's answer is not what pivot serves: {0}")]
    BadAnswer(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl CliError {
    /// 2 for usage errors, 3 when the call is unknown, 4 for API and network failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Config(_) => 2,
            CliError::NotFound(_) => 3,
            CliError::Api { .. } | CliError::Connect { .. } | CliError::BadAnswer(_) => 4,
        }
    }
}
