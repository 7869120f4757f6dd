use std::time::Duration;

use loyalcast_delivery::twilio::{TwilioConfig, TwilioSender, TwilioSmsSender};
use loyalcast_delivery::{ChannelSender, DeliveryId, FailureCode, Provider, SendError};
use secrecy::SecretString;
use serde_json::json;
use url::Url;
use wiremock::matchers::{basic_auth, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    CapturedLogs, MisbehavingProvider, Misbehaviour, closed_port_url, sms, telegram,
};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-do-not-log";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

fn config(base_url: Url) -> TwilioConfig {
    TwilioConfig {
        base_url,
        account_sid: SID.to_owned(),
        auth_token: SecretString::from(TOKEN),
        sender: TwilioSender::From("+15005550006".to_owned()),
        status_callback_url: Some(
            Url::parse("https://app.loyalcast.test/webhooks/twilio/status?v=1").unwrap(),
        ),
        timeout_ms: 5_000,
    }
}

/// A sender with a short timeout, against a fake that misbehaves: the test waits for the
/// timeout, and asserts only what kind of error comes of it.
fn impatient_sender(base_url: Url) -> TwilioSmsSender {
    let mut config = config(base_url);
    config.timeout_ms = 600;
    TwilioSmsSender::new(config).unwrap()
}

fn sender(server: &MockServer) -> TwilioSmsSender {
    TwilioSmsSender::new(config(Url::parse(&server.uri()).unwrap())).unwrap()
}

async fn answering(status: u16, body: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    server
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn an_sms_is_posted_as_a_form_with_basic_auth_and_the_sid_comes_back() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(basic_auth(SID, TOKEN))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"sid": "SM1f0e2d3c", "status": "queued", "body": "x"})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let receipt = sender(&server)
        .send(&sms("+447700900123", "Hi Ann & co: 120 pts €"))
        .await
        .unwrap();
    assert_eq!(receipt.provider, Provider::Twilio);
    assert_eq!(receipt.provider_message_id, "SM1f0e2d3c");

    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        form(&requests[0].body),
        vec![
            ("To".to_owned(), "+447700900123".to_owned()),
            ("From".to_owned(), "+15005550006".to_owned()),
            ("Body".to_owned(), "Hi Ann & co: 120 pts €".to_owned()),
            (
                "StatusCallback".to_owned(),
                "https://app.loyalcast.test/webhooks/twilio/status?v=1&delivery_id=1001".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_messaging_service_replaces_from_and_the_callback_is_optional() {
    let server = answering(201, json!({"sid": "SM2", "status": "accepted"})).await;
    let mut config = config(Url::parse(&server.uri()).unwrap());
    config.sender =
        TwilioSender::MessagingServiceSid("MG9752274e9e519418a7406176694466fa".to_owned());
    config.status_callback_url = None;
    TwilioSmsSender::new(config)
        .unwrap()
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    let fields = form(&requests[0].body);
    assert!(fields.contains(&(
        "MessagingServiceSid".to_owned(),
        "MG9752274e9e519418a7406176694466fa".to_owned()
    )));
    assert!(
        !fields
            .iter()
            .any(|(k, _)| k == "From" || k == "StatusCallback"),
        "{fields:?}"
    );
}

#[tokio::test]
async fn an_unsubscribed_recipient_is_a_permanent_failure() {
    let server = answering(
        400,
        json!({
            "code": 21610,
            "message": "Attempt to send to unsubscribed recipient",
            "more_info": "https://www.twilio.com/docs/errors/21610",
            "status": 400
        }),
    )
    .await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
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
    assert_eq!(*code, FailureCode::Unsubscribed);
    assert!(code.suppresses_channel());
    assert_eq!(provider_code.as_deref(), Some("21610"));
    assert!(
        reason.contains("Attempt to send to unsubscribed recipient"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_invalid_number_is_a_permanent_failure() {
    let server = answering(
        400,
        json!({"code": 21211, "message": "The 'To' number +4470 is not a valid phone number.", "status": 400}),
    )
    .await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::InvalidAddress));
}

#[tokio::test]
async fn too_many_requests_is_retryable_after_the_given_delay() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_json(
                    json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
                ),
        )
        .mount(&server)
        .await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SendError::Retryable {
            retry_after: Some(Duration::from_secs(30)),
            reason: "Twilio 20429: too many requests".to_owned()
        }
    );
}

#[tokio::test]
async fn a_server_error_without_a_twilio_body_is_retryable_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "12")
                .set_body_string("upstream down"),
        )
        .mount(&server)
        .await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(12)));
}

