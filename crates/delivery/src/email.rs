//! Email over SMTP with lettre (tokio, rustls).
//!
//! Each email is `multipart/alternative` (text, then HTML), from the platform's address under
//! the merchant's name, with RFC 8058 one-click unsubscribe headers (`List-Unsubscribe` and
//! `List-Unsubscribe-Post`) that Gmail and Yahoo require of bulk senders, and, when opens are
//! tracked, a 1×1 pixel at the end of the HTML body. The `Message-ID` is derived from the
//! delivery id, so bounces and replies (`In-Reply-To`) can be matched to the delivery.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use loyalcast_dto::Channel;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::{BuildError, FailureCode, SendError};
use crate::message::{DeliveryId, EmailAddress, EmailMessage, MessageContent, OutboundMessage};
use crate::sender::{ChannelSender, Provider, ProviderReceipt};
use crate::template::escape_html;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text. Only for a server on the same host (a local relay or a test server).
    None,
    /// STARTTLS, required (the usual port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// Login to the SMTP server. `Debug` shows no secret.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: SecretString,
}

/// The configuration of the SMTP relay.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    #[serde(default)]
    pub credentials: Option<SmtpCredentials>,
    /// The address every email comes from (`mailings@loyalcast.example`); the merchant's
    /// name is shown with it.
    pub from_address: String,
    /// The timeout of each SMTP command, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    30_000
}

/// Sends email through one SMTP relay, reusing connections.
#[derive(Debug)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from_address: EmailAddress,
    account: String,
}

impl SmtpSender {
    /// Prepares the transport; connections are opened on the first send and pooled.
    /// Must be called (and the sender dropped) inside a Tokio runtime: the pool runs a task.
    pub fn new(config: SmtpConfig) -> Result<Self, BuildError> {
        let from_address = EmailAddress::parse(&config.from_address)
            .map_err(|e| BuildError(format!("SMTP from_address: {e}")))?;
        let tls_parameters = || {
            TlsParameters::new(config.host.clone())
                .map_err(|e| BuildError(format!("SMTP TLS: {e}")))
        };
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters()?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
                .port(config.port)
                .tls(tls)
                .timeout(Some(Duration::from_millis(config.timeout_ms)));
        if let Some(credentials) = config.credentials {
            builder = builder.credentials(Credentials::new(
                credentials.username,
                credentials.password.expose_secret().to_owned(),
            ));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            from_address,
            account: format!("{}:{}", config.host, config.port),
        })
    }

    /// Builds the MIME message for one delivery (public so that a preview can show the exact
    /// source).
    pub fn build_message(
        &self,
        delivery_id: &DeliveryId,
        email: &EmailMessage,
    ) -> Result<Message, SendError> {
        let invalid = |what: &str, e: &dyn std::fmt::Display| {
            SendError::permanent(
                FailureCode::Rejected,
                None::<&str>,
                format!("email {what}: {e}"),
            )
        };
        let from = Mailbox::new(
            Some(single_line(&email.from_name)),
            self.from_address.as_lettre().clone(),
        );
        let to = Mailbox::new(
            email.to_name.as_deref().map(single_line),
            email.to.as_lettre().clone(),
        );
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(single_line(&email.subject))
            .message_id(Some(format!(
                "<{delivery_id}@{}>",
                self.from_address.domain()
            )))
            .header(ListUnsubscribe(email.unsubscribe_url.to_string()))
            .header(ListUnsubscribePost);
        if let Some(reply_to) = &email.reply_to {
            builder = builder.reply_to(Mailbox::new(None, reply_to.as_lettre().clone()));
        }
        let html = match &email.open_tracking_url {
            Some(pixel) => with_tracking_pixel(&email.html, pixel.as_str()),
            None => email.html.clone(),
        };
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(email.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    ),
            )
            .map_err(|e| invalid("could not be built", &e))
    }
}

#[async_trait]
impl ChannelSender for SmtpSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn provider(&self) -> Provider {
        Provider::Smtp
    }

    fn account(&self) -> &str {
        &self.account
    }

    async fn send(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let result = self.attempt(message).await;
        match &result {
            Ok(receipt) => {
                tracing::debug!(delivery_id = %message.delivery_id, message_id = %receipt.provider_message_id, "smtp relay accepted the email")
            }
            Err(error) => {
                tracing::warn!(delivery_id = %message.delivery_id, %error, "smtp relay refused the email")
            }
        }
        result
    }
}

