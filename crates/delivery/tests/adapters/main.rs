//! The channel adapters against local fakes on 127.0.0.1: wiremock servers standing in for
//! Twilio, Telegram and Messenger, and a real SMTP server run by the test itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod messenger;
mod router;
mod sandbox;
mod smtp;
mod smtp_sink;
mod telegram;
mod twilio;
