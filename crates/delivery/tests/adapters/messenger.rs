use loyalcast_delivery::messenger::{MessagingType, MessengerConfig, MessengerSender};
use loyalcast_delivery::{ChannelSender, DeliveryId, FailureCode, Provider, SendError};
use secrecy::SecretString;
use serde_json::json;
use url::Url;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{CapturedLogs, MisbehavingProvider, Misbehaviour, closed_port_url, messenger};

const PAGE_TOKEN: &str = "EAAGm0PX4ZCpsBAPageTokenDoNotLog";
const APP_SECRET: &str = "app-secret-do-not-log";

fn config(base_url: Url, messaging_type: MessagingType) -> MessengerConfig {
    MessengerConfig {
        base_url,
        api_version: "v21.0".to_owned(),
        page_id: "1029384756".to_owned(),
        page_access_token: SecretString::from(PAGE_TOKEN),
        app_secret: None,
        messaging_type,
        timeout_ms: 5_000,
    }
}

fn sender(server: &MockServer, messaging_type: MessagingType) -> MessengerSender {
    MessengerSender::new(config(Url::parse(&server.uri()).unwrap(), messaging_type)).unwrap()
}

async fn answering(status: u16, body: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_tagged_message_is_posted_with_the_page_token_and_its_id_comes_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .and(query_param("access_token", PAGE_TOKEN))
        .and(body_json(json!({
            "recipient": {"id": "1254459154682919"},
            "messaging_type": "MESSAGE_TAG",
            "tag": "CONFIRMED_EVENT_UPDATE",
            "message": {"text": "Your stamp card is full!"}
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"recipient_id": "1254459154682919", "message_id": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sender = sender(&server, MessagingType::ConfirmedEventUpdate);
    assert_eq!(sender.account(), "1029384756");
    let receipt = sender
        .send(&messenger("1254459154682919", "Your stamp card is full!"))
        .await
        .unwrap();
    assert_eq!(receipt.provider, Provider::Messenger);
    assert_eq!(receipt.provider_message_id, "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM");
}

#[tokio::test]
async fn an_update_has_no_tag_and_the_app_secret_proof_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .and(body_json(json!({
            "recipient": {"id": "42"},
            "messaging_type": "UPDATE",
            "message": {"text": "Thanks!"}
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"recipient_id": "42", "message_id": "m_1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut config = config(Url::parse(&server.uri()).unwrap(), MessagingType::Update);
    config.app_secret = Some(SecretString::from(APP_SECRET));
    MessengerSender::new(config)
        .unwrap()
        .send(&messenger("42", "Thanks!"))
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    let query: Vec<(String, String)> = requests[0].url.query_pairs().into_owned().collect();
    assert_eq!(query[0], ("access_token".to_owned(), PAGE_TOKEN.to_owned()));
    assert_eq!(query[1].0, "appsecret_proof");
    assert_eq!(query[1].1, APPSECRET_PROOF);
}

/// `printf %s 'EAAGm0PX4ZCpsBAPageTokenDoNotLog' | openssl dgst -sha256 -hmac 'app-secret-do-not-log'`
const APPSECRET_PROOF: &str = "7eb91c43754fb37d7ee13802b3e304859bfc9c298a3cb106149aafeaf2b6fa44";

#[tokio::test]
async fn rate_limit_errors_are_retryable() {
    for code in [4, 32, 613] {
        let server = answering(
            400,
            json!({"error": {"message": "Calls to this api have exceeded the rate limit.", "type": "OAuthException", "code": code, "fbtrace_id": "A"}}),
        )
        .await;
        let error = sender(&server, MessagingType::Update)
            .send(&messenger("42", "hi"))
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "code {code}: {error:?}");
    }
}

#[tokio::test]
async fn an_unavailable_person_is_a_permanent_failure() {
    let server = answering(
        400,
        json!({"error": {"message": "(#551) This person isn't available right now.", "type": "OAuthException", "code": 551, "error_subcode": 1545041, "fbtrace_id": "B"}}),
    )
    .await;
    let error = sender(&server, MessagingType::Update)
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    let SendError::Permanent {
        code,
        provider_code,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*code, FailureCode::Unreachable);
    assert_eq!(provider_code.as_deref(), Some("551/1545041"));
}

#[tokio::test]
async fn no_matching_user_is_an_invalid_address() {
    let server = answering(
        400,
        json!({"error": {"message": "(#100) No matching user found", "type": "OAuthException", "code": 100, "error_subcode": 2018001, "fbtrace_id": "C"}}),
    )
    .await;
    let error = sender(&server, MessagingType::Update)
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::InvalidAddress));
}

#[tokio::test]
async fn a_message_outside_the_window_is_rejected() {
    let server = answering(
        400,
        json!({"error": {"message": "(#10) This message is sent outside of allowed window.", "type": "OAuthException", "code": 10, "error_subcode": 2018278, "fbtrace_id": "D"}}),
    )
    .await;
    let error = sender(&server, MessagingType::Update)
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Rejected));
}

#[tokio::test]
async fn an_expired_token_is_a_misconfiguration() {
    let server = answering(
        401,
        json!({"error": {"message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190, "fbtrace_id": "E"}}),
    )
    .await;
    let error = sender(&server, MessagingType::Update)
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Misconfigured));
}

#[tokio::test]
async fn the_page_token_appears_in_no_error_debug_output_or_log() {
    let logs = CapturedLogs::global();
    let mut config = config(closed_port_url(), MessagingType::Update);
    config.app_secret = Some(SecretString::from(APP_SECRET));
    assert!(!format!("{config:?}").contains(PAGE_TOKEN));
    let sender = MessengerSender::new(config).unwrap();
    let mut message = messenger("42", "hi");
    message.delivery_id = DeliveryId::from(9_301_i64);
    let error = sender.send(&message).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");

    let lines = logs.for_delivery(9_301);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("messenger refused the message")),
        "{lines:?}"
    );
    for text in [error.to_string(), format!("{sender:?}"), logs.text()] {
        assert!(!text.contains(PAGE_TOKEN), "the token leaked into: {text}");
        assert!(
            !text.contains(APP_SECRET),
            "the app secret leaked into: {text}"
        );
    }
}

#[tokio::test]
async fn a_request_that_gets_no_answer_is_ambiguous_and_the_token_stays_out_of_the_logs() {
    let logs = CapturedLogs::global();
    let fake = MisbehavingProvider::start(Misbehaviour::ReadsAndNeverAnswers).await;
    let mut config = config(fake.url(), MessagingType::Update);
    config.timeout_ms = 600;
    let mut message = messenger("42", "hi");
    message.delivery_id = DeliveryId::from(9_302_i64);
    let error = MessengerSender::new(config)
        .unwrap()
        .send(&message)
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert_eq!(fake.requests_read(), 1);
    let lines = logs.for_delivery(9_302);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("messenger may or may not have the message")),
        "{lines:?}"
    );
    assert!(!error.to_string().contains(PAGE_TOKEN));
    assert!(!logs.text().contains(PAGE_TOKEN));
}

#[tokio::test]
async fn a_connection_closed_after_the_request_is_ambiguous() {
    let fake = MisbehavingProvider::start(Misbehaviour::ReadsAndHangsUp).await;
    let mut config = config(fake.url(), MessagingType::Update);
    config.timeout_ms = 600;
    let error = MessengerSender::new(config)
        .unwrap()
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert_eq!(fake.requests_read(), 1);
}

#[tokio::test]
async fn a_success_without_a_message_id_is_ambiguous() {
    let server = answering(200, json!({"recipient_id": "42"})).await;
    let error = sender(&server, MessagingType::Update)
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
}

#[tokio::test]
async fn meta_downtime_codes_are_retryable_even_on_a_500() {
    let server = answering(
        500,
        json!({"error": {"message": "An unexpected error has occurred. Please retry your request later.", "type": "OAuthException", "code": 2, "is_transient": true, "fbtrace_id": "F"}}),
    )
    .await;
    let error = sender(&server, MessagingType::Update)
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_500_without_a_known_code_is_ambiguous() {
    let server = answering(500, json!({"unexpected": true})).await;
    let error = sender(&server, MessagingType::Update)
        .send(&messenger("42", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
}
