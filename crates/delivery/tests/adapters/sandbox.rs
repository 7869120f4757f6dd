use loyalcast_delivery::sandbox::{NoopSender, SandboxSender};
use loyalcast_delivery::{Channel, ChannelSender, FailureCode, Provider};

use crate::helpers::{email_message, messenger, sms, telegram};

#[tokio::test]
async fn the_sandbox_accepts_every_channel_with_sandbox_ids() {
    let senders = SandboxSender::for_every_channel();
    let messages = [
        sms("+447700900123", "hi"),
        email_message(5, "ann@example.test"),
        telegram(7, "hi"),
        messenger("42", "hi"),
    ];
    for (sender, message) in senders.iter().zip(messages.iter()) {
        assert_eq!(sender.channel(), message.channel());
        assert!(sender.provider().is_sandbox());
        let receipt = sender.send(message).await.unwrap();
        assert_eq!(receipt.provider, Provider::Sandbox);
        assert!(
            receipt.provider_message_id.starts_with("sandbox-"),
            "{}",
            receipt.provider_message_id
        );
    }
}

#[tokio::test]
async fn sandbox_ids_are_unique() {
    let sender = SandboxSender::new(Channel::Sms);
    let a = sender.send(&sms("+447700900123", "hi")).await.unwrap();
    let b = sender.send(&sms("+447700900123", "hi")).await.unwrap();
    assert_ne!(a.provider_message_id, b.provider_message_id);
}

#[tokio::test]
async fn reserved_addresses_fail_on_purpose() {
    let sms_sender = SandboxSender::new(Channel::Sms);
    let code = |r: Result<_, loyalcast_delivery::SendError>| r.unwrap_err().code();
    assert_eq!(
        code(sms_sender.send(&sms("+15005550001", "hi")).await),
        Some(FailureCode::InvalidAddress)
    );
    assert_eq!(
        code(sms_sender.send(&sms("+15005550004", "hi")).await),
        Some(FailureCode::Unsubscribed)
    );
    assert_eq!(
        code(sms_sender.send(&sms("+15005550009", "hi")).await),
        Some(FailureCode::Unreachable)
    );

    let email_sender = SandboxSender::new(Channel::Email);
    assert_eq!(
        code(
            email_sender
                .send(&email_message(1, "bounce@example.test"))
                .await
        ),
        Some(FailureCode::InvalidAddress)
    );
    let temp = email_sender
        .send(&email_message(1, "tempfail@example.test"))
        .await
        .unwrap_err();
    assert!(temp.is_retryable());

    let telegram_sender = SandboxSender::new(Channel::Telegram);
    assert_eq!(
        code(telegram_sender.send(&telegram(-1, "hi")).await),
        Some(FailureCode::Blocked)
    );
    let messenger_sender = SandboxSender::new(Channel::Messenger);
    assert_eq!(
        code(messenger_sender.send(&messenger("0", "hi")).await),
        Some(FailureCode::Unreachable)
    );
}

#[tokio::test]
async fn reserved_addresses_answer_ambiguously_and_no_other_does() {
    let cases = [
        (Channel::Sms, sms("+15005550010", "hi")),
        (Channel::Email, email_message(1, "timeout@example.test")),
        (Channel::Telegram, telegram(-2, "hi")),
        (Channel::Messenger, messenger("1", "hi")),
    ];
    for (channel, message) in &cases {
        let error = SandboxSender::new(*channel)
            .send(message)
            .await
            .unwrap_err();
        assert!(error.is_ambiguous(), "{channel:?}: {error:?}");
        assert!(error.reason().starts_with("sandbox:"), "{error:?}");
    }

    // Every other result of the sandbox is a definite one.
    let others = [
        (Channel::Sms, sms("+15005550001", "hi")),
        (Channel::Sms, sms("+15005550004", "hi")),
        (Channel::Sms, sms("+15005550009", "hi")),
        (Channel::Sms, sms("+15005550011", "hi")),
        (Channel::Sms, sms("+447700900123", "hi")),
        (Channel::Email, email_message(1, "bounce@example.test")),
        (Channel::Email, email_message(1, "tempfail@example.test")),
        (Channel::Email, email_message(1, "timeouts@example.test")),
        (Channel::Telegram, telegram(-1, "hi")),
        (Channel::Telegram, telegram(2, "hi")),
        (Channel::Messenger, messenger("0", "hi")),
        (Channel::Messenger, messenger("11", "hi")),
    ];
    for (channel, message) in &others {
        let result = SandboxSender::new(*channel).send(message).await;
        assert!(
            !result.as_ref().is_err_and(|e| e.is_ambiguous()),
            "{channel:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn the_sandbox_of_one_channel_refuses_another_channel() {
    let error = SandboxSender::new(Channel::Email)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Misconfigured));
}

#[tokio::test]
async fn the_noop_sender_counts_what_it_discards() {
    let sender = NoopSender::new(Channel::Sms);
    for _ in 0..3 {
        let receipt = sender.send(&sms("+447700900123", "hi")).await.unwrap();
        assert_eq!(receipt.provider, Provider::Noop);
        assert!(receipt.provider.is_sandbox());
    }
    assert_eq!(sender.sent(), 3);
}
