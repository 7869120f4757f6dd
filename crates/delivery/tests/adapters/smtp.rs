use loyalcast_delivery::email::{SmtpConfig, SmtpCredentials, SmtpSender, SmtpTls};
use loyalcast_delivery::{ChannelSender, FailureCode, Provider, SendError};
use secrecy::SecretString;

use crate::helpers::{CapturedLogs, email_message, sms};
use crate::smtp_sink::{AfterMessage, SmtpSink, parse_mail};

fn sender(port: u16) -> SmtpSender {
    sender_with_timeout(port, 5_000)
}

/// A short timeout, for a relay that stalls: the test waits for it, and asserts only what
/// kind of error comes of it.
fn impatient_sender(port: u16) -> SmtpSender {
    sender_with_timeout(port, 300)
}

fn sender_with_timeout(port: u16, timeout_ms: u64) -> SmtpSender {
    SmtpSender::new(SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        tls: SmtpTls::None,
        credentials: None,
        from_address: "mailings@loyalcast.test".to_owned(),
        timeout_ms,
    })
    .unwrap()
}

#[tokio::test]
async fn an_email_arrives_as_multipart_text_and_html_with_unsubscribe_headers_and_pixel() {
    let sink = SmtpSink::start().await;
    let receipt = sender(sink.addr.port())
        .send(&email_message(1004, "ann@example.test"))
        .await
        .unwrap();
    assert_eq!(receipt.provider, Provider::Smtp);
    assert_eq!(receipt.provider_message_id, "1004@loyalcast.test");

    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "mailings@loyalcast.test");
    assert_eq!(received[0].rcpt_to, vec!["ann@example.test".to_owned()]);

    let mail = parse_mail(&received[0].data);
    assert_eq!(
        mail.header("From"),
        Some("\"Bean and Leaf\" <mailings@loyalcast.test>")
    );
    assert_eq!(mail.header("To"), Some("\"Ann Lee\" <ann@example.test>"));
    assert_eq!(
        mail.header("Reply-To"),
        Some("replies+m42@in.loyalcast.test")
    );
    assert_eq!(mail.header("Subject"), Some("Your card has 120 points"));
    assert_eq!(mail.header("Message-ID"), Some("<1004@loyalcast.test>"));
    assert_eq!(
        mail.header("List-Unsubscribe"),
        Some("<https://l.loyalcast.test/u/tok?c=email>")
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"),
        "{mail:?}"
    );

    assert_eq!(mail.parts.len(), 2, "{mail:?}");
    assert!(
        mail.parts[0].0.starts_with("text/plain"),
        "text first, so HTML is preferred"
    );
    assert_eq!(
        mail.part("text/plain").unwrap(),
        "Hi Ann,\r\nyou have 120 points.\r\n.\r\n.leading dot line\r\nUnsubscribe: https://l.loyalcast.test/u/tok"
    );
    assert_eq!(
        mail.part("text/html").unwrap(),
        "<html><body><p>Hi <b>Ann</b>, you have 120 points.</p>\
         <img src=\"https://t.loyalcast.test/o/1004.gif\" width=\"1\" height=\"1\" alt=\"\" \
         style=\"display:block;border:0;width:1px;height:1px\"></body></html>"
    );
}

#[tokio::test]
async fn without_open_tracking_the_html_is_sent_as_written() {
    let sink = SmtpSink::start().await;
    let mut message = email_message(1005, "ann@example.test");
    if let loyalcast_delivery::MessageContent::Email(email) = &mut message.content {
        email.open_tracking_url = None;
    }
    sender(sink.addr.port()).send(&message).await.unwrap();
    let mail = parse_mail(&sink.received()[0].data);
    assert_eq!(
        mail.part("text/html").unwrap(),
        "<html><body><p>Hi <b>Ann</b>, you have 120 points.</p></body></html>"
    );
}

#[tokio::test]
async fn several_emails_go_through_one_sender_in_turn() {
    let sink = SmtpSink::start().await;
    let sender = sender(sink.addr.port());
    for (id, to) in [
        (1, "a@example.test"),
        (2, "b@example.test"),
        (3, "c@example.test"),
    ] {
        sender.send(&email_message(id, to)).await.unwrap();
    }
    let recipients: Vec<String> = sink
        .received()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    assert_eq!(
        recipients,
        vec!["a@example.test", "b@example.test", "c@example.test"]
    );
    assert_eq!(sink.sessions(), 1, "one connection, reused");
}

