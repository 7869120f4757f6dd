//! Google Wallet: messages on loyalty objects (`addMessage`), and the signed "Save to Google
//! Wallet" link.
//!
//! A push reaches a Google pass as a message on its loyalty object (`{issuer}.{serial}`):
//! `TEXT_AND_NOTIFY` shows a notification, `TEXT` only adds it to the pass. Google allows three
//! notifying messages per pass in 24 hours; Loyalcast counts them itself (the worker decides
//! per delivery) and also falls back to `TEXT` when Google answers with its quota error.
//!
//! Calls are authenticated with an OAuth access token for the issuer's service account
//! (a JWT signed RS256 with its key, scope `wallet_object.issuer`, an hour at most), cached
//! until shortly before it expires. Requests keep to `requests_per_second` (Google's API
//! rate is about 20 a second). The base and token URLs are configurable, and the tests speak
//! to a local fake of both.

use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::GoogleWalletConfig;

/// Notifying messages Google allows per pass in 24 hours.
pub const NOTIFICATIONS_PER_DAY: i64 = 3;

const SCOPE: &str = "https://www.googleapis.com/auth/wallet_object.issuer";

/// A message for the back of a Google pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletMessage {
    /// Unique per message: a replayed request adds it once.
    pub id: String,
    pub header: String,
    pub body: String,
    /// `TEXT_AND_NOTIFY` (true) or `TEXT`.
    pub notify: bool,
}

/// Why a message was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoogleError {
    /// Google refused a notifying message: the pass had its three for the day.
    #[error("Google Wallet: the pass has had its notifications for today")]
    NotificationQuota,
    /// The object does not exist (the holder never saved the pass to Google Wallet).
    #[error("Google Wallet: the pass is not in the holder's Google Wallet ({0})")]
    NotFound(String),
    /// Too many requests, a timeout or Google unavailable: try again later.
    #[error("Google Wallet: {0}")]
    Transient(String),
    /// Will not work as configured (credentials, issuer, request).
    #[error("Google Wallet refused the message: {0}")]
    Permanent(String),
}

/// A card's loyalty class, as Google Wallet's `loyaltyClass` resource has it (the fields
/// Loyalcast sets).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyClass {
    pub id: String,
    pub issuer_name: String,
    pub program_name: String,
    pub program_logo: Image,
    pub hex_background_color: String,
    /// `UNDER_REVIEW`: Google reviews a new class before it goes public.
    pub review_status: &'static str,
}

/// An image Google fetches from a public URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub source_uri: ImageUri,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageUri {
    pub uri: String,
}

