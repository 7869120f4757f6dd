//! Telegram's webhook: the secret-token header and inbound messages.
//!
//! When the webhook is registered with `setWebhook(secret_token=...)`, Telegram sends that
//! token in `X-Telegram-Bot-Api-Secret-Token` on every update; the handler checks it with
//! [`verify_secret_token`] (403 otherwise) and reads the update with [`InboundMessage::from_update`].

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::message::TelegramChatId;

/// The header Telegram puts the webhook's secret token in.
pub const SECRET_TOKEN_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// Whether the header's value is our secret token, compared in constant time. Both sides are
/// hashed first: comparing the raw bytes would answer at once for a header of another
/// length, and so tell the token's length.
pub fn verify_secret_token(expected: &SecretString, header: &str) -> bool {
    let expected = expected.expose_secret().as_bytes();
    let matches = Sha256::digest(header.as_bytes()).ct_eq(&Sha256::digest(expected));
    !expected.is_empty() && bool::from(matches)
}

/// A text message a customer sent to the bot in a private chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Telegram's update id: strictly increasing, to ignore redeliveries.
    pub update_id: i64,
    pub chat_id: TelegramChatId,
    pub message_id: i64,
    pub text: String,
    /// Unix time in seconds.
    pub date: i64,
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    date: i64,
    chat: Chat,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

impl InboundMessage {
    /// The customer's text message in an update; `Ok(None)` for every other kind of update
    /// (edits, group chats, stickers, callbacks...).
    pub fn from_update(body: &[u8]) -> Result<Option<InboundMessage>, serde_json::Error> {
        let update: Update = serde_json::from_slice(body)?;
        Ok(update.message.and_then(|message| {
            let text = message.text.filter(|_| message.chat.kind == "private")?;
            Some(InboundMessage {
                update_id: update.update_id,
                chat_id: TelegramChatId(message.chat.id),
                message_id: message.message_id,
                text,
                date: message.date,
            })
        }))
    }

    /// The payload of a `/start <payload>` deep link (`t.me/<bot>?start=<payload>`), which is
    /// how a customer's chat is linked to their card.
    pub fn start_payload(&self) -> Option<&str> {
        let rest = self.text.strip_prefix("/start")?;
        // "/start@OurBot payload" in some clients.
        let rest = match rest.strip_prefix('@') {
            Some(mention) => mention.split_once(' ').map_or("", |(_, payload)| payload),
            None => rest.strip_prefix(' ')?,
        };
        let payload = rest.trim();
        (!payload.is_empty()).then_some(payload)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn update(chat_type: &str, text: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "update_id": 10000,
            "message": {
                "message_id": 1365,
                "from": {"id": 1111111, "is_bot": false, "first_name": "Ann"},
                "chat": {"id": 1111111, "type": chat_type, "first_name": "Ann"},
                "date": 1441645532,
                "text": text
            }
        }))
        .unwrap()
    }

    #[test]
    fn the_secret_token_must_match_exactly() {
        let secret = SecretString::from("s3cr3t-token");
        assert!(verify_secret_token(&secret, "s3cr3t-token"));
        assert!(!verify_secret_token(&secret, "s3cr3t-toke"));
        assert!(!verify_secret_token(&secret, ""));
        assert!(
            !verify_secret_token(&SecretString::from(""), ""),
            "an unset token never matches"
        );
    }

    #[test]
    fn a_private_text_message_is_read() {
        let message = InboundMessage::from_update(&update("private", "Hello"))
            .unwrap()
            .unwrap();
        assert_eq!(
            message,
            InboundMessage {
                update_id: 10000,
                chat_id: TelegramChatId(1111111),
                message_id: 1365,
                text: "Hello".into(),
                date: 1441645532,
            }
        );
        assert_eq!(message.start_payload(), None);
    }

    #[test]
    fn group_messages_and_other_updates_are_skipped() {
        assert_eq!(
            InboundMessage::from_update(&update("group", "Hello")).unwrap(),
            None
        );
        let callback = br#"{"update_id": 1, "callback_query": {"id": "1", "data": "x"}}"#;
        assert_eq!(InboundMessage::from_update(callback).unwrap(), None);
        assert!(InboundMessage::from_update(b"[]").is_err());
    }

    #[test]
    fn garbage_updates_are_errors_not_panics() {
        let deep_arrays = "[".repeat(100_000);
        let deep_objects = "{\"message\":".repeat(100_000);
        let bodies: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"null".to_vec(),
            b"{}".to_vec(),
            b"\xff\xfe{}".to_vec(),
            deep_arrays.into_bytes(),
            deep_objects.into_bytes(),
            br#"{"update_id": 1e999999}"#.to_vec(),
            br#"{"update_id": 99999999999999999999999}"#.to_vec(),
            br#"{"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 1e3, "type": "private"}, "text": "hi"}}"#.to_vec(),
            (0u8..=255).cycle().take(10_000).collect(),
        ];
        for body in bodies {
            assert!(InboundMessage::from_update(&body).is_err());
        }
        // A text of a megabyte is still a message; its size is the handler's to limit.
        let big = update("private", &"x".repeat(1 << 20));
        assert!(InboundMessage::from_update(&big).unwrap().is_some());
    }

    #[test]
    fn a_secret_token_header_of_any_length_or_content_fails() {
        let secret = SecretString::from("s3cr3t-token");
        for header in [
            "s3cr3t-token ",
            "S3CR3T-TOKEN",
            "s3cr3t-token\0",
            "\u{feff}s3cr3t-token",
        ] {
            assert!(!verify_secret_token(&secret, header), "{header:?}");
        }
        assert!(!verify_secret_token(&secret, &"s".repeat(1 << 20)));
    }

    #[test]
    fn start_links_carry_their_payload() {
        let payload = |text: &str| {
            InboundMessage::from_update(&update("private", text))
                .unwrap()
                .unwrap()
                .start_payload()
                .map(str::to_owned)
        };
        assert_eq!(payload("/start card-7f3a"), Some("card-7f3a".to_owned()));
        assert_eq!(
            payload("/start@LoyalcastBot card-7f3a"),
            Some("card-7f3a".to_owned())
        );
        assert_eq!(payload("/start"), None);
        assert_eq!(payload("/startle me"), None);
    }
}
