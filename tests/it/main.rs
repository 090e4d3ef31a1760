//! One integration-test binary: the real server against a fake FreeSWITCH and a local web app.
#![allow(clippy::unwrap_used)]
mod harness;
mod support;

mod api;
mod calls;
mod cli;
mod debug_log;
mod esl_captures;
mod esl_differential;
mod esl_reference;
mod server;
mod twiml;
