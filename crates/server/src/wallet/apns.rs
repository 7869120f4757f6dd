//! Waking Apple devices registered for a pass: an empty notification through APNs, whose
//! topic is the pass type identifier. The device then asks the web service which passes
//! changed and fetches them (`routes::passkit`).
//!
//! [`PassNotifier`] is what the delivery engine sends through. [`A2Notifier`] speaks to
//! Apple's two APNs endpoints with the `a2` crate (certificate or token authentication);
//! [`SandboxNotifier`] stands in for it when no Apple credentials are configured (`make
//! run`), and says so in its receipts; tests record what they are asked to send.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;

use loyalcast_dto::ApnsEnvironment;

use crate::config::{ApnsEndpoint, AppleWalletConfig};

/// APNs took the notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The `apns-id` APNs answered with.
    pub apns_id: Option<String>,
    /// A sandbox took it: nothing went out.
    pub sandbox: bool,
}

/// Why APNs did not take a notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The token no longer reaches a device for this topic (410 `Unregistered`, or
    /// `BadDeviceToken`): the registration goes. `since` is when APNs says it stopped
    /// (a registration renewed after that stays).
    #[error("APNs: the device token is no longer valid ({reason})")]
    Gone {
        reason: String,
        since: Option<DateTime<Utc>>,
    },
    /// 429 `TooManyRequests`: too many notifications for this token; try again later.
    #[error("APNs: too many notifications for this device for now (TooManyRequests)")]
    TooMany,
    /// Worth trying again: no connection, a timeout, APNs unavailable or an expired provider
    /// token.
    #[error("APNs: {0}")]
    Transient(String),
    /// Will not work as configured (certificate, topic, payload).
    #[error("APNs refused the notification: {0}")]
    Permanent(String),
}

/// Sends the empty notification that makes a device fetch its updated passes.
#[async_trait]
pub trait PassNotifier: Send + Sync {
    /// Wakes the device of `push_token` for the pass type `topic`, through the card's APNs
    /// `environment` (`None`: the notifier's default).
    async fn notify(
        &self,
        topic: &str,
        push_token: &str,
        environment: Option<ApnsEnvironment>,
    ) -> Result<Accepted, NotifyError>;

    /// Whether nothing really goes out.
    fn is_sandbox(&self) -> bool {
        false
    }
}

/// Accepts every notification and sends nothing, for a server without Apple credentials.
/// Its receipts say `sandbox`, and the push history shows them as such.
#[derive(Debug, Default)]
pub struct SandboxNotifier;

#[async_trait]
impl PassNotifier for SandboxNotifier {
    async fn notify(
        &self,
        _topic: &str,
        _push_token: &str,
        _environment: Option<ApnsEnvironment>,
    ) -> Result<Accepted, NotifyError> {
        Ok(Accepted {
            apns_id: None,
            sandbox: true,
        })
    }

    fn is_sandbox(&self) -> bool {
        true
    }
}

/// The notification of a pass update: an empty JSON object, the pass type as topic.
#[derive(Debug, Serialize)]
struct PassUpdate<'a> {
    #[serde(skip)]
    device_token: &'a str,
    #[serde(skip)]
    options: a2::NotificationOptions<'a>,
}

impl a2::request::payload::PayloadLike for PassUpdate<'_> {
    fn to_json_string(&self) -> Result<String, a2::Error> {
        Ok("{}".to_owned())
    }

    fn get_device_token(&self) -> &str {
        self.device_token
    }

    fn get_options(&self) -> &a2::NotificationOptions<'_> {
        &self.options
    }
}

/// APNs through `a2`: a client for each of Apple's two environments, with the same
/// credentials (a certificate or token works for both), so each card's devices are woken
/// through the environment the card names.
pub struct A2Notifier {
    production: a2::Client,
    sandbox: a2::Client,
    default: ApnsEnvironment,
}

impl A2Notifier {
    /// The notifier the configuration asks for: token authentication when an APNs key is
    /// configured, otherwise the pass type certificate and its key; `None` without either.
    pub fn from_config(config: &AppleWalletConfig) -> anyhow::Result<Option<A2Notifier>> {
        let default = match config.apns_endpoint {
            ApnsEndpoint::Production => ApnsEnvironment::Production,
            ApnsEndpoint::Sandbox => ApnsEnvironment::Sandbox,
        };
        let client = |endpoint: a2::Endpoint| -> anyhow::Result<Option<a2::Client>> {
            let client_config = a2::ClientConfig {
                endpoint,
                request_timeout_secs: Some(20),
                pool_idle_timeout_secs: Some(600),
            };
            Ok(Some(
                match (
                    &config.apns_key_pem,
                    &config.apns_key_id,
                    &config.certificate_pem,
                    &config.key_pem,
                ) {
                    (Some(key), Some(key_id), _, _) => a2::Client::token(
                        key.expose_secret().as_bytes(),
                        key_id.clone(),
                        config.team_id.clone(),
                        client_config,
                    )?,
                    (None, None, Some(certificate), Some(key)) => a2::Client::certificate_parts(
                        certificate.as_bytes(),
                        key.expose_secret().as_bytes(),
                        client_config,
                    )?,
                    (Some(_), None, _, _) | (None, Some(_), _, _) => {
                        anyhow::bail!("apple_wallet.apns_key_pem and apns_key_id go together")
                    }
                    _ => return Ok(None),
                },
            ))
        };
        let (Some(production), Some(sandbox)) = (
            client(a2::Endpoint::Production)?,
            client(a2::Endpoint::Sandbox)?,
        ) else {
            return Ok(None);
        };
        Ok(Some(A2Notifier {
            production,
            sandbox,
            default,
        }))
    }
}

