//! Senders that reach no one: the sandbox for `make run` and a no-op for benchmarks.
//!
//! **Nothing sent through these leaves the machine.** Their [`Provider`] is
//! [`Provider::Sandbox`] / [`Provider::Noop`] (`is_sandbox() == true`) and their receipts'
//! ids start with `sandbox-` / `noop-`, so the API and the UI can label such deliveries as
//! simulated.
//!
//! The sandbox fails on purpose for a few reserved addresses, so that the failure paths
//! (permanent errors, suppression, the retry button, uncertain outcomes) can be seen and
//! tested without a provider. Every other address is accepted; the sandbox never answers
//! ambiguously except for the `ambiguous` rows. The first three SMS numbers are the ones
//! Twilio reserves for the same purpose on its test credentials; `+15005550010` is ours
//! (Twilio gives it no meaning):
//!
//! | address | result |
//! | --- | --- |
//! | SMS `+15005550001` | permanent, `invalid_address` |
//! | SMS `+15005550004` | permanent, `unsubscribed` |
//! | SMS `+15005550009` | permanent, `unreachable` |
//! | SMS `+15005550010` | ambiguous: as if Twilio never answered after the request went out |
//! | email `bounce@…` | permanent, `invalid_address` |
//! | email `blocked@…` | permanent, `unsubscribed` |
//! | email `tempfail@…` | retryable, after 1 s |
//! | email `timeout@…` | ambiguous: as if the relay never answered after the message body |
//! | Telegram chat `-1` | permanent, `blocked` |
//! | Telegram chat `-2` | ambiguous |
//! | Messenger PSID `0` | permanent, `unreachable` |
//! | Messenger PSID `1` | ambiguous |
//!
//! Nothing will ever settle a sandbox's ambiguous outcome (no status callback comes), just as
//! nothing reports on a message it accepted: whatever plays the provider's part for the
//! sandbox plays it for those too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use loyalcast_dto::Channel;

use crate::error::{FailureCode, SendError};
use crate::message::{MessageContent, OutboundMessage};
use crate::sender::{ChannelSender, Provider, ProviderReceipt};

/// A simulated provider for one channel: accepts every message at once (except the reserved
/// failing addresses in the [module docs](self)) and sends nothing anywhere.
#[derive(Debug)]
pub struct SandboxSender {
    channel: Channel,
    account: String,
}

impl SandboxSender {
    pub fn new(channel: Channel) -> Self {
        SandboxSender {
            channel,
            account: format!("sandbox-{}", channel.as_str()),
        }
    }

    /// One sandbox per channel, in [`Channel::ALL`] order.
    pub fn for_every_channel() -> Vec<SandboxSender> {
        Channel::ALL.into_iter().map(SandboxSender::new).collect()
    }
}

fn simulated_failure(content: &MessageContent) -> Option<SendError> {
    let permanent = |code, reason: &str| {
        Some(SendError::permanent(
            code,
            Some("sandbox"),
            format!("sandbox: {reason}"),
        ))
    };
    let ambiguous = || {
        Some(SendError::ambiguous(
            "sandbox: simulated timeout after the request was sent; a real provider may have accepted it",
        ))
    };
    match content {
        MessageContent::Sms(m) => match m.to.as_str() {
            "+15005550001" => permanent(FailureCode::InvalidAddress, "invalid number"),
            "+15005550004" => permanent(FailureCode::Unsubscribed, "the recipient replied STOP"),
            "+15005550009" => permanent(FailureCode::Unreachable, "not a mobile number"),
            "+15005550010" => ambiguous(),
            _ => None,
        },
        MessageContent::Email(m) => {
            let local = m.to.as_str().split('@').next().unwrap_or_default();
            match local {
                "bounce" => permanent(FailureCode::InvalidAddress, "mailbox does not exist"),
                "blocked" => permanent(FailureCode::Unsubscribed, "recipient unsubscribed"),
                "tempfail" => Some(SendError::retryable(
                    Some(Duration::from_secs(1)),
                    "sandbox: mailbox temporarily unavailable",
                )),
                "timeout" => ambiguous(),
                _ => None,
            }
        }
        MessageContent::Telegram(m) if m.chat_id.0 == -1 => {
            permanent(FailureCode::Blocked, "bot was blocked by the user")
        }
        MessageContent::Telegram(m) if m.chat_id.0 == -2 => ambiguous(),
        MessageContent::Messenger(m) if m.psid.as_str() == "0" => permanent(
            FailureCode::Unreachable,
            "this person isn't available right now",
        ),
        MessageContent::Messenger(m) if m.psid.as_str() == "1" => ambiguous(),
        MessageContent::Telegram(_) | MessageContent::Messenger(_) => None,
    }
}

#[async_trait]
impl ChannelSender for SandboxSender {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn provider(&self) -> Provider {
        Provider::Sandbox
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        if message.channel() != self.channel {
            return Err(SendError::wrong_channel("sandbox", message.channel()));
        }
        if let Some(error) = simulated_failure(&message.content) {
            tracing::info!(delivery_id = %message.delivery_id, channel = self.channel.as_str(), %error, "sandbox: simulated failure");
            return Err(error);
        }
        let id = format!("sandbox-{}", uuid::Uuid::now_v7().simple());
        tracing::info!(delivery_id = %message.delivery_id, channel = self.channel.as_str(), provider_message_id = %id, "sandbox: message accepted, nothing sent");
        Ok(ProviderReceipt {
            provider: Provider::Sandbox,
            provider_message_id: id,
        })
    }
}

/// Accepts and discards every message as fast as possible, for benchmarking the queue.
#[derive(Debug)]
pub struct NoopSender {
    channel: Channel,
    sent: AtomicU64,
}

impl NoopSender {
    pub fn new(channel: Channel) -> Self {
        NoopSender {
            channel,
            sent: AtomicU64::new(0),
        }
    }

    /// Messages accepted so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl ChannelSender for NoopSender {
    fn channel(&self) -> Channel {
        self.channel
    }

    fn provider(&self) -> Provider {
        Provider::Noop
    }

    fn account(&self) -> &str {
        "noop"
    }

    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(ProviderReceipt {
            provider: Provider::Noop,
            provider_message_id: format!("noop-{}-{n}", message.delivery_id),
        })
    }
}
