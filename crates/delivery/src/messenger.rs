//! Facebook Messenger through the Send API: `POST {base}/{version}/me/messages`.
//!
//! Outside the 24-hour window after the customer's last message, a page may only send
//! tagged messages; loyalty updates go as `MESSAGE_TAG` + `CONFIRMED_EVENT_UPDATE` (or
//! another tag), replies within the window as `UPDATE`. The page access token travels as the
//! `access_token` query parameter, so request URLs are never logged, and, when the app secret
//! is configured, with its `appsecret_proof`. [`webhook`] reads what Meta posts back.
//!
//! ## When Meta may have the message
//!
//! The Send API takes no idempotency key (a request is the recipient, the messaging type,
//! the tag and the message), so a message whose request went out cannot be sent again
//! safely. As for every HTTP adapter, a failure to connect is [`SendError::Retryable`]
//! (nothing was sent), and a timeout or lost connection after the request was written, an
//! answer that could not be read, or a success without a message id is
//! [`SendError::Ambiguous`]. Graph errors are read by their code first: Meta's error
//! handling guide says of code 1 "possibly a temporary issue due to downtime" and of code 2
//! "temporary issue due to downtime. Wait and retry the operation", so both are retryable
//! whatever the HTTP status; a 5xx without a known code is read by HTTP semantics (503
//! retryable, 500, 502 and 504 ambiguous). Messenger messages cost nothing, so the retry
//! policy resends an ambiguous one: a duplicate is the lesser harm, and no report could
//! settle it (Meta's delivery webhooks name messages by their `mid`, which we never got).

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use loyalcast_dto::Channel;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

use crate::error::{BuildError, FailureCode, SendError};
use crate::http;
use crate::message::{MessageContent, OutboundMessage};
use crate::sender::{ChannelSender, Provider, ProviderReceipt};

pub mod webhook;

/// The Graph API's production host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version used unless configured.
pub const DEFAULT_API_VERSION: &str = "v21.0";

/// How messages are labelled for Messenger's sending policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagingType {
    /// `messaging_type: UPDATE`: only within 24 hours of the customer's last message.
    Update,
    /// `MESSAGE_TAG` + `CONFIRMED_EVENT_UPDATE`: reminders of an event the customer signed
    /// up for, at any time.
    #[default]
    ConfirmedEventUpdate,
    /// `MESSAGE_TAG` + `ACCOUNT_UPDATE`: a change to the customer's account (their card).
    AccountUpdate,
    /// `MESSAGE_TAG` + `POST_PURCHASE_UPDATE`: about a purchase the customer made.
    PostPurchaseUpdate,
}

impl MessagingType {
    fn fields(self) -> (&'static str, Option<&'static str>) {
        match self {
            MessagingType::Update => ("UPDATE", None),
            MessagingType::ConfirmedEventUpdate => ("MESSAGE_TAG", Some("CONFIRMED_EVENT_UPDATE")),
            MessagingType::AccountUpdate => ("MESSAGE_TAG", Some("ACCOUNT_UPDATE")),
            MessagingType::PostPurchaseUpdate => ("MESSAGE_TAG", Some("POST_PURCHASE_UPDATE")),
        }
    }
}

/// The configuration of one Facebook page. `Debug` shows no secret.
#[derive(Debug, Clone, Deserialize)]
pub struct MessengerConfig {
    /// [`DEFAULT_BASE_URL`] in production, a local fake in tests.
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    /// [`DEFAULT_API_VERSION`] unless set.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The page's id: the account key of its rate limits.
    pub page_id: String,
    pub page_access_token: SecretString,
    /// The app secret, to sign each call with `appsecret_proof` (recommended; required when
    /// the app enforces it).
    #[serde(default)]
    pub app_secret: Option<SecretString>,
    #[serde(default)]
    pub messaging_type: MessagingType,
    /// The timeout of one API request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("DEFAULT_BASE_URL is a valid URL"))
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}

fn default_timeout_ms() -> u64 {
    u64::try_from(http::DEFAULT_TIMEOUT.as_millis()).unwrap_or(15_000)
}

