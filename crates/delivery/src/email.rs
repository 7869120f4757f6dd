//! Email over SMTP with lettre (tokio, rustls).
//!
//! Each email is `multipart/alternative` (text, then HTML), from the platform's address under
//! the merchant's name, with RFC 8058 one-click unsubscribe headers (`List-Unsubscribe` and
//! `List-Unsubscribe-Post`) that Gmail and Yahoo require of bulk senders, and, when opens are
//! tracked, a 1×1 pixel at the end of the HTML body. The `Message-ID` is derived from the
//! delivery id, so bounces and replies (`In-Reply-To`) can be matched to the delivery.
//!
//! ## The SMTP transaction, step by step
//!
//! The sender drives each transaction itself over lettre's [`AsyncSmtpConnection`] (not
//! lettre's transport, which reports a failure without saying at which step it happened,
//! and under Tokio times out only the TCP connect, so a relay that stops answering would
//! hold a send forever). Every step has the configured timeout, and where a failure
//! happened decides what it means:
//!
//! - connecting, `EHLO`, `STARTTLS`, `AUTH`, `MAIL FROM`, `RCPT TO` and `DATA` up to the
//!   relay's `354`: the relay does not have the message, so a timeout or a lost connection is
//!   [`SendError::Retryable`], a 4xx reply retryable, a 5xx reply permanent;
//! - once the message and its final `.` are sent: a 4xx or 5xx reply to it is as definite
//!   as before, but a timeout, a lost connection or an unreadable reply while waiting for
//!   it is [`SendError::Ambiguous`]: the relay may have queued the message (RFC 5321 lets
//!   the final reply take up to 10 minutes), and SMTP has no way to ask.
//!
//! SMTP offers no idempotency: a resend is a second email. It carries the same `Message-ID`,
//! so a duplicate can at least be recognised. Connections are pooled (up to
//! [`MAX_CONNECTIONS`]); a pooled connection that the relay closed while it was idle fails
//! before anything of the next message is sent, and that message is then tried once on a
//! fresh connection.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::{Address, Message};
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

/// Connections to the relay open at once, and kept idle at most: relays limit the
/// connections of one client, and a bulk send gains little beyond a handful.
pub const MAX_CONNECTIONS: usize = 8;

/// An idle connection older than this is closed instead of reused: relays drop idle clients
/// (often within a minute), and reusing one they are dropping costs a round trip.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// How the connection is secured, with what it needs.
enum Security {
    Plain,
    StartTls(TlsParameters),
    Implicit(TlsParameters),
}

struct IdleConnection {
    connection: AsyncSmtpConnection,
    since: Instant,
}

/// Sends email through one SMTP relay, reusing connections.
pub struct SmtpSender {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello_name: ClientId,
    /// The limit of every step: connecting (greeting, TLS and login included), each command,
    /// and the answer to the message.
    timeout: Duration,
    idle: Mutex<Vec<IdleConnection>>,
    connections: tokio::sync::Semaphore,
    from_address: EmailAddress,
    account: String,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let security = match self.security {
            Security::Plain => "none",
            Security::StartTls(_) => "start_tls",
            Security::Implicit(_) => "implicit",
        };
        f.debug_struct("SmtpSender")
            .field("account", &self.account)
            .field("tls", &security)
            .field("login", &self.credentials.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Prepares the sender; connections are opened on the first sends and pooled.
    pub fn new(config: SmtpConfig) -> Result<Self, BuildError> {
        let from_address = EmailAddress::parse(&config.from_address)
            .map_err(|e| BuildError(format!("SMTP from_address: {e}")))?;
        let tls_parameters = || {
            TlsParameters::new(config.host.clone())
                .map_err(|e| BuildError(format!("SMTP TLS: {e}")))
        };
        let security = match config.tls {
            SmtpTls::None => Security::Plain,
            SmtpTls::StartTls => Security::StartTls(tls_parameters()?),
            SmtpTls::Implicit => Security::Implicit(tls_parameters()?),
        };
        Ok(SmtpSender {
            account: format!("{}:{}", config.host, config.port),
            host: config.host,
            port: config.port,
            security,
            credentials: config
                .credentials
                .map(|c| Credentials::new(c.username, c.password.expose_secret().to_owned())),
            hello_name: ClientId::default(),
            timeout: Duration::from_millis(config.timeout_ms),
            idle: Mutex::new(Vec::new()),
            connections: tokio::sync::Semaphore::new(MAX_CONNECTIONS),
            from_address,
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
        // The class and codes only: relays quote the recipient's address in their replies.
        match &result {
            Ok(receipt) => {
                tracing::debug!(delivery_id = %message.delivery_id, message_id = %receipt.provider_message_id, "smtp relay accepted the email")
            }
            Err(error) if error.is_ambiguous() => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), "smtp relay may or may not have the email")
            }
            Err(error) => {
                tracing::warn!(delivery_id = %message.delivery_id, outcome = error.kind(), code = ?error.code(), provider_code = ?error.provider_code(), "smtp relay refused the email")
            }
        }
        result
    }
}

