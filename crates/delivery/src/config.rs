//! Provider configuration for all channels, and building the senders from it.
//!
//! Meant to be embedded in the server's configuration (figment: file plus `LOYALCAST_*`
//! overrides). Every channel defaults to the sandbox, so an empty configuration gives a
//! working `make run` that sends nothing anywhere. In TOML:
//!
//! ```toml
//! [delivery.sms]
//! provider = "twilio"
//! account_sid = "AC..."
//! auth_token = "..."
//! sender = { from = "+15005550006" }
//! status_callback_url = "https://app.example/webhooks/twilio/status"
//!
//! [delivery.email]
//! provider = "smtp"
//! host = "smtp.example"
//! port = 587
//! tls = "start_tls"
//! from_address = "mailings@example"
//! credentials = { username = "relay", password = "..." }
//!
//! [delivery.rate_limits.sms]
//! overall = { count = 3, period_ms = 1000 }
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use loyalcast_dto::Channel;
use serde::Deserialize;

use crate::email::{SmtpConfig, SmtpSender};
use crate::error::BuildError;
use crate::messenger::{MessengerConfig, MessengerSender};
use crate::rate_limit::{RateLimitConfig, RateLimiterRegistry};
use crate::sandbox::SandboxSender;
use crate::sender::{ChannelRouter, ChannelSender, RateLimitedSender};
use crate::telegram::{TelegramConfig, TelegramSender};
use crate::twilio::{TwilioConfig, TwilioSmsSender};

/// Who sends SMS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum SmsProvider {
    /// Simulated: nothing is sent (see [`crate::sandbox`]).
    #[default]
    Sandbox,
    Twilio(Box<TwilioConfig>),
}

/// Who sends email.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum EmailProvider {
    /// Simulated: nothing is sent (see [`crate::sandbox`]).
    #[default]
    Sandbox,
    Smtp(SmtpConfig),
}

/// Who sends Telegram messages.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum TelegramProvider {
    /// Simulated: nothing is sent (see [`crate::sandbox`]).
    #[default]
    Sandbox,
    Telegram(TelegramConfig),
}

/// Who sends Messenger messages.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum MessengerProvider {
    /// Simulated: nothing is sent (see [`crate::sandbox`]).
    #[default]
    Sandbox,
    Messenger(MessengerConfig),
}

/// The providers of every channel and their rate limits. `Debug` shows no secret.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    pub sms: SmsProvider,
    pub email: EmailProvider,
    pub telegram: TelegramProvider,
    pub messenger: MessengerProvider,
    /// Per channel; a channel left out gets [`RateLimitConfig::default_for`].
    pub rate_limits: HashMap<Channel, RateLimitConfig>,
}

impl DeliveryConfig {
    /// Builds one sender per channel, each real provider behind its account's rate limits
    /// (the sandbox is not limited). Call once per process, inside a Tokio runtime, and
    /// share the router between workers.
    pub fn build_router(self) -> Result<ChannelRouter, BuildError> {
        Ok(self.build()?.router)
    }

    /// [`DeliveryConfig::build_router`], keeping a handle on the rate limiters so that the
    /// process can take its share of each account's rate when others send too.
    pub fn build(self) -> Result<Delivery, BuildError> {
        let registry = Arc::new(RateLimiterRegistry::new(self.rate_limits));
        let limited = |sender: Box<dyn ChannelSender>| -> Arc<dyn ChannelSender> {
            let limiter = registry.limiter(sender.channel(), sender.account());
            Arc::new(RateLimitedSender::new(sender, limiter))
        };
        let sandbox = |channel| -> Arc<dyn ChannelSender> { Arc::new(SandboxSender::new(channel)) };

        let sms = match self.sms {
            SmsProvider::Sandbox => sandbox(Channel::Sms),
            SmsProvider::Twilio(config) => limited(Box::new(TwilioSmsSender::new(*config)?)),
        };
        let email = match self.email {
            EmailProvider::Sandbox => sandbox(Channel::Email),
            EmailProvider::Smtp(config) => limited(Box::new(SmtpSender::new(config)?)),
        };
        let telegram = match self.telegram {
            TelegramProvider::Sandbox => sandbox(Channel::Telegram),
            TelegramProvider::Telegram(config) => limited(Box::new(TelegramSender::new(config)?)),
        };
        let messenger = match self.messenger {
            MessengerProvider::Sandbox => sandbox(Channel::Messenger),
            MessengerProvider::Messenger(config) => {
                limited(Box::new(MessengerSender::new(config)?))
            }
        };
        let router = ChannelRouter::new()
            .with(sms)
            .with(email)
            .with(telegram)
            .with(messenger);
        Ok(Delivery {
            router,
            limits: registry,
        })
    }
}

/// The senders of every channel, and the rate limiters behind them.
#[derive(Debug)]
pub struct Delivery {
    pub router: ChannelRouter,
    pub limits: Arc<RateLimiterRegistry>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::sender::Provider;

    #[tokio::test]
    async fn an_empty_configuration_is_the_sandbox_on_every_channel() {
        let router = DeliveryConfig::default().build_router().unwrap();
        for channel in Channel::ALL {
            assert_eq!(
                router.sender(channel).unwrap().provider(),
                Provider::Sandbox,
                "{channel:?}"
            );
        }
    }

    #[tokio::test]
    async fn providers_and_limits_are_read_from_configuration() {
        let config: DeliveryConfig = serde_json::from_value(serde_json::json!({
            "sms": {
                "provider": "twilio",
                "account_sid": "AC123",
                "auth_token": "twilio-secret",
                "sender": {"from": "+15005550006"}
            },
            "email": {
                "provider": "smtp",
                "host": "127.0.0.1",
                "port": 2525,
                "tls": "none",
                "from_address": "mailings@loyalcast.test",
                "credentials": {"username": "u", "password": "smtp-secret"}
            },
            "telegram": {"provider": "telegram", "bot_token": "123:telegram-secret"},
            "messenger": {
                "provider": "messenger",
                "page_id": "99",
                "page_access_token": "page-secret",
                "messaging_type": "update"
            },
            "rate_limits": {"sms": {"overall": {"count": 3, "period_ms": 1000}, "per_recipient": null}}
        }))
        .unwrap();

        let debug = format!("{config:?}");
        for secret in [
            "twilio-secret",
            "smtp-secret",
            "telegram-secret",
            "page-secret",
        ] {
            assert!(!debug.contains(secret), "{secret} printed in {debug}");
        }
        assert!(
            matches!(&config.sms, SmsProvider::Twilio(c) if c.base_url.as_str() == "https://api.twilio.com/")
        );

        let router = config.build_router().unwrap();
        let provider = |c| router.sender(c).unwrap().provider();
        assert_eq!(provider(Channel::Sms), Provider::Twilio);
        assert_eq!(provider(Channel::Email), Provider::Smtp);
        assert_eq!(provider(Channel::Telegram), Provider::Telegram);
        assert_eq!(provider(Channel::Messenger), Provider::Messenger);
        assert_eq!(
            router.sender(Channel::Sms).unwrap().account(),
            "AC123/+15005550006"
        );
    }

    #[test]
    fn a_bad_provider_configuration_is_refused() {
        let error = serde_json::from_value::<DeliveryConfig>(serde_json::json!({
            "sms": {"provider": "carrier-pigeon"}
        }))
        .unwrap_err();
        assert!(error.to_string().contains("carrier-pigeon"), "{error}");
    }
}
