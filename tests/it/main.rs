//! One integration-test binary: the real server against a fake FreeSWITCH and a local web app.
#![allow(clippy::unwrap_used)]
mod harness;
mod support;

mod api;
mod api_limits;
mod calls;
mod cli;
mod debug_log;
mod esl_captures;
mod esl_differential;
mod esl_reference;
mod fake_vs_real;
mod files;
mod handshake;
mod nodes;
mod outbound;
mod pipeline;
mod recording;
mod replay;
mod server;
mod signing;
mod stalled;
mod static_mode;
mod timeline;
mod trust;
mod twiml;
mod twiml_dial;
mod webhooks;
