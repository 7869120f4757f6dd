//! SMS through Twilio's Programmable Messaging REST API, and Twilio's webhooks.
//!
//! Twilio is called directly with reqwest (rustls) rather than through a client crate: the
//! one Rust client asked about (`twilio-async`) hard-codes Twilio's URL, so no local fake can
//! stand in for it in tests, has not been released since 2021 and pulls OpenSSL. The API
//! used is small: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic
//! auth with the account SID and auth token, a form body.
//!
//! [`webhook`] verifies `X-Twilio-Signature` and reads the status callbacks and inbound
//! messages Twilio posts back.
//!
//! ## When Twilio may have the SMS
//!
//! Creating a Message is not idempotent, and the Messages API takes no idempotency key:
//! Twilio's error 20500 says that sending an SMS is a `POST` that is "not idempotent. If you
//! get a 500 Server Error on these requests, and you retry the request, it is possible for a
//! customer to receive multiple messages". So:
//!
//! - no connection (DNS, refused, TLS, connect timeout): [`SendError::Retryable`], nothing
//!   was sent;
//! - 429 (error 20429) and 503 (error 20503, "temporarily unavailable ... try again a few
//!   times with exponential back-off"): retryable, after `Retry-After`;
//! - a timeout or a lost connection after the request was written, an answer that could not
//!   be read, a 2xx without a message SID, and 500, 502 and 504: [`SendError::Ambiguous`].
//!   The SMS is paid for, so it is not resent automatically; the status callback, whose URL
//!   carries the delivery id, settles it if Twilio has the message.

use std::time::Duration;

use async_trait::async_trait;
use loyalcast_dto::Channel;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::error::{BuildError, FailureCode, SendError};
use crate::http;
use crate::message::{MessageContent, OutboundMessage};
use crate::sender::{ChannelSender, Provider, ProviderReceipt};

pub mod webhook;

/// Twilio's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Who the SMS comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TwilioSender {
    /// A Twilio phone number in E.164 form, or an alphanumeric sender id where allowed.
    From(String),
    /// A messaging service SID (`MG...`): Twilio picks the number from the service's pool.
    MessagingServiceSid(String),
}

/// The configuration of one Twilio sender. `Debug` shows no secret.
#[derive(Debug, Clone, Deserialize)]
pub struct TwilioConfig {
    /// The API's base URL: [`DEFAULT_BASE_URL`] in production, a local fake in tests.
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    /// `AC...`.
    pub account_sid: String,
    pub auth_token: SecretString,
    pub sender: TwilioSender,
    /// Where Twilio posts delivery reports; the delivery id is added as the `delivery_id`
    /// query parameter so a report can be matched even before the send is recorded.
    #[serde(default)]
    pub status_callback_url: Option<Url>,
    /// The timeout of one API request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    // A constant that parses; covered by a test.
    Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("DEFAULT_BASE_URL is a valid URL"))
}

fn default_timeout_ms() -> u64 {
    u64::try_from(http::DEFAULT_TIMEOUT.as_millis()).unwrap_or(15_000)
}

/// Sends SMS through one Twilio account and sender.
#[derive(Debug)]
pub struct TwilioSmsSender {
    client: reqwest::Client,
    messages_url: Url,
    account_sid: String,
    auth_token: SecretString,
    sender: TwilioSender,
    status_callback_url: Option<Url>,
    account: String,
}

impl TwilioSmsSender {
    pub fn new(config: TwilioConfig) -> Result<Self, BuildError> {
        let sid = &config.account_sid;
        if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(BuildError(format!("not a Twilio account SID: {sid:?}")));
        }
        let messages_url = http::endpoint(
            &config.base_url,
            &format!("2010-04-01/Accounts/{sid}/Messages.json"),
        )?;
        let account = match &config.sender {
            TwilioSender::From(from) => format!("{sid}/{from}"),
            TwilioSender::MessagingServiceSid(service) => format!("{sid}/{service}"),
        };
        Ok(TwilioSmsSender {
            client: http::client(Duration::from_millis(config.timeout_ms))?,
            messages_url,
            account_sid: config.account_sid,
            auth_token: config.auth_token,
            sender: config.sender,
            status_callback_url: config.status_callback_url,
            account,
        })
    }
}

#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    /// `queued` or `accepted` on creation; later states come by status callback.
    status: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

