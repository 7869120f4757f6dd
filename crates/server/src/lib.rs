//! Loyalcast's server: the JSON API (actix-web, OpenAPI by utoipa), the single-page app it
//! serves, storage on SQLite or PostgreSQL (sea-orm), and the command line.

pub mod auth;
pub mod automations;
pub mod background;
pub mod balances;
pub mod body;
pub mod cli;
pub mod clock;
pub mod config;
pub mod counters;
pub mod customer_events;
pub mod customers;
pub mod db;
pub mod engine;
pub mod entity;
pub mod error;
pub mod feed;
pub mod idempotency;
pub mod import;
pub mod json;
pub mod keys;
pub mod mailings;
pub mod merchants;
pub mod openapi;
pub mod pushes;
pub mod routes;
pub mod secrets;
pub mod seed;
pub mod segments;
pub mod spa;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
pub mod wallet;
