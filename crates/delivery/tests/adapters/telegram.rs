use std::time::Duration;

use loyalcast_delivery::telegram::{TelegramConfig, TelegramSender};
use loyalcast_delivery::{ChannelSender, DeliveryId, FailureCode, Provider, SendError};
use secrecy::SecretString;
use serde_json::json;
use url::Url;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{CapturedLogs, MisbehavingProvider, Misbehaviour, closed_port_url, telegram};

const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SEND_PATH: &str = "/bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage";

fn sender(base_url: Url) -> TelegramSender {
    sender_with_timeout(base_url, 5_000)
}

fn sender_with_timeout(base_url: Url, timeout_ms: u64) -> TelegramSender {
    TelegramSender::new(TelegramConfig {
        base_url,
        bot_token: SecretString::from(TOKEN),
        timeout_ms,
    })
    .unwrap()
}

async fn answering(status: u16, body: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    server
}

fn url(server: &MockServer) -> Url {
    Url::parse(&server.uri()).unwrap()
}

#[tokio::test]
async fn a_message_is_posted_as_json_and_its_id_comes_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"chat_id": 123456789, "text": "Hi Ann, 120 points 🎉"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "ok": true,
            "result": {"message_id": 4711, "chat": {"id": 123456789, "type": "private"}, "date": 1700000000, "text": "x"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let sender = sender(url(&server));
    assert_eq!(sender.account(), "110201543", "the bot id, not the token");
    let receipt = sender
        .send(&telegram(123456789, "Hi Ann, 120 points 🎉"))
        .await
        .unwrap();
    assert_eq!(receipt.provider, Provider::Telegram);
    assert_eq!(receipt.provider_message_id, "123456789:4711");
}

#[tokio::test]
async fn too_many_requests_is_retryable_after_the_given_delay() {
    let server = answering(
        429,
        json!({
            "ok": false,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7}
        }),
    )
    .await;
    let error = sender(url(&server))
        .send(&telegram(1, "hi"))
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_bot_blocked_by_the_user_is_permanent_and_suppresses_the_channel() {
    let server = answering(
        403,
        json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    )
    .await;
    let error = sender(url(&server))
        .send(&telegram(1, "hi"))
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
    assert_eq!(*code, FailureCode::Blocked);
    assert!(code.suppresses_channel());
    assert_eq!(provider_code.as_deref(), Some("403"));
    assert!(reason.contains("bot was blocked by the user"));
}

#[tokio::test]
async fn an_unknown_chat_is_an_invalid_address() {
    let server = answering(
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
    )
    .await;
    let error = sender(url(&server))
        .send(&telegram(1, "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::InvalidAddress));
}

#[tokio::test]
async fn a_gateway_error_page_is_ambiguous() {
    // 502 from Telegram's front: the Bot API behind it may have sent the message.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .mount(&server)
        .await;
    assert!(
        sender(url(&server))
            .send(&telegram(1, "hi"))
            .await
            .unwrap_err()
            .is_ambiguous()
    );
}

#[tokio::test]
async fn the_bot_token_appears_in_no_error_debug_output_or_log() {
    let logs = CapturedLogs::global();
    let unreachable = sender(closed_port_url());
    let mut message = telegram(1, "hi");
    message.delivery_id = DeliveryId::from(9_201_i64);
    let error = unreachable.send(&message).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");

    let server = answering(
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
    )
    .await;
    let refused = sender(url(&server)).send(&message).await.unwrap_err();

    let lines = logs.for_delivery(9_201);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("telegram refused the message"))
            .count(),
        2,
        "{lines:?}"
    );
    let secret = TOKEN.split_once(':').unwrap().1;
    for text in [
        error.to_string(),
        refused.to_string(),
        format!("{unreachable:?}"),
        logs.text(),
    ] {
        assert!(!text.contains(secret), "the token leaked into: {text}");
    }
}

#[tokio::test]
async fn a_request_that_gets_no_answer_is_ambiguous_and_the_token_stays_out_of_the_logs() {
    let logs = CapturedLogs::global();
    let fake = MisbehavingProvider::start(Misbehaviour::ReadsAndNeverAnswers).await;
    let mut message = telegram(1, "hi");
    message.delivery_id = DeliveryId::from(9_202_i64);
    let error = sender_with_timeout(fake.url(), 600)
        .send(&message)
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert_eq!(fake.requests_read(), 1);
    let lines = logs.for_delivery(9_202);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("telegram may or may not have the message")),
        "{lines:?}"
    );
    let secret = TOKEN.split_once(':').unwrap().1;
    assert!(!error.to_string().contains(secret));
    assert!(!logs.text().contains(secret));
}

#[tokio::test]
async fn a_connection_closed_after_the_request_is_ambiguous() {
    let fake = MisbehavingProvider::start(Misbehaviour::ReadsAndHangsUp).await;
    let error = sender_with_timeout(fake.url(), 600)
        .send(&telegram(1, "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert_eq!(fake.requests_read(), 1);
}

#[tokio::test]
async fn a_tls_handshake_that_never_completes_is_retryable() {
    let fake = MisbehavingProvider::start(Misbehaviour::SilentAfterAccept).await;
    let error = sender_with_timeout(fake.https_url(), 600)
        .send(&telegram(1, "hi"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(fake.requests_read(), 0);
}

#[tokio::test]
async fn ok_without_the_message_is_ambiguous() {
    let server = answering(200, json!({"ok": true})).await;
    let error = sender(url(&server))
        .send(&telegram(1, "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
}

#[tokio::test]
async fn an_internal_server_error_is_ambiguous_and_unavailable_is_retryable() {
    let server = answering(
        500,
        json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
    )
    .await;
    let error = sender(url(&server))
        .send(&telegram(1, "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    let error = sender(url(&server))
        .send(&telegram(1, "hi"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}