/// Sends Messenger messages as one page.
#[derive(Debug)]
pub struct MessengerSender {
    client: reqwest::Client,
    /// The endpoint with the token (and proof) in its query: secret as a whole.
    endpoint: SecretString,
    page_id: String,
    messaging_type: MessagingType,
}

impl MessengerSender {
    pub fn new(config: MessengerConfig) -> Result<Self, BuildError> {
        let version = config.api_version.trim_matches('/');
        if version.is_empty()
            || !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        {
            return Err(BuildError(format!(
                "not a Graph API version: {:?}",
                config.api_version
            )));
        }
        let mut endpoint = http::endpoint(&config.base_url, &format!("{version}/me/messages"))?;
        {
            let token = config.page_access_token.expose_secret();
            let mut query = endpoint.query_pairs_mut();
            query.append_pair("access_token", token);
            if let Some(secret) = &config.app_secret {
                query.append_pair("appsecret_proof", &appsecret_proof(secret, token)?);
            }
        }
        Ok(MessengerSender {
            client: http::client(Duration::from_millis(config.timeout_ms))?,
            endpoint: SecretString::from(String::from(endpoint)),
            page_id: config.page_id,
            messaging_type: config.messaging_type,
        })
    }
}

/// `appsecret_proof`: hex HMAC-SHA256 of the access token, keyed with the app secret.
fn appsecret_proof(app_secret: &SecretString, access_token: &str) -> Result<String, BuildError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.expose_secret().as_bytes())
        .map_err(|_| BuildError("the Messenger app secret cannot key HMAC-SHA256".to_owned()))?;
    mac.update(access_token.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

#[derive(Serialize)]
struct SendRequest<'a> {
    recipient: Recipient<'a>,
    messaging_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'static str>,
    message: Text<'a>,
}

#[derive(Serialize)]
struct Recipient<'a> {
    id: &'a str,
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Deserialize)]
struct SendAnswer {
    message_id: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    message: Option<String>,
    code: Option<u32>,
    error_subcode: Option<u32>,
}

impl MessengerSender {
    async fn attempt(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let MessageContent::Messenger(messenger) = &message.content else {
            return Err(SendError::wrong_channel("Messenger", message.channel()));
        };
        let (messaging_type, tag) = self.messaging_type.fields();
        let request = SendRequest {
            recipient: Recipient {
                id: messenger.psid.as_str(),
            },
            messaging_type,
            tag,
            message: Text {
                text: &messenger.text,
            },
        };
        let response = self
            .client
            .post(self.endpoint.expose_secret())
            .json(&request)
            .send()
            .await
            .map_err(|e| http::transport_error("Messenger", &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .map_err(|e| http::body_error("Messenger", status, &headers, &e))?;

        if status.is_success() {
            serde_json::from_str::<SendAnswer>(&body)
                .map(|answer| ProviderReceipt { provider: Provider::Messenger, provider_message_id: answer.message_id })
                .map_err(|_| {
                    SendError::ambiguous(format!(
                        "Messenger answered HTTP {status} without a message id; it was probably sent"
                    ))
                })
        } else {
            Err(match serde_json::from_str::<ErrorAnswer>(&body) {
                Ok(ErrorAnswer {
                    error:
                        GraphError {
                            code: Some(code),
                            error_subcode,
                            message,
                        },
                }) => classify_error(
                    code,
                    error_subcode,
                    message.as_deref().unwrap_or_default(),
                    http::retry_after(&headers),
                )
                .unwrap_or_else(|| {
                    let detail = format!(
                        "error {code}: {}",
                        http::truncate(message.as_deref().unwrap_or_default(), 300)
                    );
                    http::status_error("Messenger", status, &headers, &detail)
                }),
                _ => http::status_error("Messenger", status, &headers, &http::truncate(&body, 300)),
            })
        }
    }
}

#[async_trait]
impl ChannelSender for MessengerSender {
    fn channel(&self) -> Channel {
        Channel::Messenger
    }

    fn provider(&self) -> Provider {
        Provider::Messenger
    }

    fn account(&self) -> &str {
        &self.page_id
    }

    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let result = self.attempt(message).await;
        // Logged here so that every outcome is, transport failures included; the class and
        // codes only, never a URL (it holds the token) nor the provider's text.
        match &result {
            Ok(receipt) => {
                tracing::debug!(delivery_id = %message.delivery_id, mid = %receipt.provider_message_id, "messenger accepted the message")
            }
            Err(error) if error.is_ambiguous() => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), "messenger may or may not have the message")
            }
            Err(error) => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), code = ?error.code(), provider_code = ?error.provider_code(), "messenger refused the message")
            }
        }
        result
    }
}

