//! Test support: a fake FreeSWITCH and a scripted web app.
