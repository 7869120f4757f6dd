//! Web push: a push's message to the browsers that subscribed to a pass on the enrolment
//! page. Each message is encrypted for its subscription (RFC 8291, `aes128gcm`) and posted
//! to the browser's push service with a VAPID signature (RFC 8292), by `web-push-native`.
//!
//! [`WebPushSender`] is what the delivery engine sends through; [`VapidSender`] speaks to
//! real push services, [`SandboxWebPush`] stands in without a VAPID key (nothing goes out).
//! A push service answering 404 or 410 says the subscription is gone: the engine removes
//! it. 429 backs off (for its `Retry-After`, when it gives one).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::{Auth, WebPushBuilder};

use crate::config::WebPushConfig;

/// A browser's subscription, as its push service gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    /// The browser's P-256 public key, base64url (65 bytes, uncompressed).
    pub p256dh: String,
    /// The browser's authentication secret, base64url (16 bytes).
    pub auth: String,
}

/// What a browser shows: the service worker of the enrolment page reads this JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub title: String,
    pub body: String,
    /// Notifications with one tag replace each other (one per card).
    pub tag: String,
}

/// The push service took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAccepted {
    /// The message's URL at the push service (its `Location`), if given.
    pub location: Option<String>,
    pub sandbox: bool,
}

/// Why a push service did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebPushError {
    /// 404 or 410: the subscription expired or the browser unsubscribed.
    #[error("web push: the browser's subscription is gone (status {0})")]
    Gone(u16),
    /// 429: too many messages; `Retry-After`, when given.
    #[error("web push: the push service asks to slow down")]
    TooMany(Option<Duration>),
    /// No connection, a timeout or the service unavailable.
    #[error("web push: {0}")]
    Transient(String),
    /// Will not work (a malformed subscription, a refused signature, a payload too big).
    #[error("web push refused the message: {0}")]
    Permanent(String),
}

/// Sends one encrypted message to one subscription.
#[async_trait]
pub trait WebPushSender: Send + Sync {
    async fn send(
        &self,
        subscription: &Subscription,
        notification: &Notification,
    ) -> Result<WebAccepted, WebPushError>;

    /// Whether nothing really goes out.
    fn is_sandbox(&self) -> bool {
        false
    }
}

/// Takes every message and sends nothing, for a server without a VAPID key.
#[derive(Debug, Default)]
pub struct SandboxWebPush;

#[async_trait]
impl WebPushSender for SandboxWebPush {
    async fn send(&self, _: &Subscription, _: &Notification) -> Result<WebAccepted, WebPushError> {
        Ok(WebAccepted {
            location: None,
            sandbox: true,
        })
    }

    fn is_sandbox(&self) -> bool {
        true
    }
}

/// The server's VAPID identity: the key it signs with, the public key browsers subscribe
/// with (`applicationServerKey`), and the contact push services may write to.
pub struct Vapid {
    key: ES256KeyPair,
    public_key: String,
    subject: String,
}

impl Vapid {
    /// The identity the configuration gives; `None` without a key.
    pub fn from_config(config: &WebPushConfig) -> anyhow::Result<Option<Vapid>> {
        let Some(private) = &config.vapid_private_key else {
            return Ok(None);
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(private.expose_secret().trim().trim_end_matches('='))
            .map_err(|_| anyhow::anyhow!("web_push.vapid_private_key: not base64url"))?;
        let key = ES256KeyPair::from_bytes(&bytes).map_err(|_| {
            anyhow::anyhow!("web_push.vapid_private_key: not a P-256 private key (32 bytes)")
        })?;
        let subject = config.subject.trim().to_owned();
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            anyhow::bail!(
                "web_push.subject: a mailto: or https: address push services can reach you at"
            );
        }
        Ok(Some(Vapid::new(key, subject)))
    }

    fn new(key: ES256KeyPair, subject: String) -> Vapid {
        let public_key =
            URL_SAFE_NO_PAD.encode(key.public_key().public_key().to_bytes_uncompressed());
        Vapid {
            key,
            public_key,
            subject,
        }
    }

    /// A new key, base64url, for `web_push.vapid_private_key`.
    pub fn generate_private_key() -> String {
        URL_SAFE_NO_PAD.encode(ES256KeyPair::generate().to_bytes())
    }

    /// The public key, base64url: the `applicationServerKey` browsers subscribe with.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }
}

/// Reads a subscription's keys: a P-256 point and a 16-byte secret, base64url. The error
/// names the key that is not what browsers give.
fn decode_keys(
    p256dh: &str,
    auth: &str,
) -> Result<(web_push_native::p256::PublicKey, Auth), &'static str> {
    let point = URL_SAFE_NO_PAD
        .decode(p256dh.trim_end_matches('='))
        .map_err(|_| "p256dh")?;
    let public = web_push_native::p256::PublicKey::from_sec1_bytes(&point).map_err(|_| "p256dh")?;
    let secret = URL_SAFE_NO_PAD
        .decode(auth.trim_end_matches('='))
        .map_err(|_| "auth")?;
    if secret.len() != 16 {
        return Err("auth");
    }
    Ok((public, Auth::clone_from_slice(&secret)))
}

/// Checks a subscription's keys (see [`decode_keys`]).
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(), &'static str> {
    decode_keys(p256dh, auth).map(|_| ())
}