/// Classifies a Graph API error of the Send API; `None` for codes without a rule here.
pub fn classify_error(
    code: u32,
    subcode: Option<u32>,
    message: &str,
    retry_after: Option<Duration>,
) -> Option<SendError> {
    let provider_code = match subcode {
        Some(sub) => format!("{code}/{sub}"),
        None => code.to_string(),
    };
    let reason = format!(
        "Messenger {provider_code}: {}",
        http::truncate(message, 300)
    );
    let permanent = |failure| {
        Some(SendError::permanent(
            failure,
            Some(&provider_code),
            reason.clone(),
        ))
    };
    match (code, subcode) {
        // Rate limits: application (4), API calls (613), page (32), and the Messenger
        // per-thread limit (80006), plus "temporary send message failure" (1200) and the
        // downtime codes: "API Unknown" (1) and "API Service" (2), which Meta's guide says
        // to wait out and retry.
        (1 | 2 | 4 | 32 | 613 | 80006 | 1200, _) => Some(SendError::retryable(retry_after, reason)),
        (100, Some(2018001)) => permanent(FailureCode::InvalidAddress),
        (551, _) => permanent(FailureCode::Unreachable),
        (200, Some(1545041)) => permanent(FailureCode::Unreachable),
        (200, _) => permanent(FailureCode::Blocked),
        // Permission errors, mostly "sent outside of allowed window" (2018278).
        (10, _) => permanent(FailureCode::Rejected),
        (190 | 230, _) => permanent(FailureCode::Misconfigured),
        (100, _) => permanent(FailureCode::Rejected),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn rate_limit_codes_are_retryable() {
        for code in [1, 2, 4, 32, 613, 80006, 1200] {
            let error =
                classify_error(code, None, "slow down", Some(Duration::from_secs(60))).unwrap();
            assert_eq!(error.retry_after(), Some(Duration::from_secs(60)), "{code}");
        }
    }

    #[test]
    fn recipient_errors_are_permanent() {
        let code = |c, s| classify_error(c, s, "", None).and_then(|e| e.code());
        assert_eq!(code(100, Some(2018001)), Some(FailureCode::InvalidAddress));
        assert_eq!(code(551, None), Some(FailureCode::Unreachable));
        assert_eq!(code(200, Some(1545041)), Some(FailureCode::Unreachable));
        assert_eq!(code(200, Some(2018028)), Some(FailureCode::Blocked));
        assert_eq!(code(10, Some(2018278)), Some(FailureCode::Rejected));
        assert_eq!(code(190, None), Some(FailureCode::Misconfigured));
        assert_eq!(classify_error(12345, None, "", None), None);
    }

    #[test]
    fn the_provider_code_keeps_the_subcode() {
        let SendError::Permanent { provider_code, .. } =
            classify_error(100, Some(2018001), "No matching user found", None).unwrap()
        else {
            panic!()
        };
        assert_eq!(provider_code.as_deref(), Some("100/2018001"));
    }

    #[test]
    fn appsecret_proof_is_hex_hmac_sha256_of_the_token() {
        // Computed independently: printf %s token | openssl dgst -sha256 -hmac secret
        let proof = appsecret_proof(&SecretString::from("secret"), "token").unwrap();
        assert_eq!(
            proof,
            "e941110e3d2bfe82621f0e3e1434730d7305d106c5f68c87165d0b27a4611a4a"
        );
    }

    #[test]
    fn a_bad_api_version_is_refused() {
        let config = MessengerConfig {
            base_url: default_base_url(),
            api_version: "v21.0/../x".into(),
            page_id: "1".into(),
            page_access_token: SecretString::from("t"),
            app_secret: None,
            messaging_type: MessagingType::Update,
            timeout_ms: 1_000,
        };
        assert!(MessengerSender::new(config).is_err());
    }
}
