//! Twilio's webhooks: signature verification, delivery reports and inbound SMS.
//!
//! The server's handler does, for each POST from Twilio: decode the body with [`parse_form`],
//! verify the signature with [`SignatureVerifier::verify`] over the URL Twilio was given (as
//! configured, not as seen behind a proxy) and the form parameters, answer 403 when it fails,
//! then read the form with [`StatusCallback::from_form`] or [`InboundSms::from_form`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use url::Url;

use crate::error::{FailureCode, SendError};
use crate::message::PhoneNumber;
use crate::opt_out::{SmsKeyword, sms_keyword};

/// The header Twilio signs its requests in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Checks `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the auth token, over the full
/// URL followed by every POST parameter's name and value, sorted by name. `Debug` shows no
/// secret.
#[derive(Debug, Clone)]
pub struct SignatureVerifier {
    auth_token: SecretString,
}

impl SignatureVerifier {
    pub fn new(auth_token: SecretString) -> Self {
        SignatureVerifier { auth_token }
    }

    /// The signature Twilio would send for this URL and these form parameters.
    pub fn signature<K: AsRef<str>, V: AsRef<str>>(&self, url: &str, params: &[(K, V)]) -> String {
        BASE64.encode(self.mac(url, params))
    }

    /// Whether `signature` (the header's value) is Twilio's for this request. Compared in
    /// constant time. Like Twilio's own libraries, also accepts the signature of the URL with
    /// its port removed or with the scheme's default port written out, as proxies and Twilio
    /// differ on whether `:443` is part of the URL.
    pub fn verify<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
        signature: &str,
    ) -> bool {
        let signature = signature.trim();
        // Base64 of a SHA-1 is 28 characters; the length of a genuine one is no secret, so a
        // header of any other length is refused before decoding or hashing anything.
        if signature.len() != SIGNATURE_LEN {
            return false;
        }
        let Ok(given) = BASE64.decode(signature) else {
            return false;
        };
        let mut valid = false;
        for candidate in url_variants(url) {
            // Every variant is checked, so timing does not say which one matched.
            valid |= bool::from(self.mac(&candidate, params).as_slice().ct_eq(&given));
        }
        valid
    }

    fn mac<K: AsRef<str>, V: AsRef<str>>(&self, url: &str, params: &[(K, V)]) -> Vec<u8> {
        let mut sorted: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        // By name; a repeated name's values in order too, as Twilio's libraries do.
        sorted.sort_unstable();
        let mut mac = match Hmac::<Sha1>::new_from_slice(self.auth_token.expose_secret().as_bytes())
        {
            Ok(mac) => mac,
            // HMAC takes keys of any length; this arm cannot be reached.
            Err(_) => return Vec::new(),
        };
        mac.update(url.as_bytes());
        for (name, value) in sorted {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }
}

/// The length of a signature: base64 of 20 bytes, padded.
const SIGNATURE_LEN: usize = 28;

/// The URL as given, then without its port, or with the default port written out.
fn url_variants(raw: &str) -> Vec<String> {
    let mut variants = vec![raw.to_owned()];
    let Ok(url) = Url::parse(raw) else {
        return variants;
    };
    let Some(host) = url.host_str() else {
        return variants;
    };
    let userinfo = match (url.username(), url.password()) {
        ("", None) => String::new(),
        (user, None) => format!("{user}@"),
        (user, Some(password)) => format!("{user}:{password}@"),
    };
    let rest = &url[url::Position::BeforePath..];
    let scheme = url.scheme();
    // `Url` drops a default port when parsing, so an explicit one in `raw` is only visible
    // as a difference between `port()` and what `raw` says.
    let default_port = url.port_or_known_default();
    let with_port = |port: u16| format!("{scheme}://{userinfo}{host}:{port}{rest}");
    let without_port = format!("{scheme}://{userinfo}{host}{rest}");
    match url.port() {
        Some(_) => variants.push(without_port),
        None => {
            if let Some(port) = default_port {
                if raw.contains(&format!("{host}:{port}")) {
                    variants.push(without_port);
                } else {
                    variants.push(with_port(port));
                }
            }
        }
    }
    variants
}

