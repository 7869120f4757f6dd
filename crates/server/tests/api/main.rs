//! API integration tests: each spawns the whole app on a random port with a fresh database,
//! and every database test runs on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod access;
mod auth;
mod automations;
mod changes;
mod consent;
mod contract;
mod credits;
mod customers;
mod dashboard_files;
mod engine;
mod enrol;
mod events;
mod idempotency;
mod import;
mod keys;
mod limits;
mod links;
mod mailings;
mod openapi;
mod passkit;
mod providers;
mod pushes;
mod robustness;
mod seed;
mod segments;
/// The delivery crate's SMTP server for tests: a real SMTP conversation on 127.0.0.1.
#[allow(dead_code)]
#[path = "../../../delivery/tests/adapters/smtp_sink.rs"]
mod smtp_sink;
mod team;
mod tenancy;
mod validation;
mod wallet_reach;