impl TwilioSmsSender {
    async fn attempt(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let MessageContent::Sms(sms) = &message.content else {
            return Err(SendError::wrong_channel("Twilio SMS", message.channel()));
        };
        let mut form: Vec<(&str, String)> = vec![("To", sms.to.as_str().to_owned())];
        match &self.sender {
            TwilioSender::From(from) => form.push(("From", from.clone())),
            TwilioSender::MessagingServiceSid(sid) => {
                form.push(("MessagingServiceSid", sid.clone()))
            }
        }
        form.push(("Body", sms.body.clone()));
        if let Some(callback) = &self.status_callback_url {
            let mut callback = callback.clone();
            callback
                .query_pairs_mut()
                .append_pair("delivery_id", message.delivery_id.as_str());
            form.push(("StatusCallback", callback.into()));
        }

        let response = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&form)
            .send()
            .await
            .map_err(|e| http::transport_error("Twilio", &e))?;

        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .map_err(|e| http::body_error("Twilio", status, &headers, &e))?;
        if status.is_success() {
            serde_json::from_str::<MessageResource>(&body)
                .map(|resource| {
                    tracing::trace!(sid = %resource.sid, status = ?resource.status, "twilio message created");
                    ProviderReceipt { provider: Provider::Twilio, provider_message_id: resource.sid }
                })
                .map_err(|_| accepted_but_unreadable(status))
        } else {
            Err(error_from_answer(status, &headers, &body))
        }
    }
}

#[async_trait]
impl ChannelSender for TwilioSmsSender {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    fn provider(&self) -> Provider {
        Provider::Twilio
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let result = self.attempt(message).await;
        // Logged here so that every outcome is, transport failures included. Only the class
        // and codes: Twilio's messages quote the number ("The 'To' number ... is not valid").
        match &result {
            Ok(receipt) => {
                tracing::debug!(delivery_id = %message.delivery_id, sid = %receipt.provider_message_id, "twilio accepted the SMS")
            }
            Err(error) if error.is_ambiguous() => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), "twilio may or may not have the SMS")
            }
            Err(error) => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), code = ?error.code(), provider_code = ?error.provider_code(), "twilio refused the SMS")
            }
        }
        result
    }
}

/// A 2xx whose body is not a message resource: Twilio has most likely queued the SMS, but
/// without its SID only the status callback (which carries the delivery id) can tell. Not a
/// failure (the credits stay reserved) and not retryable (it would send the SMS twice).
fn accepted_but_unreadable(status: StatusCode) -> SendError {
    SendError::ambiguous(format!(
        "Twilio answered HTTP {status} without a message SID; the SMS was probably queued"
    ))
}

fn error_from_answer(status: StatusCode, headers: &HeaderMap, body: &str) -> SendError {
    let parsed = serde_json::from_str::<ErrorBody>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|b| b.message.clone())
        .unwrap_or_default();
    match parsed.and_then(|b| b.code) {
        Some(code) => classify_error_code(code, &message)
            .map(|error| match error {
                SendError::Retryable {
                    retry_after: None,
                    reason,
                } => SendError::Retryable {
                    retry_after: http::retry_after(headers),
                    reason,
                },
                other => other,
            })
            .unwrap_or_else(|| {
                let detail = format!("error {code}: {}", http::truncate(&message, 300));
                with_provider_code(http::status_error("Twilio", status, headers, &detail), code)
            }),
        None => http::status_error("Twilio", status, headers, &http::truncate(body, 300)),
    }
}

fn with_provider_code(error: SendError, code: u32) -> SendError {
    match error {
        SendError::Permanent {
            code: failure,
            reason,
            ..
        } => SendError::Permanent {
            code: failure,
            provider_code: Some(code.to_string()),
            reason,
        },
        retryable => retryable,
    }
}