#[async_trait]
impl PassNotifier for A2Notifier {
    async fn notify(
        &self,
        topic: &str,
        push_token: &str,
        environment: Option<ApnsEnvironment>,
    ) -> Result<Accepted, NotifyError> {
        let client = match environment.unwrap_or(self.default) {
            ApnsEnvironment::Production => &self.production,
            ApnsEnvironment::Sandbox => &self.sandbox,
        };
        let payload = PassUpdate {
            device_token: push_token,
            options: a2::NotificationOptions {
                apns_topic: Some(topic),
                ..Default::default()
            },
        };
        match client.send(payload).await {
            Ok(response) => Ok(Accepted {
                apns_id: response.apns_id,
                sandbox: false,
            }),
            Err(a2::Error::ResponseError(response)) => Err(classify(
                response.code,
                response.error.as_ref().map(|e| format!("{:?}", e.reason)),
                response.error.as_ref().and_then(|e| e.timestamp),
            )),
            Err(a2::Error::RequestTimeout(seconds)) => Err(NotifyError::Transient(format!(
                "no answer within {seconds} s"
            ))),
            Err(a2::Error::ConnectionError(e)) => Err(NotifyError::Transient(e.to_string())),
            Err(a2::Error::ClientError(e)) => Err(NotifyError::Transient(e.to_string())),
            Err(other) => Err(NotifyError::Permanent(other.to_string())),
        }
    }
}

/// What an APNs answer means: its status, its `reason` and, for 410, the time (milliseconds
/// since the epoch) APNs last knew the token valid.
pub fn classify(status: u16, reason: Option<String>, timestamp_ms: Option<u64>) -> NotifyError {
    let reason = reason.unwrap_or_else(|| format!("status {status}"));
    let since = timestamp_ms
        .and_then(|ms| i64::try_from(ms).ok())
        .and_then(DateTime::<Utc>::from_timestamp_millis);
    match (status, reason.as_str()) {
        (410, _) | (_, "Unregistered") => NotifyError::Gone { reason, since },
        (_, "BadDeviceToken") => NotifyError::Gone {
            reason,
            since: None,
        },
        (429, _) | (_, "TooManyRequests") => NotifyError::TooMany,
        (500 | 503, _) | (_, "ExpiredProviderToken" | "IdleTimeout") => {
            NotifyError::Transient(reason)
        }
        _ => NotifyError::Permanent(reason),
    }
}

/// How long to wait before a device's next attempt after its `attempts`-th: 30 s doubled
/// each time, at most an hour.
pub fn backoff(attempts: i16) -> Duration {
    let exponent = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(7);
    Duration::from_secs(30 * 2u64.pow(exponent)).min(Duration::from_secs(3_600))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn apns_answers_are_read_as_apple_documents_them() {
        let gone = classify(410, Some("Unregistered".into()), Some(1_700_000_000_000));
        assert_eq!(
            gone,
            NotifyError::Gone {
                reason: "Unregistered".into(),
                since: DateTime::from_timestamp_millis(1_700_000_000_000),
            }
        );
        assert!(matches!(
            classify(400, Some("BadDeviceToken".into()), None),
            NotifyError::Gone { since: None, .. }
        ));
        assert_eq!(
            classify(429, Some("TooManyRequests".into()), None),
            NotifyError::TooMany
        );
        assert!(matches!(
            classify(503, Some("ServiceUnavailable".into()), None),
            NotifyError::Transient(_)
        ));
        assert!(matches!(
            classify(403, Some("ExpiredProviderToken".into()), None),
            NotifyError::Transient(_)
        ));
        assert!(matches!(
            classify(400, Some("DeviceTokenNotForTopic".into()), None),
            NotifyError::Permanent(_)
        ));
        assert!(matches!(
            classify(403, Some("BadCertificate".into()), None),
            NotifyError::Permanent(_)
        ));
    }

    #[test]
    fn the_empty_payload_is_an_empty_object() {
        use a2::request::payload::PayloadLike;
        let payload = PassUpdate {
            device_token: "abc",
            options: a2::NotificationOptions {
                apns_topic: Some("pass.example"),
                ..Default::default()
            },
        };
        assert_eq!(payload.to_json_string().unwrap(), "{}");
        assert_eq!(payload.get_options().apns_topic, Some("pass.example"));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(4), Duration::from_secs(240));
        assert_eq!(backoff(20), Duration::from_secs(3_600));
    }

    #[test]
    fn without_credentials_there_is_no_real_notifier() {
        let config = AppleWalletConfig::default();
        assert!(A2Notifier::from_config(&config).unwrap().is_none());
        let half = AppleWalletConfig {
            apns_key_id: Some("ABC123DEFG".into()),
            ..AppleWalletConfig::default()
        };
        assert!(A2Notifier::from_config(&half).is_err());
    }
}
