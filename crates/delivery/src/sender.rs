//! The channel sender abstraction the workers call, and its compositions.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use loyalcast_dto::Channel;
use serde::Serialize;

use crate::error::{FailureCode, SendError};
use crate::message::OutboundMessage;
use crate::rate_limit::AccountRateLimiter;

/// Who carried a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Twilio,
    Smtp,
    Telegram,
    Messenger,
    /// Not a provider: nothing leaves the machine. See [`crate::sandbox`].
    Sandbox,
    /// Not a provider: discards messages, for benchmarks.
    Noop,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Twilio => "twilio",
            Provider::Smtp => "smtp",
            Provider::Telegram => "telegram",
            Provider::Messenger => "messenger",
            Provider::Sandbox => "sandbox",
            Provider::Noop => "noop",
        }
    }

    /// Whether messages "sent" this way never reach anyone: the UI and API must say so.
    pub fn is_sandbox(self) -> bool {
        matches!(self, Provider::Sandbox | Provider::Noop)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider's acknowledgement of a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderReceipt {
    pub provider: Provider,
    /// The provider's id for the message (Twilio SID, Message-ID, Telegram message_id,
    /// Messenger mid): delivery reports and replies refer to it.
    pub provider_message_id: String,
}

/// Sends one message through one provider account.
///
/// Implementations do one attempt and report what happened; retries, rate limits and
/// suppression checks are the caller's (see [`RateLimitedSender`],
/// [`crate::retry::RetryPolicy`]). A sender is shared by all workers: `send` takes `&self`.
#[async_trait]
pub trait ChannelSender: Send + Sync {
    /// The channel this sender serves.
    fn channel(&self) -> Channel;

    /// Who carries the messages.
    fn provider(&self) -> Provider;

    /// A non-secret name of the provider account (Twilio sender, bot id, page id, SMTP host),
    /// the key of the account's rate limits and metrics.
    fn account(&self) -> &str;

    /// Makes one attempt to hand `message` to the provider.
    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError>;

    /// Messages a second this process may send through this sender now, or `None` when
    /// nothing paces it (a bare adapter, the sandbox). [`RateLimitedSender`] answers with
    /// its account's share.
    fn rate_per_second(&self) -> Option<f64> {
        None
    }
}

macro_rules! forward_sender {
    ($pointer:ident) => {
        #[async_trait]
        impl<S: ChannelSender + ?Sized> ChannelSender for $pointer<S> {
            fn channel(&self) -> Channel {
                (**self).channel()
            }

            fn provider(&self) -> Provider {
                (**self).provider()
            }

            fn account(&self) -> &str {
                (**self).account()
            }

            async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
                (**self).send(message).await
            }

            fn rate_per_second(&self) -> Option<f64> {
                (**self).rate_per_second()
            }
        }
    };
}

forward_sender!(Box);
forward_sender!(Arc);

/// A sender that waits for its account's rate limits before each send.
pub struct RateLimitedSender<S> {
    inner: S,
    limiter: Arc<AccountRateLimiter>,
}

impl<S: ChannelSender> RateLimitedSender<S> {
    /// Wraps `inner`; get `limiter` from a [`crate::rate_limit::RateLimiterRegistry`] with
    /// `inner.channel()` and `inner.account()` so that senders of one account share it.
    pub fn new(inner: S, limiter: Arc<AccountRateLimiter>) -> Self {
        RateLimitedSender { inner, limiter }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: ChannelSender> ChannelSender for RateLimitedSender<S> {
    fn channel(&self) -> Channel {
        self.inner.channel()
    }

    fn provider(&self) -> Provider {
        self.inner.provider()
    }

    fn account(&self) -> &str {
        self.inner.account()
    }

    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        self.limiter.until_ready(&message.recipient_key()).await;
        self.inner.send(message).await
    }

    /// The account's share for this process; the inner sender's, if it had one, is not
    /// faster than the account (the limiter waits first).
    fn rate_per_second(&self) -> Option<f64> {
        match (self.limiter.rate_per_second(), self.inner.rate_per_second()) {
            (Some(outer), Some(inner)) => Some(outer.min(inner)),
            (outer, inner) => outer.or(inner),
        }
    }
}

/// One sender per channel behind one [`ChannelSender`]: the worker's single entry point.
#[derive(Default, Clone)]
pub struct ChannelRouter {
    senders: HashMap<Channel, Arc<dyn ChannelSender>>,
}

impl ChannelRouter {
    pub fn new() -> Self {
        ChannelRouter::default()
    }

    /// Routes the sender's channel to it, replacing any sender routed there before.
    pub fn with(mut self, sender: Arc<dyn ChannelSender>) -> Self {
        self.senders.insert(sender.channel(), sender);
        self
    }

    /// The sender of a channel, if one is configured.
    pub fn sender(&self, channel: Channel) -> Option<&Arc<dyn ChannelSender>> {
        self.senders.get(&channel)
    }

    /// Messages a second this process may send on `channel` now: its share of the
    /// channel's account rate (after [`crate::rate_limit::RateLimiterRegistry::share_with`]),
    /// or `None` when the channel is not rate limited (the sandbox) or has no sender. A worker
    /// claims no more deliveries of a channel than this rate sends well inside the lease.
    pub fn rate_per_second(&self, channel: Channel) -> Option<f64> {
        self.senders.get(&channel)?.rate_per_second()
    }

    /// Sends through the sender of the message's channel.
    pub async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let channel = message.channel();
        match self.senders.get(&channel) {
            Some(sender) => sender.send(message).await,
            None => Err(SendError::permanent(
                FailureCode::Misconfigured,
                None::<&str>,
                format!("no sender is configured for {}", channel.label()),
            )),
        }
    }
}

impl fmt::Debug for ChannelRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (channel, sender) in &self.senders {
            map.entry(
                &channel.as_str(),
                &format_args!("{} ({})", sender.provider(), sender.account()),
            );
        }
        map.finish()
    }
}
