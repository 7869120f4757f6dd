//! Messenger's webhook: the subscription handshake, `X-Hub-Signature-256`, inbound messages.
//!
//! The server's handler: answer the `GET` handshake with [`subscription_challenge`]; for each
//! `POST`, check [`verify_signature`] over the raw body before parsing it (403 otherwise), then
//! read the customers' messages with [`inbound_messages`].

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::message::Psid;

/// The header Meta signs webhook bodies in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of the raw `body` keyed with the app
/// secret. Compared in constant time.
pub fn verify_signature(app_secret: &SecretString, body: &[u8], header: &str) -> bool {
    let Some(given) = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.expose_secret().as_bytes()) else {
        return false;
    };
    mac.update(body);
    bool::from(mac.finalize().into_bytes().as_slice().ct_eq(&given))
}

/// The `hub.challenge` to echo back when Meta verifies the webhook subscription: only for
/// `hub.mode=subscribe` with our verify token.
pub fn subscription_challenge<'a>(
    mode: &str,
    verify_token: &str,
    challenge: &'a str,
    expected_token: &SecretString,
) -> Option<&'a str> {
    let token_matches: bool = verify_token
        .as_bytes()
        .ct_eq(expected_token.expose_secret().as_bytes())
        .into();
    (mode == "subscribe" && token_matches).then_some(challenge)
}

/// A text message a customer sent to a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub page_id: String,
    pub psid: Psid,
    /// Messenger's id of the message (`mid`), to ignore redeliveries.
    pub mid: String,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    messaging: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    sender: Party,
    #[serde(default)]
    timestamp: i64,
    message: Option<EventMessage>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct EventMessage {
    mid: String,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
}

/// Why a webhook body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("not a Messenger webhook body: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a page notification (object {0:?})")]
    NotPage(String),
}

/// The customers' text messages in a webhook body. Echoes of our own messages, deliveries,
/// reads, postbacks and attachments without text are left out.
pub fn inbound_messages(body: &[u8]) -> Result<Vec<InboundMessage>, WebhookError> {
    let notification: Notification = serde_json::from_slice(body)?;
    if notification.object != "page" {
        return Err(WebhookError::NotPage(notification.object));
    }
    let mut messages = Vec::new();
    for entry in notification.entry {
        for event in entry.messaging {
            let Some(message) = event.message.filter(|m| !m.is_echo) else {
                continue;
            };
            let (Some(text), Ok(psid)) = (message.text, Psid::parse(&event.sender.id)) else {
                continue;
            };
            messages.push(InboundMessage {
                page_id: entry.id.clone(),
                psid,
                mid: message.mid,
                text,
                timestamp_ms: event.timestamp,
            });
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const BODY: &[u8] = br#"{"object":"page","entry":[{"id":"1029384756","time":1700000000000,"messaging":[
        {"sender":{"id":"1254459154682919"},"recipient":{"id":"1029384756"},"timestamp":1700000000123,
         "message":{"mid":"m_abc","text":"Is the shop open on Sunday?"}},
        {"sender":{"id":"1029384756"},"recipient":{"id":"1254459154682919"},"timestamp":1700000000200,
         "message":{"mid":"m_echo","text":"our own reply","is_echo":true}},
        {"sender":{"id":"1254459154682919"},"recipient":{"id":"1029384756"},"timestamp":1700000000300,
         "delivery":{"mids":["m_1"],"watermark":1700000000000}},
        {"sender":{"id":"1254459154682919"},"recipient":{"id":"1029384756"},"timestamp":1700000000400,
         "message":{"mid":"m_img","attachments":[{"type":"image","payload":{"url":"https://x"}}]}}
    ]}]}"#;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_raw_body() {
        // Computed independently: printf %s '{"object":"page"}' | openssl dgst -sha256 -hmac app-secret
        let secret = SecretString::from("app-secret");
        let header = "sha256=ae958d6f00b134dd32b95a9a76bedaaeb068c0949769358355023f7d1a0c580b";
        assert!(verify_signature(&secret, br#"{"object":"page"}"#, header));
        assert!(
            !verify_signature(&secret, br#"{"object":"page" }"#, header),
            "one byte more"
        );
        assert!(!verify_signature(
            &SecretString::from("other"),
            br#"{"object":"page"}"#,
            header
        ));
    }

    #[test]
    fn a_wrong_or_malformed_signature_fails() {
        let secret = SecretString::from("app-secret");
        assert!(!verify_signature(&secret, b"{}", "sha256=00"));
        assert!(!verify_signature(&secret, b"{}", "sha1=abcd"));
        assert!(!verify_signature(&secret, b"{}", "sha256=zz"));
        assert!(!verify_signature(&secret, b"{}", ""));
    }

    #[test]
    fn the_handshake_echoes_the_challenge_only_for_our_token() {
        let token = SecretString::from("verify-me");
        assert_eq!(
            subscription_challenge("subscribe", "verify-me", "1158201444", &token),
            Some("1158201444")
        );
        assert_eq!(
            subscription_challenge("subscribe", "other", "1158201444", &token),
            None
        );
        assert_eq!(
            subscription_challenge("unsubscribe", "verify-me", "1158201444", &token),
            None
        );
    }

    #[test]
    fn only_the_customers_text_messages_are_read() {
        let messages = inbound_messages(BODY).unwrap();
        assert_eq!(
            messages,
            vec![InboundMessage {
                page_id: "1029384756".into(),
                psid: Psid::parse("1254459154682919").unwrap(),
                mid: "m_abc".into(),
                text: "Is the shop open on Sunday?".into(),
                timestamp_ms: 1700000000123,
            }]
        );
    }

    #[test]
    fn garbage_bodies_are_errors_not_panics() {
        let deep_arrays = "[".repeat(100_000);
        let deep_entries = format!(
            "{{\"object\":\"page\",\"entry\":{}",
            "[{\"id\":\"1\",\"messaging\":".repeat(20_000)
        );
        let bodies: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"null".to_vec(),
            b"\xff\xfe{}".to_vec(),
            deep_arrays.into_bytes(),
            deep_entries.into_bytes(),
            br#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"1"},"timestamp":1e999999}]}]}"#.to_vec(),
            br#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"1"},"timestamp":99999999999999999999999}]}]}"#.to_vec(),
            br#"{"object":"page","entry":[{"id":1}]}"#.to_vec(),
            (0u8..=255).cycle().take(10_000).collect(),
        ];
        for body in bodies {
            assert!(inbound_messages(&body).is_err());
        }
    }

    #[test]
    fn signature_headers_of_any_shape_fail_without_panicking() {
        let secret = SecretString::from("app-secret");
        let long = format!("sha256={}", "ab".repeat(1 << 19));
        for header in [
            "sha256=",
            "sha256=0",
            "sha256=ae958d6f00b134dd32b95a9a76bedaaeb068c0949769358355023f7d1a0c580",
            "sha256=ae958d6f00b134dd32b95a9a76bedaaeb068c0949769358355023f7d1a0c580b00",
            "SHA256=ae958d6f00b134dd32b95a9a76bedaaeb068c0949769358355023f7d1a0c580b",
            "sha256=é",
            long.as_str(),
        ] {
            assert!(
                !verify_signature(&secret, br#"{"object":"page"}"#, header),
                "{header:.40}"
            );
        }
    }

    #[test]
    fn other_objects_are_refused() {
        assert!(matches!(
            inbound_messages(br#"{"object":"instagram","entry":[]}"#),
            Err(WebhookError::NotPage(_))
        ));
        assert!(inbound_messages(b"not json").is_err());
    }
}