/// Messages live this long at the push service while the browser is offline.
const TTL: Duration = Duration::from_secs(12 * 3_600);

/// Web push through real push services.
pub struct VapidSender {
    vapid: std::sync::Arc<Vapid>,
    http: reqwest::Client,
}

impl VapidSender {
    pub fn new(vapid: std::sync::Arc<Vapid>) -> anyhow::Result<VapidSender> {
        Ok(VapidSender {
            vapid,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }
}

#[async_trait]
impl WebPushSender for VapidSender {
    async fn send(
        &self,
        subscription: &Subscription,
        notification: &Notification,
    ) -> Result<WebAccepted, WebPushError> {
        let malformed = |what: &str| WebPushError::Permanent(format!("the subscription's {what}"));
        let endpoint: http::Uri = subscription
            .endpoint
            .parse()
            .map_err(|_| malformed("endpoint"))?;
        let (public, secret) =
            decode_keys(&subscription.p256dh, &subscription.auth).map_err(malformed)?;
        let body =
            serde_json::to_vec(notification).map_err(|e| WebPushError::Permanent(e.to_string()))?;
        let request = WebPushBuilder::new(endpoint, public, secret)
            .with_valid_duration(TTL)
            .with_vapid(&self.vapid.key, &self.vapid.subject)
            .build(body)
            .map_err(|e| WebPushError::Permanent(e.to_string()))?;
        let (parts, body) = request.into_parts();
        let mut outgoing = self
            .http
            .post(&subscription.endpoint)
            .header("Urgency", "normal")
            .body(body);
        for (name, value) in &parts.headers {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
        let answer = outgoing
            .send()
            .await
            .map_err(|e| WebPushError::Transient(e.without_url().to_string()))?;
        let status = answer.status().as_u16();
        let header = |name: &str| {
            answer
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if answer.status().is_success() {
            return Ok(WebAccepted {
                location: header("location"),
                sandbox: false,
            });
        }
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Err(classify(status, retry_after))
    }
}

/// What a push service's refusal means.
pub fn classify(status: u16, retry_after: Option<Duration>) -> WebPushError {
    match status {
        404 | 410 => WebPushError::Gone(status),
        429 => WebPushError::TooMany(retry_after),
        500..=599 => WebPushError::Transient(format!("the push service answered {status}")),
        // 413: too big; 400: malformed; 401/403: the VAPID signature was refused.
        _ => WebPushError::Permanent(format!("the push service answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refusals_are_read_as_rfc_8030_means_them() {
        assert_eq!(classify(410, None), WebPushError::Gone(410));
        assert_eq!(classify(404, None), WebPushError::Gone(404));
        assert_eq!(
            classify(429, Some(Duration::from_secs(30))),
            WebPushError::TooMany(Some(Duration::from_secs(30)))
        );
        assert!(matches!(classify(503, None), WebPushError::Transient(_)));
        assert!(matches!(classify(413, None), WebPushError::Permanent(_)));
        assert!(matches!(classify(403, None), WebPushError::Permanent(_)));
    }

    #[test]
    fn only_listed_push_services_are_posted_to() {
        let config = WebPushConfig {
            endpoint_hosts: vec![
                "fcm.googleapis.com".to_owned(),
                ".push.apple.com".to_owned(),
                "127.0.0.1".to_owned(),
            ],
            ..WebPushConfig::default()
        };
        for allowed in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://web.push.apple.com/QG9",
            "http://127.0.0.1:8123/push",
            "https://127.0.0.1/push",
        ] {
            assert!(config.allows(allowed), "{allowed}");
        }
        for refused in [
            "http://fcm.googleapis.com/fcm/send/abc",
            "https://push.apple.com.attacker.example/x",
            "https://evilpush.apple.com/x",
            "https://fcm.googleapis.com.evil/x",
            "https://10.0.0.1/x",
            "https://localhost/x",
            "ftp://127.0.0.1/x",
            "not a url",
            "",
        ] {
            assert!(!config.allows(refused), "{refused}");
        }
    }

    #[test]
    fn keys_are_checked_and_a_generated_key_is_usable() {
        let key = Vapid::generate_private_key();
        let vapid = Vapid::from_config(&WebPushConfig {
            vapid_private_key: Some(key.into()),
            subject: "mailto:ops@example.com".to_owned(),
            ..WebPushConfig::default()
        })
        .unwrap()
        .unwrap();
        let public = URL_SAFE_NO_PAD.decode(vapid.public_key()).unwrap();
        assert_eq!(public.len(), 65, "an uncompressed P-256 point");
        assert_eq!(
            check_keys(vapid.public_key(), "_ordMnz7uTCmrpBTeUV4Bw"),
            Ok(())
        );
        assert_eq!(
            check_keys("not-a-key", "_ordMnz7uTCmrpBTeUV4Bw"),
            Err("p256dh")
        );
        assert_eq!(check_keys(vapid.public_key(), "c2hvcnQ"), Err("auth"));
        assert!(
            Vapid::from_config(&WebPushConfig {
                vapid_private_key: Some(Vapid::generate_private_key().into()),
                subject: "ops@example.com".to_owned(),
                ..WebPushConfig::default()
            })
            .is_err(),
            "a subject that is not mailto: or https:"
        );
    }
}
