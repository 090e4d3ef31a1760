//! pivot: runs Piston JSON / TwiML call flows, fetched from a customer's web app, on
//! FreeSWITCH calls that arrive over the outbound event socket.
//!
//! Data flows one way: `server` → `call` → `callflow` → (`pivot` for HTTP, `esl` for
//! commands); `store` is fed through a channel; `api` reads `store` (and keeps its tokens there).
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod call;
pub mod callflow;
pub mod check;
pub mod cli;
pub mod config;
pub mod esl;
pub mod hint;
pub mod loadtest;
pub mod metrics;
pub mod pivot;
pub mod route;
pub mod server;
pub mod sim;
pub mod store;
pub mod throttle;