/// Why a webhook form could not be read. The messages name the parameter, never echo more
/// than a little of a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "parameter {index} of the form is not valid percent-encoding (a % must be followed by two hex digits)"
    )]
    PercentEncoding { index: usize },
    #[error("parameter {index} of the form is not UTF-8 text once percent-decoded")]
    NotUtf8 { index: usize },
    #[error("the form has no {0}")]
    Missing(&'static str),
    #[error("the form has {0} more than once")]
    Repeated(&'static str),
    #[error("{field} is not valid: {value:?}")]
    Invalid { field: &'static str, value: String },
    #[error("{0} is not valid")]
    Unreadable(&'static str),
}

/// How much of a refused value an error repeats.
const ECHOED_CHARS: usize = 20;

fn echo(value: &str) -> String {
    let mut echoed: String = value.chars().take(ECHOED_CHARS).collect();
    if echoed.len() < value.len() {
        echoed.push('…');
    }
    echoed
}

/// Decodes an `application/x-www-form-urlencoded` body into its parameters, in order,
/// repeated names included (the signature covers every one). Unlike lenient decoders, which
/// keep a stray `%` as it is and replace bytes that are not UTF-8, this refuses both: Twilio
/// never sends them, and a value read differently from how it was signed is not the value
/// Twilio signed.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, WebhookError> {
    let mut params = Vec::new();
    for (index, pair) in body
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .enumerate()
    {
        let index = index + 1;
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        params.push((decode(name, index)?, decode(value, index)?));
    }
    Ok(params)
}

fn decode(raw: &[u8], index: usize) -> Result<String, WebhookError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.iter();
    while let Some(&b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = rest.next().and_then(|&h| hex_digit(h));
                let low = rest.next().and_then(|&l| hex_digit(l));
                match (high, low) {
                    (Some(high), Some(low)) => bytes.push((high << 4) | low),
                    _ => return Err(WebhookError::PercentEncoding { index }),
                }
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| WebhookError::NotUtf8 { index })
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The value of `name`: `None` when absent, an error when it is there more than once (which
/// of two statuses, or of two senders, would be the real one?).
fn field<'a, K: AsRef<str>, V: AsRef<str>>(
    params: &'a [(K, V)],
    name: &'static str,
) -> Result<Option<&'a str>, WebhookError> {
    let mut found = params
        .iter()
        .filter(|(k, _)| k.as_ref() == name)
        .map(|(_, v)| v.as_ref());
    let first = found.next();
    if found.next().is_some() {
        return Err(WebhookError::Repeated(name));
    }
    Ok(first)
}

fn required<'a, K: AsRef<str>, V: AsRef<str>>(
    params: &'a [(K, V)],
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    field(params, name)?
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::Missing(name))
}

/// Where a message stands according to a Twilio delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedStatus {
    /// Still on its way inside Twilio (`accepted`, `queued`, `scheduled`, `sending`).
    Pending,
    /// Handed to the carrier (`sent`).
    Sent,
    /// The handset confirmed it (`delivered`, `read`).
    Delivered,
    /// It did not arrive (`failed`, `undelivered`, `canceled`), and why.
    Failed(SendError),
}

/// A delivery report Twilio posts to the `StatusCallback` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The `SM...` id returned when the message was sent.
    pub message_sid: String,
    /// Twilio's status word, as sent.
    pub message_status: String,
    pub error_code: Option<u32>,
}

impl StatusCallback {
    /// Reads the report from the decoded form parameters.
    pub fn from_form<K: AsRef<str>, V: AsRef<str>>(
        params: &[(K, V)],
    ) -> Result<Self, WebhookError> {
        let error_code = match field(params, "ErrorCode")?.filter(|v| !v.is_empty()) {
            None => None,
            Some(raw) => Some(raw.parse::<u32>().map_err(|_| WebhookError::Invalid {
                field: "ErrorCode",
                value: echo(raw),
            })?),
        };
        Ok(StatusCallback {
            message_sid: required(params, "MessageSid")?.to_owned(),
            message_status: required(params, "MessageStatus")?.to_owned(),
            error_code,
        })
    }

    /// What the report means for the delivery.
    pub fn status(&self) -> ReportedStatus {
        match self.message_status.as_str() {
            "delivered" | "read" => ReportedStatus::Delivered,
            "sent" => ReportedStatus::Sent,
            "failed" | "undelivered" | "canceled" => {
                let error = self
                    .error_code
                    .and_then(|code| super::classify_error_code(code, ""))
                    .unwrap_or_else(|| {
                        SendError::permanent(
                            FailureCode::Provider,
                            self.error_code,
                            format!("Twilio reported the message {}", self.message_status),
                        )
                    });
                ReportedStatus::Failed(error)
            }
            _ => ReportedStatus::Pending,
        }
    }
}

/// An SMS a customer sent to one of our numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub message_sid: String,
    pub from: PhoneNumber,
    pub to: String,
    pub body: String,
}