/// A holder's pass, as Google Wallet's `loyaltyObject` resource has it (the fields
/// Loyalcast sets).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoyaltyObject {
    pub id: String,
    pub class_id: String,
    pub state: &'static str,
    pub account_id: String,
    pub account_name: String,
    pub barcode: Barcode,
    pub loyalty_points: Points,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Barcode {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Points {
    pub label: String,
    pub balance: PointsBalance,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointsBalance {
    pub int: i64,
}

/// Where a save link sends the holder.
pub const SAVE_URL: &str = "https://pay.google.com/gp/v/save/";

#[derive(Debug, Serialize)]
struct SaveClaims<'a> {
    iss: &'a str,
    aud: &'static str,
    typ: &'static str,
    iat: i64,
    origins: &'a [String],
    payload: SavePayload<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SavePayload<'a> {
    loyalty_objects: [&'a LoyaltyObject; 1],
}

/// Adds messages to Google Wallet loyalty objects.
#[async_trait]
pub trait GoogleWallet: Send + Sync {
    async fn add_message(
        &self,
        object_id: &str,
        message: &WalletMessage,
    ) -> Result<(), GoogleError>;

    /// The object id of a pass: the issuer id and the pass's serial number.
    fn object_id(&self, serial: &str) -> String;

    /// Creates the loyalty class of a card at Google; one that exists already is left as
    /// it is.
    async fn create_class(&self, class: &LoyaltyClass) -> Result<(), GoogleError> {
        let _ = class;
        Err(GoogleError::Permanent(
            "Google Wallet is not connected on this server".to_owned(),
        ))
    }

    /// The "Save to Google Wallet" link of `object`: a JWT signed with the service account's
    /// key (`typ` `savetowallet`, `aud` `google`), which carries the object itself, so Google
    /// creates it when the holder saves it. `origins` are the pages that show the link.
    fn save_link(&self, object: &LoyaltyObject, origins: &[String]) -> Result<String, GoogleError> {
        let _ = (object, origins);
        Err(GoogleError::Permanent(
            "Google Wallet is not connected on this server".to_owned(),
        ))
    }

    /// The class id of a card.
    fn class_id(&self, card_id: uuid::Uuid) -> String {
        format!("sandbox.card-{}", card_id.simple())
    }

    /// Whether nothing really goes out.
    fn is_sandbox(&self) -> bool {
        false
    }
}

/// Takes every message and sends nothing, for a server without Google credentials.
#[derive(Debug, Default)]
pub struct SandboxGoogleWallet;

#[async_trait]
impl GoogleWallet for SandboxGoogleWallet {
    async fn add_message(&self, _: &str, _: &WalletMessage) -> Result<(), GoogleError> {
        Ok(())
    }

    fn object_id(&self, serial: &str) -> String {
        format!("sandbox.{serial}")
    }

    fn is_sandbox(&self) -> bool {
        true
    }
}

/// The service account's key file, as Google gives it (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: SecretString,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_owned()
}

#[derive(Debug, Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// Google Wallet's REST API.
pub struct GoogleWalletClient {
    issuer_id: String,
    base_url: String,
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<(String, DateTime<Utc>)>>,
    limiter: governor::DefaultDirectRateLimiter,
    clock: crate::clock::SharedClock,
}

impl GoogleWalletClient {
    /// The client the configuration asks for; `None` without an issuer and service account.
    pub fn from_config(
        config: &GoogleWalletConfig,
        clock: crate::clock::SharedClock,
    ) -> anyhow::Result<Option<GoogleWalletClient>> {
        let (Some(issuer_id), Some(account)) = (&config.issuer_id, &config.service_account_json)
        else {
            return Ok(None);
        };
        let account: ServiceAccount = serde_json::from_str(account.expose_secret())
            .map_err(|e| anyhow::anyhow!("google_wallet.service_account_json: {e}"))?;
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.expose_secret().as_bytes())
                .map_err(|e| {
                    anyhow::anyhow!("google_wallet: the service account's private_key: {e}")
                })?;
        let rate = NonZeroU32::new(config.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        Ok(Some(GoogleWalletClient {
            issuer_id: issuer_id.clone(),
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            account,
            key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()?,
            token: tokio::sync::Mutex::new(None),
            limiter: governor::RateLimiter::direct(governor::Quota::per_second(rate)),
            clock,
        }))
    }

    /// A valid access token: the cached one, or a new one for an hour.
    async fn access_token(&self) -> Result<String, GoogleError> {
        let now = self.clock.now();
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && *until > now + chrono::Duration::minutes(5)
        {
            return Ok(token.clone());
        }
        let claims = Assertion {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat: now.timestamp(),
            exp: now.timestamp() + 3_600,
        };
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &self.key,
        )
        .map_err(|e| GoogleError::Permanent(format!("signing the token request: {e}")))?;
        let answer = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| GoogleError::Transient(format!("token: {e}")))?;
        let status = answer.status();
        if !status.is_success() {
            let reason = format!("the token endpoint answered {status}");
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                GoogleError::Transient(reason)
            } else {
                GoogleError::Permanent(reason)
            });
        }
        let answer: TokenAnswer = answer
            .json()
            .await
            .map_err(|e| GoogleError::Transient(format!("token answer: {e}")))?;
        let lifetime = answer.expires_in.unwrap_or(3_600).clamp(60, 3_600);
        *cached = Some((
            answer.access_token.clone(),
            now + chrono::Duration::seconds(lifetime),
        ));
        Ok(answer.access_token)
    }
}

