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
mod fake_vs_real;
mod nodes;
mod outbound;
mod pipeline;
mod recording;
mod replay;
mod server;
mod signing;
mod static_mode;
mod timeline;
mod twiml;
mod twiml_dial;
mod webhooks;