impl InboundSms {
    /// Reads the message from the decoded form parameters.
    pub fn from_form<K: AsRef<str>, V: AsRef<str>>(
        params: &[(K, V)],
    ) -> Result<Self, WebhookError> {
        let from = required(params, "From")?;
        Ok(InboundSms {
            message_sid: required(params, "MessageSid")?.to_owned(),
            // A customer's number: not repeated in the error.
            from: PhoneNumber::parse(from).map_err(|_| WebhookError::Unreadable("From"))?,
            to: required(params, "To")?.to_owned(),
            body: field(params, "Body")?.unwrap_or_default().to_owned(),
        })
    }

    /// STOP, START or HELP, when the whole message is one.
    pub fn keyword(&self) -> Option<SmsKeyword> {
        sms_keyword(&self.body)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    // The example in Twilio's request-validation documentation, which twilio-python's test
    // suite also pins (tests/unit/test_request_validator.py); recomputed independently here
    // with `openssl dgst -sha1 -hmac 12345 -binary | base64` on the concatenated string.
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const PARAMS: [(&str, &str); 5] = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
        ("Caller", "+14158675309"),
    ];
    const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn verifier() -> SignatureVerifier {
        SignatureVerifier::new(SecretString::from("12345"))
    }

    #[test]
    fn the_documented_example_signs_and_verifies() {
        assert_eq!(verifier().signature(URL, &PARAMS), EXPECTED);
        assert!(verifier().verify(URL, &PARAMS, EXPECTED));
    }