#[async_trait]
impl GoogleWallet for GoogleWalletClient {
    async fn add_message(
        &self,
        object_id: &str,
        message: &WalletMessage,
    ) -> Result<(), GoogleError> {
        self.limiter.until_ready().await;
        let token = self.access_token().await?;
        let url = format!(
            "{}/walletobjects/v1/loyaltyObject/{}/addMessage",
            self.base_url,
            urlencode(object_id)
        );
        let body = serde_json::json!({
            "message": {
                "id": message.id,
                "header": message.header,
                "body": message.body,
                "messageType": if message.notify { "TEXT_AND_NOTIFY" } else { "TEXT" },
            }
        });
        let answer = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| GoogleError::Transient(e.to_string()))?;
        let status = answer.status().as_u16();
        if answer.status().is_success() {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        Err(classify(status, &text, message.notify))
    }

    fn object_id(&self, serial: &str) -> String {
        format!("{}.{serial}", self.issuer_id)
    }

    fn class_id(&self, card_id: uuid::Uuid) -> String {
        format!("{}.card-{}", self.issuer_id, card_id.simple())
    }

    async fn create_class(&self, class: &LoyaltyClass) -> Result<(), GoogleError> {
        self.limiter.until_ready().await;
        let token = self.access_token().await?;
        let answer = self
            .http
            .post(format!("{}/walletobjects/v1/loyaltyClass", self.base_url))
            .bearer_auth(token)
            .json(class)
            .send()
            .await
            .map_err(|e| GoogleError::Transient(e.to_string()))?;
        let status = answer.status().as_u16();
        // 409: the class exists (made by another process, or before).
        if answer.status().is_success() || status == 409 {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        Err(classify(status, &text, false))
    }

    fn save_link(&self, object: &LoyaltyObject, origins: &[String]) -> Result<String, GoogleError> {
        let claims = SaveClaims {
            iss: &self.account.client_email,
            aud: "google",
            typ: "savetowallet",
            iat: self.clock.now().timestamp(),
            origins,
            payload: SavePayload {
                loyalty_objects: [object],
            },
        };
        let jwt = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &self.key,
        )
        .map_err(|e| GoogleError::Permanent(format!("signing the save link: {e}")))?;
        Ok(format!("{SAVE_URL}{jwt}"))
    }
}

/// What a refusal of `addMessage` means.
pub fn classify(status: u16, body: &str, notify: bool) -> GoogleError {
    let reason: String = body.chars().take(300).collect();
    let quota = body.contains("QUOTA") || body.to_ascii_lowercase().contains("notification");
    match status {
        429 | 400 | 403 if notify && quota => GoogleError::NotificationQuota,
        404 => GoogleError::NotFound(format!("status 404: {reason}")),
        401 | 429 | 500..=599 => GoogleError::Transient(format!("status {status}: {reason}")),
        _ => GoogleError::Permanent(format!("status {status}: {reason}")),
    }
}

fn urlencode(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c.to_string()
            } else {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_read_as_google_documents_them() {
        assert_eq!(
            classify(
                429,
                "{\"error\":{\"status\":\"RESOURCE_EXHAUSTED\",\"message\":\"QUOTA_EXCEEDED for notifications\"}}",
                true
            ),
            GoogleError::NotificationQuota
        );
        assert!(matches!(
            classify(429, "rate limit", false),
            GoogleError::Transient(_)
        ));
        assert!(matches!(
            classify(404, "no object", true),
            GoogleError::NotFound(_)
        ));
        assert!(matches!(classify(503, "", true), GoogleError::Transient(_)));
        assert!(matches!(
            classify(400, "invalid", false),
            GoogleError::Permanent(_)
        ));
    }

    #[test]
    fn object_ids_are_escaped_in_the_path() {
        assert_eq!(
            urlencode("3388000000012345.abc-1_2"),
            "3388000000012345.abc-1_2"
        );
        assert_eq!(urlencode("a b/c"), "a%20b%2Fc");
    }
}
