//! One integration-test binary: the real server against a fake FreeSWITCH and a local web app.
#![allow(clippy::unwrap_used)]
mod harness;
mod support;

mod api;
mod calls;
mod cli;
mod debug_log;
mod esl_captures;
mod fake_vs_real;
mod files;
mod handshake;
mod outbound;
mod pipeline;
mod recording;
mod server;
mod signing;
mod trust;
mod twiml;
mod twiml_dial;
mod webhooks;