impl SmtpSender {
    async fn attempt(&self, message: &OutboundMessage) -> Result<ProviderReceipt, SendError> {
        let MessageContent::Email(email) = &message.content else {
            return Err(SendError::wrong_channel("SMTP", message.channel()));
        };
        let mime = self.build_message(&message.delivery_id, email)?;
        let message_id = mime
            .headers()
            .get_raw("Message-ID")
            .map(|id| {
                id.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
            .unwrap_or_else(|| message.delivery_id.to_string());
        self.transport
            .send(mime)
            .await
            .map(|_| ProviderReceipt {
                provider: Provider::Smtp,
                provider_message_id: message_id,
            })
            .map_err(|error| classify_smtp_error(&error))
    }
}

/// Maps an SMTP failure: 4xx and connection trouble are retryable, 5xx permanent.
fn classify_smtp_error(error: &lettre::transport::smtp::Error) -> SendError {
    let reason = format!("SMTP: {error}");
    let code = error.status().map(|code| code.to_string());
    if error.is_permanent() {
        let failure = match code.as_deref() {
            // Authentication required / failed: ours to fix, not the recipient's.
            Some("530" | "534" | "535" | "538") => FailureCode::Misconfigured,
            // Mailbox unavailable, user not local, mailbox name not allowed.
            Some("550" | "551" | "553") => FailureCode::InvalidAddress,
            // Transaction failed: usually a content or reputation block.
            Some("552" | "554") => FailureCode::Rejected,
            _ => FailureCode::Provider,
        };
        SendError::permanent(failure, code, reason)
    } else if error.is_client() {
        // lettre refused the message before the server saw it.
        SendError::permanent(FailureCode::Rejected, code, reason)
    } else {
        // 4xx, timeouts, connection and TLS failures.
        SendError::retryable(None, reason)
    }
}

/// Header text from merchant or customer input on one line: line breaks would let it forge
/// headers, and lettre panics on a display name that contains them.
fn single_line(text: &str) -> String {
    let flattened: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    flattened.trim().to_owned()
}

/// Puts a 1×1 tracking image just before `</body>`, or at the end when there is none.
fn with_tracking_pixel(html: &str, pixel_url: &str) -> String {
    let img = format!(
        r#"<img src="{}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">"#,
        escape_html(pixel_url)
    );
    match html.to_ascii_lowercase().rfind("</body>") {
        // ASCII lowercasing keeps byte offsets, so the index is valid in `html`.
        Some(at) => format!("{}{img}{}", &html[..at], &html[at..]),
        None => format!("{html}{img}"),
    }
}

/// `List-Unsubscribe: <https://...>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let url = s
            .trim()
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .ok_or("expected <url>")?;
        Ok(ListUnsubscribe(url.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        if s.trim() == "List-Unsubscribe=One-Click" {
            Ok(ListUnsubscribePost)
        } else {
            Err("expected List-Unsubscribe=One-Click".into())
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use url::Url;

    use super::*;

    fn sender() -> SmtpSender {
        SmtpSender::new(SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port: 2525,
            tls: SmtpTls::None,
            credentials: None,
            from_address: "mailings@loyalcast.test".to_owned(),
            timeout_ms: 1_000,
        })
        .unwrap()
    }

    fn email(subject: &str, from_name: &str) -> EmailMessage {
        EmailMessage {
            to: EmailAddress::parse("ann@example.test").unwrap(),
            to_name: None,
            from_name: from_name.to_owned(),
            reply_to: None,
            subject: subject.to_owned(),
            text: "t".to_owned(),
            html: "<p>h</p>".to_owned(),
            unsubscribe_url: Url::parse("https://l.example/u").unwrap(),
            open_tracking_url: None,
        }
    }

    #[tokio::test]
    async fn line_breaks_in_merchant_text_cannot_inject_headers() {
        let message = sender()
            .build_message(
                &DeliveryId::from(1_i64),
                &email("Hi\r\nBcc: victim@example.test", "Shop\r\nX-Evil: 1"),
            )
            .unwrap();
        let source = String::from_utf8(message.formatted()).unwrap();
        let (head, _) = source.split_once("\r\n\r\n").unwrap();
        for line in head.split("\r\n") {
            assert!(
                !line.starts_with("Bcc:") && !line.starts_with("X-Evil:"),
                "injected header: {line}"
            );
        }
        assert!(
            message
                .envelope()
                .to()
                .iter()
                .all(|a| a.to_string() == "ann@example.test")
        );
    }

    #[tokio::test]
    async fn non_ascii_names_and_subjects_are_encoded() {
        let message = sender()
            .build_message(
                &DeliveryId::from(2_i64),
                &email("Merci, Zoë ☕", "Café Zoë"),
            )
            .unwrap();
        let source = String::from_utf8(message.formatted()).unwrap();
        let (head, _) = source.split_once("\r\n\r\n").unwrap();
        assert!(head.is_ascii(), "{head}");
        assert!(head.contains("=?utf-8?"), "{head}");
    }

    #[test]
    fn the_pixel_goes_before_the_closing_body_tag() {
        let html = "<html><BODY><p>Hi</p></BODY></html>";
        let out = with_tracking_pixel(html, "https://t.example/o/1?a=1&b=2");
        assert!(
            out.starts_with("<html><BODY><p>Hi</p><img src=\"https://t.example/o/1?a=1&amp;b=2\""),
            "{out}"
        );
        assert!(out.ends_with("</BODY></html>"), "{out}");
    }

    #[test]
    fn without_a_body_tag_the_pixel_is_appended() {
        let out = with_tracking_pixel("<p>Hi</p>", "https://t.example/o/1");
        assert!(
            out.starts_with("<p>Hi</p><img src=\"https://t.example/o/1\""),
            "{out}"
        );
    }
}