#[tokio::test]
async fn a_connection_the_relay_closed_while_idle_is_replaced_without_losing_the_email() {
    let sink = SmtpSink::start().await;
    sink.hang_up_when_idle();
    let sender = sender(sink.addr.port());
    for id in 1..=3 {
        sender
            .send(&email_message(id, "a@example.test"))
            .await
            .unwrap();
    }
    assert_eq!(sink.received().len(), 3);
    assert_eq!(sink.sessions(), 3);
}

#[tokio::test]
async fn a_relay_that_takes_the_message_and_never_answers_makes_the_outcome_ambiguous() {
    let logs = CapturedLogs::global();
    let sink = SmtpSink::start().await;
    sink.after_message("slow@example.test", AfterMessage::Stall);
    let error = impatient_sender(sink.addr.port())
        .send(&email_message(9_401, "slow@example.test"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert!(
        error.reason().contains("after the message was sent"),
        "{error:?}"
    );
    assert_eq!(sink.received().len(), 1, "the relay has the message");
    let lines = logs.for_delivery(9_401);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("smtp relay may or may not have the email")),
        "{lines:?}"
    );
    assert!(
        !logs.text().contains("slow@example.test"),
        "no address in the logs"
    );
}

#[tokio::test]
async fn a_connection_lost_after_the_message_makes_the_outcome_ambiguous() {
    let sink = SmtpSink::start().await;
    sink.after_message("gone-quiet@example.test", AfterMessage::HangUp);
    let error = sender(sink.addr.port())
        .send(&email_message(10, "gone-quiet@example.test"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_relay_that_never_answers_before_the_message_is_retryable() {
    let sink = SmtpSink::start().await;
    sink.stall_rcpt("tarpit@example.test");
    let error = impatient_sender(sink.addr.port())
        .send(&email_message(11, "tarpit@example.test"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.reason().contains("nothing was sent"), "{error:?}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn an_answer_to_the_message_itself_is_as_definite_as_any_other() {
    let sink = SmtpSink::start().await;
    sink.after_message(
        "later@example.test",
        AfterMessage::Reply("451 4.7.1 Greylisted, try again later".to_owned()),
    );
    sink.after_message(
        "spam@example.test",
        AfterMessage::Reply("554 5.7.1 Message rejected as spam".to_owned()),
    );
    let sender = sender(sink.addr.port());
    let later = sender
        .send(&email_message(12, "later@example.test"))
        .await
        .unwrap_err();
    assert!(later.is_retryable(), "{later:?}");
    let spam = sender
        .send(&email_message(13, "spam@example.test"))
        .await
        .unwrap_err();
    assert_eq!(spam.code(), Some(FailureCode::Rejected), "{spam:?}");
}

#[tokio::test]
async fn a_5xx_refusal_of_the_recipient_is_permanent() {
    let sink = SmtpSink::start().await;
    sink.refuse("gone@example.test", "550 5.1.1 No such user here");
    let error = sender(sink.addr.port())
        .send(&email_message(6, "gone@example.test"))
        .await
        .unwrap_err();
    let SendError::Permanent {
        code,
        provider_code,
        reason,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*code, FailureCode::InvalidAddress);
    assert_eq!(provider_code.as_deref(), Some("550"));
    assert!(reason.contains("No such user"), "{reason}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_4xx_refusal_is_retryable() {
    let sink = SmtpSink::start().await;
    sink.refuse(
        "busy@example.test",
        "451 4.3.0 Mailbox busy, try again later",
    );
    let error = sender(sink.addr.port())
        .send(&email_message(7, "busy@example.test"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.reason().contains("try again later"), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let port = crate::helpers::closed_port_url().port().unwrap();
    let error = sender(port)
        .send(&email_message(8, "ann@example.test"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn an_sms_given_to_the_email_sender_is_refused_as_misconfiguration() {
    let sink = SmtpSink::start().await;
    let error = sender(sink.addr.port())
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Misconfigured));
}

#[tokio::test]
async fn the_smtp_password_never_prints() {
    let config = SmtpConfig {
        host: "smtp.example.test".to_owned(),
        port: 587,
        tls: SmtpTls::StartTls,
        credentials: Some(SmtpCredentials {
            username: "relay-user".to_owned(),
            password: SecretString::from("hunter2-smtp-password"),
        }),
        from_address: "mailings@loyalcast.test".to_owned(),
        timeout_ms: 5_000,
    };
    assert!(!format!("{config:?}").contains("hunter2"));
    let sender = SmtpSender::new(config).unwrap();
    assert!(!format!("{sender:?}").contains("hunter2"));
    assert_eq!(sender.account(), "smtp.example.test:587");
}