#[tokio::test]
async fn bad_credentials_are_a_misconfiguration() {
    let server = answering(
        401,
        json!({"code": 20003, "message": "Authenticate", "status": 401}),
    )
    .await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Misconfigured));
}

#[tokio::test]
async fn a_success_without_a_sid_is_ambiguous() {
    let server = answering(201, json!({"status": "queued"})).await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert!(
        error.is_ambiguous(),
        "Twilio has the SMS; a retry could send it twice: {error:?}"
    );
}

#[tokio::test]
async fn a_500_is_ambiguous_as_twilio_documents() {
    let server = answering(
        500,
        json!({"code": 20500, "message": "Internal Server Error", "status": 500}),
    )
    .await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
}

#[tokio::test]
async fn a_503_is_retryable_as_twilio_documents() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(
                json!({"code": 20503, "message": "Service unavailable", "status": 503}),
            ),
        )
        .mount(&server)
        .await;
    let error = sender(&server)
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_request_that_gets_no_answer_is_ambiguous() {
    let logs = CapturedLogs::global();
    let fake = MisbehavingProvider::start(Misbehaviour::ReadsAndNeverAnswers).await;
    let mut message = sms("+447700900123", "hi");
    message.delivery_id = DeliveryId::from(9_102_i64);
    let error = impatient_sender(fake.url())
        .send(&message)
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert!(
        error.reason().contains("no answer before the timeout"),
        "{error:?}"
    );
    assert_eq!(fake.requests_read(), 1, "the request reached the provider");
    let lines = logs.for_delivery(9_102);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("twilio may or may not have the SMS") && l.contains("ambiguous")),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("+447700900123")),
        "no phone number in the logs: {lines:?}"
    );
}

#[tokio::test]
async fn a_connection_closed_after_the_request_is_ambiguous() {
    let fake = MisbehavingProvider::start(Misbehaviour::ReadsAndHangsUp).await;
    let error = impatient_sender(fake.url())
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert!(
        error.reason().contains("the connection failed"),
        "{error:?}"
    );
    assert_eq!(fake.requests_read(), 1);
}

#[tokio::test]
async fn a_success_whose_body_is_cut_short_is_ambiguous() {
    let fake = MisbehavingProvider::start(Misbehaviour::CutsTheAnswer("201 Created")).await;
    let error = impatient_sender(fake.url())
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_ambiguous(), "{error:?}");
    assert!(
        error.reason().contains("the answer could not be read"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_refusal_whose_body_is_cut_short_is_still_a_refusal() {
    let fake = MisbehavingProvider::start(Misbehaviour::CutsTheAnswer("400 Bad Request")).await;
    let error = impatient_sender(fake.url())
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Provider), "{error:?}");
}

#[tokio::test]
async fn a_tls_handshake_that_never_completes_is_retryable_as_nothing_was_sent() {
    // The connect timeout (half of the 600 ms) fires first, and says "connect".
    let fake = MisbehavingProvider::start(Misbehaviour::SilentAfterAccept).await;
    let error = impatient_sender(fake.https_url())
        .send(&sms("+447700900123", "hi"))
        .await
        .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.reason().contains("nothing was sent"), "{error:?}");
    assert_eq!(fake.requests_read(), 0);
}

#[tokio::test]
async fn an_unreachable_api_is_retryable_and_neither_error_nor_logs_show_the_token() {
    let logs = CapturedLogs::global();
    let sender = TwilioSmsSender::new(config(closed_port_url())).unwrap();
    let mut message = sms("+447700900123", "hi");
    message.delivery_id = DeliveryId::from(9_101_i64);
    let error = sender.send(&message).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.reason().contains("nothing was sent"), "{error:?}");
    assert!(!error.to_string().contains(TOKEN));
    assert!(!format!("{sender:?}").contains(TOKEN));
    let lines = logs.for_delivery(9_101);
    assert!(
        lines.iter().any(|l| l.contains("twilio refused the SMS")),
        "the failure is logged: {lines:?}"
    );
    assert!(!logs.text().contains(TOKEN), "{}", logs.text());
}

#[tokio::test]
async fn a_telegram_message_is_not_sent_as_sms() {
    let server = MockServer::start().await;
    let error = sender(&server).send(&telegram(1, "hi")).await.unwrap_err();
    assert_eq!(error.code(), Some(FailureCode::Misconfigured));
    assert!(server.received_requests().await.unwrap().is_empty());
}
