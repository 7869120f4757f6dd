//! # loyalcast-delivery: Loyalcast's delivery engine, minus the queue
//!
//! Everything between "this customer should get this message on this channel" and "the
//! provider has it": the content rules a mailing is checked against, the channel adapters
//! that talk to the providers, and the pacing (rate limits, retries) around them. The queue
//! of deliveries and the workers that drain it live with the database, in the server crate,
//! and call into this crate.
//!
//! ## Pure rules, no I/O
//!
//! - [`sms`]: GSM-7 or UCS-2, segments (160/153, 70/67), units left: what an SMS costs.
//! - [`template`]: `{first_name}`-style variables, checked with positions (unknown variables
//!   and unbalanced braces are field errors), rendered raw or HTML-escaped.
//! - [`retry`]: capped exponential backoff with full jitter, `Retry-After` as a floor, and
//!   per channel what an ambiguous outcome leads to.
//! - [`opt_out`]: STOP / START / HELP keywords in inbound SMS.
//! - [`rate_limit`]: per provider account token buckets (governor), overall and per
//!   recipient.
//!
//! ## Sending
//!
//! A [`ChannelSender`] makes one attempt to hand an [`OutboundMessage`] to a provider and
//! returns a [`ProviderReceipt`] (the provider's message id) or a [`SendError`], which is
//! `Retryable` (the provider did not take it, or was never reached; with its
//! `Retry-After`), `Permanent` (with a [`FailureCode`]: unsubscribed, blocked, invalid
//! address...) or `Ambiguous` (the request went out and no answer says whether the provider
//! accepted it: a timeout or lost connection after sending, an unreadable answer). Each
//! adapter's module says where it draws those lines, and why. Adapters:
//!
//! | channel | type | provider protocol |
//! | --- | --- | --- |
//! | SMS | [`twilio::TwilioSmsSender`] | Twilio REST API over reqwest + rustls; [`twilio::webhook`] verifies and reads Twilio's callbacks |
//! | Email | [`email::SmtpSender`] | SMTP via lettre (tokio, rustls), multipart text + HTML, one-click unsubscribe |
//! | Telegram | [`telegram::TelegramSender`] | Bot API `sendMessage` |
//! | Messenger | [`messenger::MessengerSender`] | Graph Send API, tagged messages |
//! | any | [`sandbox::SandboxSender`] | **a simulation**: nothing leaves the machine (`make run`) |
//! | any | [`sandbox::NoopSender`] | discards everything (benchmarks) |
//!
//! Every adapter takes its base URL or host from its configuration, so tests point them at
//! local fakes on 127.0.0.1. Provider credentials are [`secrecy::SecretString`]s: `Debug`
//! prints `[REDACTED]`, and URLs that carry a token (Telegram, Messenger) are kept secret
//! too and never logged; transport errors are reduced to their kind because reqwest's text
//! names the URL.
//!
//! [`RateLimitedSender`] wraps any sender with its account's [`rate_limit::AccountRateLimiter`],
//! and [`ChannelRouter`] puts one sender per channel behind a single `send`.
//! [`config::DeliveryConfig`] (serde) names each channel's provider, the sandbox by default,
//! and builds that router.
//!
//! ## A worker's step, sketched
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use loyalcast_delivery::*;
//! # use loyalcast_delivery::retry::{RetryDecision, RetryPolicy};
//! # async fn step(router: &ChannelRouter, policy: &RetryPolicy, message: OutboundMessage, failed_attempts: u32) {
//! // Claim no more of a channel than it can send inside the lease:
//! // router.rate_per_second(channel) (None: not rate limited).
//! let channel = message.channel();
//! match router.send(&message).await {
//!     Ok(receipt) => { /* record receipt.provider_message_id, mark sent, commit credits */ }
//!     Err(error) => match policy.after_error(channel, failed_attempts + 1, &error, &mut rand::thread_rng()) {
//!         RetryDecision::RetryAfter(delay) => { /* next_attempt_at = now + delay, keep the reservation */ }
//!         RetryDecision::GiveUp(_) => {
//!             // mark failed with error.to_string(), release credits; if
//!             // error.code().is_some_and(|c| c.suppresses_channel()), suppress the channel
//!         }
//!         RetryDecision::AwaitStatus => {
//!             // mark uncertain with error.to_string(): neither sent nor failed, credits stay
//!             // reserved, never claimed again; a status callback for the delivery id settles it
//!         }
//!     },
//! }
//! # }
//! ```

pub mod config;
pub mod email;
pub mod error;
mod http;
pub mod message;
pub mod messenger;
pub mod opt_out;
pub mod rate_limit;
pub mod retry;
pub mod sandbox;
pub mod sender;
pub mod sms;
pub mod telegram;
pub mod template;
pub mod twilio;

pub use error::{BuildError, FailureCode, SendError};
pub use message::{
    AddressError, DeliveryId, EmailAddress, EmailMessage, MessageContent, MessengerMessage,
    OutboundMessage, PhoneNumber, Psid, SmsMessage, TelegramChatId, TelegramMessage,
};
pub use sender::{ChannelRouter, ChannelSender, Provider, ProviderReceipt, RateLimitedSender};

/// The channel enum shared with the API (`sms`, `email`, `telegram`, `messenger`).
pub use loyalcast_dto::Channel;
