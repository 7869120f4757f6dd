//! What a worker hands to a sender: one rendered message for one recipient on one channel.
//!
//! Addresses are parsed into newtypes at the edge so that an adapter never sees a malformed
//! one; a bad address in the database becomes a field error when the delivery is built,
//! not a provider round trip.

use std::fmt;
use std::str::FromStr;

use loyalcast_dto::Channel;
use url::Url;
use uuid::Uuid;

/// Why an address or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("not an E.164 phone number (+ and 8 to 15 digits, no leading zero): {0:?}")]
    Phone(String),
    #[error("not an email address: {0:?}")]
    Email(String),
    #[error("not a Messenger page-scoped id (digits only): {0:?}")]
    Psid(String),
    #[error("not a delivery id (1 to 64 of A-Z a-z 0-9 - _): {0:?}")]
    DeliveryId(String),
    #[error("not an http(s) URL: {0:?}")]
    Url(String),
}

/// A phone number in E.164 form, e.g. `+447700900123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts `+` followed by 8 to 15 digits, the first not zero. Formatting with spaces or
    /// national prefixes is the business of the contact import, not of delivery.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let valid = raw.strip_prefix('+').is_some_and(|digits| {
            (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        });
        if valid {
            Ok(PhoneNumber(raw.to_owned()))
        } else {
            Err(AddressError::Phone(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, checked by lettre's RFC 5321 parser.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(lettre::Address);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        lettre::Address::from_str(raw.trim())
            .map(EmailAddress)
            .map_err(|_| AddressError::Email(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    pub(crate) fn as_lettre(&self) -> &lettre::Address {
        &self.0
    }
}

/// A Telegram chat id: the customer's private chat with the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelegramChatId(pub i64);

/// A Messenger page-scoped id: who the customer is to one Facebook page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Psid(String);

impl Psid {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        if !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Psid(raw.to_owned()))
        } else {
            Err(AddressError::Psid(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The delivery's id in the queue: the idempotency key of a send.
///
/// It is put into provider requests (Twilio's status callback URL, the email Message-ID)
/// so that whatever comes back can be matched to the delivery, hence the URL-safe alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId(String);

impl DeliveryId {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let valid = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(DeliveryId(raw.to_owned()))
        } else {
            Err(AddressError::DeliveryId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Uuid> for DeliveryId {
    fn from(id: Uuid) -> Self {
        DeliveryId(id.as_simple().to_string())
    }
}

impl From<i64> for DeliveryId {
    fn from(id: i64) -> Self {
        DeliveryId(id.to_string())
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses an absolute `http` or `https` URL (unsubscribe links, tracking pixels).
pub fn parse_web_url(raw: &str) -> Result<Url, AddressError> {
    Url::parse(raw)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .ok_or_else(|| AddressError::Url(raw.to_owned()))
}

/// A rendered SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessage {
    pub to: PhoneNumber,
    pub body: String,
}

/// A rendered email: both parts, and what makes it a well-behaved bulk email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: EmailAddress,
    /// The customer's name for the `To:` header, if known.
    pub to_name: Option<String>,
    /// The merchant's name, shown as the sender (`"Bean & Leaf" <mailings@...>`); the
    /// address itself is the platform's, from the SMTP configuration.
    pub from_name: String,
    /// Where replies go (the merchant's inbox address), if not to the sender.
    pub reply_to: Option<EmailAddress>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// One-click unsubscribe (RFC 8058): sent as `List-Unsubscribe` and
    /// `List-Unsubscribe-Post`. Mailbox providers require https in production.
    pub unsubscribe_url: Url,
    /// The open-tracking pixel appended to the HTML part, if opens are tracked.
    pub open_tracking_url: Option<Url>,
}

/// A rendered Telegram message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramMessage {
    pub chat_id: TelegramChatId,
    pub text: String,
}

/// A rendered Facebook Messenger message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessengerMessage {
    pub psid: Psid,
    pub text: String,
}

/// The channel-specific part of a message: the recipient's address and the content, which
/// can only be paired correctly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageContent {
    Sms(SmsMessage),
    Email(Box<EmailMessage>),
    Telegram(TelegramMessage),
    Messenger(MessengerMessage),
}

/// One message to send: the unit a [`crate::ChannelSender`] works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    pub delivery_id: DeliveryId,
    pub content: MessageContent,
}

impl OutboundMessage {
    pub fn new(delivery_id: DeliveryId, content: MessageContent) -> Self {
        OutboundMessage {
            delivery_id,
            content,
        }
    }

    pub fn channel(&self) -> Channel {
        match self.content {
            MessageContent::Sms(_) => Channel::Sms,
            MessageContent::Email(_) => Channel::Email,
            MessageContent::Telegram(_) => Channel::Telegram,
            MessageContent::Messenger(_) => Channel::Messenger,
        }
    }

    /// The recipient's address as text: the key of per-recipient rate limits.
    pub fn recipient_key(&self) -> String {
        match &self.content {
            MessageContent::Sms(m) => m.to.as_str().to_owned(),
            MessageContent::Email(m) => m.to.as_str().to_owned(),
            MessageContent::Telegram(m) => m.chat_id.0.to_string(),
            MessageContent::Messenger(m) => m.psid.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!(PhoneNumber::parse("+447700900123").is_ok());
        assert!(PhoneNumber::parse("+12025550123").is_ok());
        for bad in [
            "447700900123",
            "+44 7700 900123",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+",
            "",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn email_addresses_are_parsed() {
        let email = EmailAddress::parse("ann@example.com").unwrap();
        assert_eq!(email.as_str(), "ann@example.com");
        assert_eq!(email.domain(), "example.com");
        for bad in ["ann", "ann@", "@example.com", "a b@example.com", ""] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn psids_are_digits() {
        assert!(Psid::parse("1254459154682919").is_ok());
        assert!(Psid::parse("12a").is_err());
        assert!(Psid::parse("").is_err());
    }

    #[test]
    fn delivery_ids_are_url_safe() {
        assert_eq!(DeliveryId::from(42_i64).as_str(), "42");
        let uuid = Uuid::nil();
        assert_eq!(
            DeliveryId::from(uuid).as_str(),
            "00000000000000000000000000000000"
        );
        assert!(DeliveryId::parse("d-1_a").is_ok());
        for bad in ["", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(DeliveryId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn web_urls_must_be_absolute_http_or_https() {
        assert!(parse_web_url("https://l.example/u/1").is_ok());
        assert!(parse_web_url("http://127.0.0.1:8080/u/1").is_ok());
        for bad in [
            "mailto:x@example.com",
            "/u/1",
            "javascript:alert(1)",
            "ftp://x.example/",
        ] {
            assert!(parse_web_url(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_message_knows_its_channel_and_recipient() {
        let message = OutboundMessage::new(
            DeliveryId::from(7_i64),
            MessageContent::Telegram(TelegramMessage {
                chat_id: TelegramChatId(99),
                text: "hi".into(),
            }),
        );
        assert_eq!(message.channel(), Channel::Telegram);
        assert_eq!(message.recipient_key(), "99");
    }
}
