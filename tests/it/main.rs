//! One integration-test binary: the real server against a fake FreeSWITCH and a local web app.
mod harness;
mod support;

mod api;
mod calls;
mod esl_captures;
