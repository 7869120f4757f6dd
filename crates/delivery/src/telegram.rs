//! Telegram through the Bot API: `POST {base}/bot{token}/sendMessage`.
//!
//! The bot token is part of every request URL, so neither the URL nor reqwest's errors
//! (which name it) are ever logged or stored. [`webhook`] reads what Telegram posts back.
//!
//! ## When Telegram may have the message
//!
//! `sendMessage` takes no idempotency key (its parameters are the chat, the text and how to
//! show it), so a message whose request went out cannot be sent again safely. As for every
//! HTTP adapter, a failure to connect is [`SendError::Retryable`] (nothing was sent), and a
//! timeout or lost connection after the request was written, an answer that could not be
//! read or an `ok` answer without the message is [`SendError::Ambiguous`]. The Bot API
//! documents no meaning for 5xx codes; they are read by HTTP semantics (503 retryable, 500,
//! 502 and 504 ambiguous). Telegram messages cost nothing, so the retry policy resends an
//! ambiguous one (a duplicate is the lesser harm); nothing else could settle it, as Telegram
//! reports no delivery to bots.

use std::time::Duration;

use async_trait::async_trait;
use loyalcast_dto::Channel;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{BuildError, FailureCode, SendError};
use crate::http;
use crate::message::{MessageContent, OutboundMessage};
use crate::sender::{ChannelSender, Provider, ProviderReceipt};

pub mod webhook;

/// The Bot API's production host.
pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";

/// The configuration of one bot. `Debug` shows no secret.
#[derive(Debug, Clone, Deserialize)]
pub struct TelegramConfig {
    /// [`DEFAULT_BASE_URL`] in production, a local fake (or a self-hosted Bot API server).
    #[serde(default = "default_base_url")]
    pub base_url: Url,
    /// `123456:ABC-DEF...` from @BotFather.
    pub bot_token: SecretString,
    /// The timeout of one API request, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("DEFAULT_BASE_URL is a valid URL"))
}

fn default_timeout_ms() -> u64 {
    u64::try_from(http::DEFAULT_TIMEOUT.as_millis()).unwrap_or(15_000)
}

/// Sends Telegram messages as one bot.
#[derive(Debug)]
pub struct TelegramSender {
    client: reqwest::Client,
    /// Holds the token: secret as a whole.
    send_message_url: SecretString,
    /// The bot's numeric id (the token's part before ':'), which is public.
    bot_id: String,
}

impl TelegramSender {
    pub fn new(config: TelegramConfig) -> Result<Self, BuildError> {
        let token = config.bot_token.expose_secret();
        let bot_id = match token.split_once(':') {
            Some((id, rest))
                if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() =>
            {
                id
            }
            // Never echo the token in the error.
            _ => {
                return Err(BuildError(
                    "the Telegram bot token is not of the form <bot id>:<key>".to_owned(),
                ));
            }
        };
        if token.contains(['/', '?', '#']) {
            return Err(BuildError(
                "the Telegram bot token contains URL characters".to_owned(),
            ));
        }
        let base = config.base_url.as_str().trim_end_matches('/');
        Ok(TelegramSender {
            client: http::client(Duration::from_millis(config.timeout_ms))?,
            send_message_url: SecretString::from(format!("{base}/bot{token}/sendMessage")),
            bot_id: bot_id.to_owned(),
        })
    }
}

#[derive(Serialize)]
struct SendMessage<'a> {
    chat_id: i64,
    text: &'a str,
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    result: Option<SentMessage>,
    error_code: Option<u16>,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: i64,
}

#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u64>,
}