/// Where in the transaction a step failed, and how.
enum Failure {
    /// Before the whole message was sent: the relay cannot have accepted it.
    BeforeMessage(Fault),
    /// The message was sent; the relay's answer to it did not come, or said no.
    AfterMessage(Fault),
    /// This relay cannot take this message (checked before sending anything).
    Unsendable(SendError),
}

enum Fault {
    Smtp(SmtpError),
    TimedOut,
}

impl Fault {
    /// A failure of the connection rather than an answer of the relay.
    fn is_connection_failure(&self) -> bool {
        matches!(self, Fault::Smtp(error) if error.status().is_none() && !error.is_client())
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
        let envelope = mime.envelope();
        let body = mime.formatted();
        let receipt = ProviderReceipt {
            provider: Provider::Smtp,
            provider_message_id: message_id,
        };

        // The semaphore is never closed, so acquiring only waits.
        let _slot = self.connections.acquire().await.map_err(|_| {
            SendError::retryable(None, "SMTP: the sender is shutting down; nothing was sent")
        })?;
        let (mut connection, reused) = match self.reuse() {
            Some(connection) => (connection, true),
            None => (self.connect().await?, false),
        };
        let mut outcome = self
            .transaction(&mut connection, envelope.from(), envelope.to(), &body)
            .await;
        if reused
            && matches!(&outcome, Err(Failure::BeforeMessage(fault)) if fault.is_connection_failure())
        {
            // The idle connection had died; nothing of this message reached the relay.
            connection = self.connect().await?;
            outcome = self
                .transaction(&mut connection, envelope.from(), envelope.to(), &body)
                .await;
        }
        match outcome {
            Ok(()) => {
                self.keep(connection);
                Ok(receipt)
            }
            // A connection that failed mid-transaction is in no known state: it is dropped,
            // which closes it.
            Err(failure) => Err(self.classify(failure)),
        }
    }

    /// An idle connection to reuse, the most recently used first (the least likely to have
    /// been dropped by the relay); older ones past [`MAX_IDLE`] are closed.
    fn reuse(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        idle.retain(|entry| entry.since.elapsed() < MAX_IDLE);
        idle.pop().map(|entry| entry.connection)
    }

    fn keep(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_CONNECTIONS {
            idle.push(IdleConnection {
                connection,
                since: Instant::now(),
            });
        }
    }

