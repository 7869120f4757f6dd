use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;

use loyalcast_delivery::config::DeliveryConfig;
use loyalcast_delivery::rate_limit::{Rate, RateLimitConfig, RateLimiterRegistry};
use loyalcast_delivery::sandbox::{NoopSender, SandboxSender};
use loyalcast_delivery::{
    Channel, ChannelRouter, ChannelSender, FailureCode, Provider, RateLimitedSender,
};

use crate::helpers::{sms, telegram};

#[tokio::test]
async fn the_router_sends_through_the_channels_sender() {
    let router = ChannelRouter::new()
        .with(Arc::new(SandboxSender::new(Channel::Sms)))
        .with(Arc::new(NoopSender::new(Channel::Telegram)));
    assert_eq!(
        router
            .send(&sms("+447700900123", "hi"))
            .await
            .unwrap()
            .provider,
        Provider::Sandbox
    );
    assert_eq!(
        router.send(&telegram(1, "hi")).await.unwrap().provider,
        Provider::Noop
    );
}

#[tokio::test]
async fn a_channel_without_a_sender_is_a_misconfiguration() {
    let router = ChannelRouter::new().with(Arc::new(SandboxSender::new(Channel::Sms)));
    let error = router.send(&telegram(1, "hi")).await.unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Misconfigured));
    assert!(error.reason().contains("Telegram"), "{error}");
}

#[tokio::test]
async fn a_rate_limited_sender_takes_a_token_before_each_send() {
    let mut configs = HashMap::new();
    configs.insert(
        Channel::Telegram,
        RateLimitConfig {
            overall: None,
            per_recipient: Some(Rate::new(
                NonZeroU32::new(1).unwrap(),
                NonZeroU64::new(3_600_000).unwrap(),
            )),
        },
    );
    let registry = RateLimiterRegistry::new(configs);
    let inner = NoopSender::new(Channel::Telegram);
    let limiter = registry.limiter(inner.channel(), inner.account());
    let sender = RateLimitedSender::new(inner, limiter.clone());

    sender.send(&telegram(7, "hi")).await.unwrap();
    assert_eq!(sender.inner().sent(), 1);
    // Chat 7 has used its one message of the hour; another chat has not.
    assert!(limiter.check("7").is_err());
    assert!(limiter.check("8").is_ok());
}

#[tokio::test]
async fn the_router_tells_each_channels_rate_for_this_process() {
    let mut configs = HashMap::new();
    configs.insert(
        Channel::Telegram,
        RateLimitConfig {
            overall: Some(Rate::per_second(NonZeroU32::new(30).unwrap())),
            per_recipient: None,
        },
    );
    let registry = RateLimiterRegistry::new(configs);
    let telegram = NoopSender::new(Channel::Telegram);
    let limiter = registry.limiter(telegram.channel(), telegram.account());
    let router = ChannelRouter::new()
        .with(Arc::new(RateLimitedSender::new(telegram, limiter)))
        .with(Arc::new(SandboxSender::new(Channel::Sms)));

    assert_eq!(router.rate_per_second(Channel::Telegram), Some(30.0));
    registry.share_with(NonZeroU32::new(3).unwrap());
    assert_eq!(router.rate_per_second(Channel::Telegram), Some(10.0));
    assert_eq!(
        router.rate_per_second(Channel::Sms),
        None,
        "the sandbox is not limited"
    );
    assert_eq!(router.rate_per_second(Channel::Email), None, "no sender");
}

#[tokio::test]
async fn a_configured_router_limits_real_providers_and_not_the_sandbox() {
    let config: DeliveryConfig = serde_json::from_value(serde_json::json!({
        "telegram": {"provider": "telegram", "bot_token": "123:telegram-secret"},
        "rate_limits": {"telegram": {"overall": {"count": 20, "period_ms": 1000}, "per_recipient": null}}
    }))
    .unwrap();
    let delivery = config.build().unwrap();
    assert_eq!(
        delivery.router.rate_per_second(Channel::Telegram),
        Some(20.0)
    );
    assert_eq!(delivery.router.rate_per_second(Channel::Sms), None);
    delivery.limits.share_with(NonZeroU32::new(2).unwrap());
    assert_eq!(
        delivery.router.rate_per_second(Channel::Telegram),
        Some(10.0)
    );
    assert_eq!(
        delivery.limits.rate_per_second(Channel::Telegram),
        Some(10.0)
    );
}