impl TelegramSender {
    async fn attempt(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let MessageContent::Telegram(telegram) = &message.content else {
            return Err(SendError::wrong_channel("Telegram", message.channel()));
        };
        let response = self
            .client
            .post(self.send_message_url.expose_secret())
            .json(&SendMessage {
                chat_id: telegram.chat_id.0,
                text: &telegram.text,
            })
            .send()
            .await
            .map_err(|e| http::transport_error("Telegram", &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .map_err(|e| http::body_error("Telegram", status, &headers, &e))?;

        match serde_json::from_str::<Answer>(&body) {
            Ok(Answer {
                ok: true,
                result: Some(sent),
                ..
            }) => Ok(ProviderReceipt {
                provider: Provider::Telegram,
                // Message ids are per chat; the pair identifies the message.
                provider_message_id: format!("{}:{}", telegram.chat_id.0, sent.message_id),
            }),
            // Sent, most likely, but without the message id nothing can show it.
            Ok(Answer {
                ok: true,
                result: None,
                ..
            }) => Err(SendError::ambiguous(
                "Telegram answered ok without the message; it was probably sent",
            )),
            Ok(answer) => Err(classify_error(
                answer.error_code.unwrap_or(status.as_u16()),
                answer.description.as_deref().unwrap_or_default(),
                answer
                    .parameters
                    .and_then(|p| p.retry_after)
                    .map(Duration::from_secs)
                    .or_else(|| http::retry_after(&headers)),
            )),
            Err(_) if status.is_success() => Err(SendError::ambiguous(format!(
                "Telegram answered HTTP {status} with an unreadable body; the message was probably sent"
            ))),
            Err(_) => Err(http::status_error(
                "Telegram",
                status,
                &headers,
                &http::truncate(&body, 300),
            )),
        }
    }
}

#[async_trait]
impl ChannelSender for TelegramSender {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn provider(&self) -> Provider {
        Provider::Telegram
    }

    fn account(&self) -> &str {
        &self.bot_id
    }

    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let result = self.attempt(message).await;
        // Logged here so that every outcome is, transport failures included; the class and
        // codes only, never a URL (it holds the token) nor the provider's text.
        match &result {
            Ok(receipt) => {
                tracing::debug!(delivery_id = %message.delivery_id, id = %receipt.provider_message_id, "telegram accepted the message")
            }
            Err(error) if error.is_ambiguous() => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), "telegram may or may not have the message")
            }
            Err(error) => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), code = ?error.code(), provider_code = ?error.provider_code(), "telegram refused the message")
            }
        }
        result
    }
}

/// Classifies a Bot API error by its `error_code` and `description`.
pub fn classify_error(
    error_code: u16,
    description: &str,
    retry_after: Option<Duration>,
) -> SendError {
    let reason = format!(
        "Telegram {error_code}: {}",
        http::truncate(description, 300)
    );
    let lower = description.to_ascii_lowercase();
    let permanent = |code| SendError::permanent(code, Some(error_code), reason.clone());
    match error_code {
        429 => SendError::retryable(retry_after, reason),
        403 if lower.contains("blocked") => permanent(FailureCode::Blocked),
        403 if lower.contains("deactivated") => permanent(FailureCode::InvalidAddress),
        // "bot can't initiate conversation with a user", "bot was kicked"...
        403 => permanent(FailureCode::Unreachable),
        400 if lower.contains("chat not found") || lower.contains("user not found") => {
            permanent(FailureCode::InvalidAddress)
        }
        400 => permanent(FailureCode::Rejected),
        401 | 404 => permanent(FailureCode::Misconfigured),
        code if code >= 500 => http::server_error(code, retry_after, reason),
        _ => permanent(FailureCode::Provider),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_code_and_description() {
        assert_eq!(
            classify_error(
                429,
                "Too Many Requests: retry after 5",
                Some(Duration::from_secs(5))
            )
            .retry_after(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            classify_error(403, "Forbidden: bot was blocked by the user", None).code(),
            Some(FailureCode::Blocked)
        );
        assert_eq!(
            classify_error(403, "Forbidden: user is deactivated", None).code(),
            Some(FailureCode::InvalidAddress)
        );
        assert_eq!(
            classify_error(400, "Bad Request: chat not found", None).code(),
            Some(FailureCode::InvalidAddress)
        );
        assert_eq!(
            classify_error(400, "Bad Request: message is too long", None).code(),
            Some(FailureCode::Rejected)
        );
        assert_eq!(
            classify_error(401, "Unauthorized", None).code(),
            Some(FailureCode::Misconfigured)
        );
        assert!(classify_error(503, "Service Unavailable", None).is_retryable());
        assert!(classify_error(502, "Bad Gateway", None).is_ambiguous());
        assert!(classify_error(500, "Internal Server Error", None).is_ambiguous());
    }

    #[test]
    fn a_malformed_token_is_refused_without_being_echoed() {
        for token in [
            "no-colon-secret",
            ":secret",
            "12a:secret",
            "123:",
            "123:se/cret",
        ] {
            let config = TelegramConfig {
                base_url: default_base_url(),
                bot_token: SecretString::from(token),
                timeout_ms: 1_000,
            };
            let error = TelegramSender::new(config)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!error.is_empty(), "{token:?} was accepted");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
