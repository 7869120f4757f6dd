use std::collections::HashMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;

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
