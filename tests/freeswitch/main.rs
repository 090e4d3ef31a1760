//! The conformance suite: the real `pivot` binary against a real FreeSWITCH running this
//! repository's configuration (freeswitch-conf/freeswitch), calls placed over FreeSWITCH's
//! inbound event socket (loopback channels, no phones), checked by what FreeSWITCH really did
//! (its events, the uploads it made, the channels left) and what pivot stored (REST API).
//!
//! Runs only when `PIVOT_TEST_FREESWITCH=host:port[:password]` names that FreeSWITCH's
//! inbound event socket; otherwise every test passes after one line on stderr saying the
//! suite was skipped and why. Tests take a lock and run one at a time (one switch, global
//! checks such as "no channel left"). See docs/lab.md, "The conformance suite".
//!
//! Environment:
//! - `PIVOT_TEST_FREESWITCH` `host:port[:password]` (password default `ClueCon`);
//! - `PIVOT_TEST_HOST` the address FreeSWITCH reaches this machine at (default 127.0.0.1;
//!   for the docker lab on Linux, the compose network's gateway address): the test's pivot
//!   and web app then listen on every interface;
//! - `PIVOT_TEST_CAPTURE=dir` writes the bytes of every event socket connection between
//!   FreeSWITCH and pivot as `dir/<test>[-n].fs-sent.raw` / `.server-sent.raw`
//!   (fixtures/esl format);
//! - `PIVOT_TEST_UPDATE_SEQUENCES=1` rewrites fixtures/conformance/*.commands from this run
//!   (the command sequences the fake FreeSWITCH is compared with in tests/it).
#![allow(clippy::unwrap_used, dead_code)]

#[path = "../it/support/web.rs"]
mod web;

mod calls;
mod lab;
mod pivot_proc;
mod proxy;
mod sequence;

mod dial;
mod failures;
mod gather;
mod httapi;
mod lifecycle;
mod static_mode;
mod voicemail;
