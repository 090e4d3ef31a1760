//! The simulator: a simulated FreeSWITCH that places calls on pivot's real event socket,
//! so pivot's main job can be seen and tried without FreeSWITCH (`pivot demo`,
//! `pivot simulate`). It owns the simulated peer (`peer`, `media`, `wire`, `channel`,
//! `apps`, `audio`), the call's [`Timeline`], the demo's sample web app and the two runs.
//! It does not play or record audio, and it is not the test suite's fake FreeSWITCH
//! (tests/it/support), which replays real captures in far more detail.
//!
//! The wire is the real one: the peer reads pivot's commands with `crate::esl`'s
//! `FrameCodec` and `Command::from_frame`, and answers with the frames FreeSWITCH 1.10
//! sends (see docs/cli.md for what is simulated and how).

mod apps;
mod audio;
mod channel;
mod demo;
mod media;
mod peer;
mod simulate;
mod stage;
mod timeline;
mod webapp;
mod wire;

pub use channel::{parse_digits, SimCall};
pub use demo::{demo, DemoOptions, DemoReport};
pub use peer::{place_call, PeerReport, MYEVENTS};
pub use simulate::{simulate, SimulateOptions, SimulateReport};
pub use timeline::{Entry, Source, Timeline};

use std::net::SocketAddr;

/// Why a simulation could not run to its end. A flow that took its failback is not an
/// error: it is in the report.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Bad options (exit code 2).
    #[error("{0}")]
    Usage(String),
    #[error("cannot start pivot: {0}")]
    Start(#[from] crate::app::StartError),
    #[error("cannot make a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("cannot reach pivot's event socket at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("event socket: {0}")]
    Esl(#[from] crate::esl::EslError),
    #[error("event socket i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP client: {0}")]
    Http(String),
    #[error("the call did not end: {0}")]
    Stuck(String),
    #[error("sample web app: {0}")]
    WebApp(String),
    #[error("REST API: {0}")]
    Api(String),
}