    #[test]
    fn repeated_parameters_are_sorted_by_name_then_value() {
        // twilio-python's duplicate-parameter vector, also checked with openssl.
        let params = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ];
        assert_eq!(
            verifier().signature(URL, &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn a_tampered_request_or_another_token_fails() {
        let mut tampered = PARAMS;
        tampered[1] = ("Digits", "9999");
        assert!(!verifier().verify(URL, &tampered, EXPECTED));
        assert!(!verifier().verify(
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &PARAMS,
            EXPECTED
        ));
        let other = SignatureVerifier::new(SecretString::from("54321"));
        assert!(!other.verify(URL, &PARAMS, EXPECTED));
        assert!(!verifier().verify(URL, &PARAMS, ""));
        assert!(!verifier().verify(URL, &PARAMS, "not base64!"));
        assert!(!verifier().verify(URL, &PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
    }

    #[test]
    fn the_port_may_be_written_or_left_out() {
        // Vectors of twilio-python's port tests, checked with openssl.
        let with_port = URL.replace(".com", ".com:1234");
        assert!(
            verifier().verify(&with_port, &PARAMS, EXPECTED),
            "explicit port removed"
        );
        assert!(
            verifier().verify(URL, &PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w="),
            "443 added"
        );
        let http = URL.replace("https", "http");
        assert!(
            verifier().verify(&http, &PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4="),
            "80 added"
        );
        let http_port = http.replace(".com", ".com:1234");
        assert!(
            verifier().verify(&http_port, &PARAMS, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
            "as given"
        );
        let explicit_443 = URL.replace(".com", ".com:443");
        assert!(
            verifier().verify(&explicit_443, &PARAMS, EXPECTED),
            "explicit 443 removed"
        );
    }

    #[test]
    fn the_verifier_does_not_print_its_token() {
        assert!(!format!("{:?}", verifier()).contains("12345"));
    }

    #[test]
    fn status_callbacks_map_to_delivery_states() {
        let report = |status: &str, code: Option<&str>| {
            let mut form = vec![("MessageSid", "SM1"), ("MessageStatus", status)];
            if let Some(code) = code {
                form.push(("ErrorCode", code));
            }
            StatusCallback::from_form(&form).unwrap().status()
        };
        assert_eq!(report("queued", None), ReportedStatus::Pending);
        assert_eq!(report("sent", None), ReportedStatus::Sent);
        assert_eq!(report("delivered", None), ReportedStatus::Delivered);
        let ReportedStatus::Failed(error) = report("undelivered", Some("30006")) else {
            panic!()
        };
        assert_eq!(error.code(), Some(FailureCode::Unreachable));
        let ReportedStatus::Failed(error) = report("failed", Some("30008")) else {
            panic!()
        };
        assert!(error.is_retryable());
        let ReportedStatus::Failed(error) = report("failed", None) else {
            panic!()
        };
        assert_eq!(error.code(), Some(FailureCode::Provider));
    }

    #[test]
    fn a_status_callback_needs_its_sid_and_status() {
        assert_eq!(
            StatusCallback::from_form(&[("MessageStatus", "sent")]),
            Err(WebhookError::Missing("MessageSid"))
        );
        assert!(
            StatusCallback::from_form(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "failed"),
                ("ErrorCode", "x")
            ])
            .is_err()
        );
    }

    #[test]
    fn forms_decode_strictly() {
        assert_eq!(
            parse_form(b"From=%2B14155550100&Body=Hello+there%21&&Empty=&Bare").unwrap(),
            [
                ("From".to_owned(), "+14155550100".to_owned()),
                ("Body".to_owned(), "Hello there!".to_owned()),
                ("Empty".to_owned(), String::new()),
                ("Bare".to_owned(), String::new()),
            ]
        );
        assert_eq!(parse_form(b"").unwrap(), []);
        assert_eq!(
            parse_form("Body=%C3%A9t%C3%A9+%F0%9F%98%80".as_bytes()).unwrap()[0].1,
            "été 😀"
        );
        assert_eq!(
            parse_form(b"A=1&Body=100%"),
            Err(WebhookError::PercentEncoding { index: 2 })
        );
        assert_eq!(
            parse_form(b"Body=%zz"),
            Err(WebhookError::PercentEncoding { index: 1 })
        );
        assert_eq!(
            parse_form(b"Body=%4"),
            Err(WebhookError::PercentEncoding { index: 1 })
        );
        assert_eq!(
            parse_form(b"Body=%FF%FE"),
            Err(WebhookError::NotUtf8 { index: 1 })
        );
        assert_eq!(
            parse_form(b"Bo\xffdy=x"),
            Err(WebhookError::NotUtf8 { index: 1 })
        );
        // Every byte value, in any order, is an answer and not a panic.
        let garbage: Vec<u8> = (0u8..=255).cycle().take(10_000).collect();
        assert!(parse_form(&garbage).is_err());
        assert!(parse_form(&[b'%'; 1000]).is_err());
        assert!(parse_form(&[b'&'; 1000]).unwrap().is_empty());
        assert_eq!(parse_form(&[b'='; 1000]).unwrap().len(), 1);
    }

    #[test]
    fn a_repeated_field_is_refused_rather_than_guessed() {
        assert_eq!(
            StatusCallback::from_form(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "failed"),
                ("MessageStatus", "delivered"),
            ]),
            Err(WebhookError::Repeated("MessageStatus"))
        );
        assert_eq!(
            InboundSms::from_form(&[
                ("MessageSid", "SM1"),
                ("From", "+447700900123"),
                ("To", "+15005550006"),
                ("Body", "hello"),
                ("Body", "STOP"),
            ]),
            Err(WebhookError::Repeated("Body"))
        );
        // Names Twilio repeats on purpose, such as media URLs, are not read and do no harm.
        assert!(
            InboundSms::from_form(&[
                ("MessageSid", "SM1"),
                ("From", "+447700900123"),
                ("To", "+15005550006"),
                ("MediaUrl0", "https://example.com/a"),
                ("MediaUrl0", "https://example.com/b"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn errors_repeat_little_of_a_value_and_nothing_of_a_phone_number() {
        let long = "9".repeat(5000);
        let error = StatusCallback::from_form(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "failed"),
            ("ErrorCode", long.as_str()),
        ])
        .unwrap_err();
        assert!(error.to_string().len() < 80, "{error}");
        let error =
            InboundSms::from_form(&[("MessageSid", "SM1"), ("From", "+1 415 NOT"), ("To", "+1")])
                .unwrap_err();
        assert_eq!(error, WebhookError::Unreadable("From"));
        assert!(!error.to_string().contains("415"));
    }

    #[test]
    fn signatures_of_any_shape_are_refused_quickly() {
        for signature in [
            "".to_owned(),
            "A".repeat(27),
            "A".repeat(29),
            "A".repeat(1 << 20),
            "é".repeat(14),
            "!".repeat(28),
        ] {
            assert!(!verifier().verify(URL, &PARAMS, &signature));
        }
        // Surrounding whitespace, as some proxies leave it, is not part of the signature.
        assert!(verifier().verify(URL, &PARAMS, &format!(" {EXPECTED} ")));
    }

    #[test]
    fn inbound_sms_reads_the_sender_and_the_keyword() {
        let sms = InboundSms::from_form(&[
            ("MessageSid", "SM9"),
            ("From", "+447700900123"),
            ("To", "+15005550006"),
            ("Body", " stop "),
        ])
        .unwrap();
        assert_eq!(sms.from.as_str(), "+447700900123");
        assert_eq!(sms.keyword(), Some(SmsKeyword::OptOut));
        assert!(
            InboundSms::from_form(&[("MessageSid", "SM9"), ("From", "nope"), ("To", "+1")])
                .is_err()
        );
    }
}