    /// Opens a connection: TCP, the greeting and `EHLO`, TLS, and the login.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let open = async {
            let implicit = match &self.security {
                Security::Implicit(parameters) => Some(parameters.clone()),
                Security::Plain | Security::StartTls(_) => None,
            };
            let mut connection = AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello_name,
                implicit,
                None,
            )
            .await?;
            if let Security::StartTls(parameters) = &self.security {
                connection
                    .starttls(parameters.clone(), &self.hello_name)
                    .await?;
            }
            if let Some(credentials) = &self.credentials {
                connection.auth(DEFAULT_MECHANISMS, credentials).await?;
            }
            Ok::<_, SmtpError>(connection)
        };
        match tokio::time::timeout(self.timeout, open).await {
            Ok(Ok(connection)) => Ok(connection),
            // The relay lacks what the configuration requires (STARTTLS, a login mechanism
            // we speak): ours to fix, and no retry will change it.
            Ok(Err(error)) if error.is_client() => Err(SendError::permanent(
                FailureCode::Misconfigured,
                None::<&str>,
                format!("SMTP: {error}"),
            )),
            Ok(Err(error)) => Err(classify_smtp_error(&error)),
            Err(_) => Err(SendError::retryable(
                None,
                format!(
                    "SMTP: the relay did not let us in within {} ms; nothing was sent",
                    self.timeout.as_millis()
                ),
            )),
        }
    }

    /// One step under the timeout.
    async fn step<T>(&self, step: impl Future<Output = Result<T, SmtpError>>) -> Result<T, Fault> {
        match tokio::time::timeout(self.timeout, step).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(Fault::Smtp(error)),
            Err(_) => Err(Fault::TimedOut),
        }
    }

    /// `MAIL FROM`, `RCPT TO` for each recipient, `DATA`, then the message.
    async fn transaction(
        &self,
        connection: &mut AsyncSmtpConnection,
        from: Option<&Address>,
        to: &[Address],
        body: &[u8],
    ) -> Result<(), Failure> {
        let server = connection.server_info();
        let mut parameters = Vec::new();
        let non_ascii_address = from
            .into_iter()
            .chain(to)
            .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
        if non_ascii_address {
            if !server.supports_feature(Extension::SmtpUtfEight) {
                return Err(Failure::Unsendable(SendError::permanent(
                    FailureCode::Rejected,
                    None::<&str>,
                    "SMTP: the address is not ASCII and the relay does not take SMTPUTF8",
                )));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !body.is_ascii() {
            if !server.supports_feature(Extension::EightBitMime) {
                return Err(Failure::Unsendable(SendError::permanent(
                    FailureCode::Rejected,
                    None::<&str>,
                    "SMTP: the message is not ASCII and the relay does not take 8BITMIME",
                )));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }

        self.step(connection.command(Mail::new(from.cloned(), parameters)))
            .await
            .map_err(Failure::BeforeMessage)?;
        for recipient in to {
            self.step(connection.command(Rcpt::new(recipient.clone(), Vec::new())))
                .await
                .map_err(Failure::BeforeMessage)?;
        }
        self.step(connection.command(Data))
            .await
            .map_err(Failure::BeforeMessage)?;
        // From here the relay may end up with the message whatever we hear back. lettre
        // writes the message and reads the reply in one call and reports a failure of
        // either alike, so a failure while the message is still being written counts as
        // ambiguous too: that errs on the side of not resending.
        self.step(connection.message(body))
            .await
            .map_err(Failure::AfterMessage)?;
        Ok(())
    }

    fn classify(&self, failure: Failure) -> SendError {
        match failure {
            Failure::Unsendable(error) => error,
            Failure::BeforeMessage(Fault::Smtp(error)) => classify_smtp_error(&error),
            Failure::BeforeMessage(Fault::TimedOut) => SendError::retryable(
                None,
                format!(
                    "SMTP: the relay did not answer within {} ms before the message was sent; nothing was sent",
                    self.timeout.as_millis()
                ),
            ),
            // The relay answered the message itself: 4xx it did not take it, 5xx it refused it.
            Failure::AfterMessage(Fault::Smtp(error)) if error.status().is_some() => {
                classify_smtp_error(&error)
            }
            Failure::AfterMessage(Fault::Smtp(_)) => SendError::ambiguous(
                "SMTP: the connection failed after the message was sent, before the relay's answer; it may have accepted it",
            ),
            Failure::AfterMessage(Fault::TimedOut) => SendError::ambiguous(format!(
                "SMTP: no answer within {} ms after the message was sent; the relay may have accepted it",
                self.timeout.as_millis()
            )),
        }
    }
}

/// Maps an SMTP failure before the message was sent, or the relay's answer to it: 4xx and
/// connection trouble are retryable, 5xx permanent.
fn classify_smtp_error(error: &SmtpError) -> SendError {
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
        // 4xx, connection and TLS failures.
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
