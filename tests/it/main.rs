//! The integration tests, one binary: each module is what was once a test
//! binary of its own (`cargo test -p wallboard-tests --test it MODULE::`
//! runs one). They share `wallboard_tests` (`support/`): servers started in
//! this process or as the real binary, and clients that talk to them.

mod admin;
mod auth;
mod binary;
mod cluster;
mod durability;
mod engine;
mod freeswitch;
mod fuzz;
mod hardening;
mod ingest;
mod intervals;
mod metrics;
mod scenarios;
mod simulator;
mod sources;
mod streaming;
