//! Test support: a fake FreeSWITCH (`fake_fs`) that dials the server like the `socket`
//! dialplan app and plays one scripted call, and a scripted web app (`web`) that records
//! every request. Neither depends on the `pivot` crate. Start at fake_fs.rs and web.rs.
#![allow(dead_code)]

mod app_script;
pub mod debug_api;
pub mod fake_fs;
mod fs_api;
mod fs_apps;
mod fs_channel;
pub mod fs_commands;
mod fs_hangup;
mod fs_session;
pub mod fs_wire;
pub mod scenario;
pub mod transcript;
pub mod web;

#[cfg(test)]
mod selftest;
#[cfg(test)]
mod selftest_apps;
#[cfg(test)]
mod selftest_bridge;
#[cfg(test)]
mod selftest_ctl;
#[cfg(test)]
mod selftest_web;