/// Classifies a Twilio error code, from an API answer or a status callback's `ErrorCode`.
/// `None` for codes without a rule here: classify those by HTTP status.
pub fn classify_error_code(code: u32, message: &str) -> Option<SendError> {
    use FailureCode::*;
    let permanent = |failure: FailureCode, what: &str| {
        let reason = if message.is_empty() {
            format!("Twilio {code}: {what}")
        } else {
            format!("Twilio {code}: {what} ({})", http::truncate(message, 300))
        };
        Some(SendError::permanent(failure, Some(code), reason))
    };
    let retryable = |what: &str| Some(SendError::retryable(None, format!("Twilio {code}: {what}")));
    match code {
        21610 => permanent(
            Unsubscribed,
            "the recipient has unsubscribed (replied STOP)",
        ),
        21211 => permanent(InvalidAddress, "invalid 'To' phone number"),
        21614 => permanent(Unreachable, "'To' is not a mobile number"),
        21612 => permanent(
            Unreachable,
            "'To' cannot be reached by SMS from this sender",
        ),
        21408 => permanent(
            Misconfigured,
            "sending to this region is not enabled on the account",
        ),
        21212 | 21606 | 21659 | 21660 => {
            permanent(Misconfigured, "the 'From' sender is not usable")
        }
        20003 => permanent(
            Misconfigured,
            "authentication failed (account SID or auth token)",
        ),
        20404 => permanent(Misconfigured, "account or resource not found"),
        21602 | 21617 => permanent(Rejected, "the message body is empty or too long"),
        30002 => permanent(Misconfigured, "the account is suspended"),
        30034 => permanent(Misconfigured, "the sender is not registered for A2P 10DLC"),
        30004 => permanent(
            Blocked,
            "the message was blocked (by the recipient or the carrier)",
        ),
        30005 => permanent(InvalidAddress, "unknown destination handset"),
        30006 => permanent(Unreachable, "landline or unreachable carrier"),
        30007 => permanent(Rejected, "filtered by the carrier as spam"),
        20429 => retryable("too many requests"),
        30001 => retryable("queue overflow"),
        30003 => retryable("destination handset unreachable (switched off or out of coverage)"),
        30008 => retryable("unknown error at the carrier"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_default_base_url_parses() {
        assert_eq!(default_base_url().as_str(), "https://api.twilio.com/");
    }

    #[test]
    fn error_codes_map_to_failure_kinds() {
        let code = |c| classify_error_code(c, "").and_then(|e| e.code());
        assert_eq!(code(21610), Some(FailureCode::Unsubscribed));
        assert_eq!(code(21211), Some(FailureCode::InvalidAddress));
        assert_eq!(code(21614), Some(FailureCode::Unreachable));
        assert_eq!(code(21612), Some(FailureCode::Unreachable));
        assert_eq!(code(30004), Some(FailureCode::Blocked));
        assert_eq!(code(30005), Some(FailureCode::InvalidAddress));
        assert_eq!(code(30006), Some(FailureCode::Unreachable));
        assert_eq!(code(30007), Some(FailureCode::Rejected));
        assert_eq!(code(20003), Some(FailureCode::Misconfigured));
        for retryable in [20429, 30001, 30003, 30008] {
            assert!(
                classify_error_code(retryable, "").unwrap().is_retryable(),
                "{retryable}"
            );
        }
        assert_eq!(classify_error_code(12345, "what"), None);
    }

    #[test]
    fn permanent_errors_keep_the_code_and_the_message() {
        let error = classify_error_code(21211, "The 'To' number +1555 is not valid.").unwrap();
        let SendError::Permanent {
            provider_code,
            reason,
            ..
        } = error
        else {
            panic!("{error:?}")
        };
        assert_eq!(provider_code.as_deref(), Some("21211"));
        assert!(
            reason.contains("The 'To' number +1555 is not valid."),
            "{reason}"
        );
    }

    #[test]
    fn a_500_may_have_sent_the_sms_and_a_503_did_not() {
        let headers = HeaderMap::new();
        let internal = r#"{"code": 20500, "message": "Internal Server Error", "status": 500}"#;
        assert!(
            error_from_answer(StatusCode::INTERNAL_SERVER_ERROR, &headers, internal).is_ambiguous()
        );
        let unavailable = r#"{"code": 20503, "message": "Service unavailable", "status": 503}"#;
        assert!(
            error_from_answer(StatusCode::SERVICE_UNAVAILABLE, &headers, unavailable)
                .is_retryable()
        );
        assert!(error_from_answer(StatusCode::GATEWAY_TIMEOUT, &headers, "").is_ambiguous());
    }

    #[test]
    fn a_success_without_a_sid_is_ambiguous() {
        assert!(accepted_but_unreadable(StatusCode::CREATED).is_ambiguous());
    }

    #[test]
    fn an_unknown_code_falls_back_to_the_http_status() {
        let headers = HeaderMap::new();
        let body = r#"{"code": 99999, "message": "Something new", "status": 400}"#;
        let error = error_from_answer(StatusCode::BAD_REQUEST, &headers, body);
        assert_eq!(error.code(), Some(FailureCode::Provider));
        let SendError::Permanent { provider_code, .. } = &error else {
            panic!()
        };
        assert_eq!(provider_code.as_deref(), Some("99999"));

        let error = error_from_answer(
            StatusCode::SERVICE_UNAVAILABLE,
            &headers,
            "<html>down</html>",
        );
        assert!(error.is_retryable());
    }
}
