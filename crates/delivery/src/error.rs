//! How a send fails.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Why a message could not be handed to the provider, or why we cannot tell whether it was.
///
/// The split is what the worker acts on: [`SendError::Retryable`] goes back to the queue
/// (see [`crate::retry::RetryPolicy`]), [`SendError::Permanent`] fails the delivery and says
/// why, and [`SendError::Ambiguous`] is neither: the request may have reached the provider
/// and been accepted, so resending it could deliver (and, on a paid channel, bill) the
/// message twice. Reasons are safe to store and show to the merchant: they never contain
/// credentials, and the ones this crate writes never contain the recipient's address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The provider did not take the message, for a reason that may pass: it is down or
    /// rate-limiting us, or we never reached it (nothing of the request was sent).
    #[error("temporary failure: {reason}")]
    Retryable {
        /// The provider's `Retry-After`: do not try again sooner.
        retry_after: Option<Duration>,
        reason: String,
    },
    /// The message will never be delivered as it is; retrying would not help.
    #[error("permanent failure ({code}): {reason}")]
    Permanent {
        code: FailureCode,
        /// The provider's own error code (Twilio `21610`, SMTP `550`, Graph `551`...).
        provider_code: Option<String>,
        reason: String,
    },
    /// The request was (or may have been) sent, and no answer says whether the provider
    /// accepted it: a timeout or a lost connection after the request went out, an answer
    /// that could not be read, or a server error that the provider documents as possibly
    /// having sent the message. Only a later report (Twilio's status callback) can settle
    /// it; [`crate::retry::RetryPolicy::after_error`] says per channel whether resending is
    /// acceptable.
    #[error("outcome unknown: {reason}")]
    Ambiguous { reason: String },
}

impl SendError {
    /// A temporary failure.
    pub fn retryable(retry_after: Option<Duration>, reason: impl Into<String>) -> Self {
        SendError::Retryable {
            retry_after,
            reason: reason.into(),
        }
    }

    /// A permanent failure.
    pub fn permanent(
        code: FailureCode,
        provider_code: Option<impl ToString>,
        reason: impl Into<String>,
    ) -> Self {
        SendError::Permanent {
            code,
            provider_code: provider_code.map(|c| c.to_string()),
            reason: reason.into(),
        }
    }

    /// An outcome we cannot know: the request may have reached the provider.
    pub fn ambiguous(reason: impl Into<String>) -> Self {
        SendError::Ambiguous {
            reason: reason.into(),
        }
    }

    /// A message handed to a sender of another channel: a wiring bug, not the recipient's.
    pub(crate) fn wrong_channel(sender: &str, message: loyalcast_dto::Channel) -> Self {
        SendError::permanent(
            FailureCode::Misconfigured,
            None::<&str>,
            format!(
                "the {sender} sender cannot send a {} message",
                message.label()
            ),
        )
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retryable { .. })
    }

    /// Whether the provider may have accepted the message despite the error.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, SendError::Ambiguous { .. })
    }

    /// `retryable`, `permanent` or `ambiguous`: the class alone, for logs and metrics
    /// (the reason can quote a provider's text, which may name the recipient).
    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Retryable { .. } => "retryable",
            SendError::Permanent { .. } => "permanent",
            SendError::Ambiguous { .. } => "ambiguous",
        }
    }

    /// The provider's own error code of a permanent error, if it gave one.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            SendError::Permanent { provider_code, .. } => provider_code.as_deref(),
            SendError::Retryable { .. } | SendError::Ambiguous { .. } => None,
        }
    }

    /// The provider's `Retry-After`, for a retryable error that had one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Retryable { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } | SendError::Ambiguous { .. } => None,
        }
    }

    /// The failure code of a permanent error.
    pub fn code(&self) -> Option<FailureCode> {
        match self {
            SendError::Permanent { code, .. } => Some(*code),
            SendError::Retryable { .. } | SendError::Ambiguous { .. } => None,
        }
    }

    /// The human-readable reason.
    pub fn reason(&self) -> &str {
        match self {
            SendError::Retryable { reason, .. }
            | SendError::Permanent { reason, .. }
            | SendError::Ambiguous { reason } => reason,
        }
    }
}

/// A sender could not be built from its configuration (a malformed token, SID or URL).
/// The message never contains the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the sender: {0}")]
pub struct BuildError(pub String);

/// The kind of a permanent failure, stable and machine-readable (`snake_case` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The recipient opted out at the provider (Twilio 21610, after a STOP).
    Unsubscribed,
    /// The recipient blocked the sender (Telegram bot blocked, Messenger block, carrier block).
    Blocked,
    /// The address is malformed or does not exist (invalid number, unknown mailbox, no chat).
    InvalidAddress,
    /// The address exists but cannot receive this channel (landline, unavailable person).
    Unreachable,
    /// The provider refused the content or the moment (filtered as spam, too long, outside
    /// Messenger's window).
    Rejected,
    /// Our account or configuration is wrong (bad credentials, sender not allowed); the
    /// recipient is not at fault and an operator has to act.
    Misconfigured,
    /// Any other permanent error the provider reported.
    Provider,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Unsubscribed => "unsubscribed",
            FailureCode::Blocked => "blocked",
            FailureCode::InvalidAddress => "invalid_address",
            FailureCode::Unreachable => "unreachable",
            FailureCode::Rejected => "rejected",
            FailureCode::Misconfigured => "misconfigured",
            FailureCode::Provider => "provider",
        }
    }

    /// Whether the customer should be suppressed on this channel: they opted out or blocked us.
    pub fn suppresses_channel(self) -> bool {
        matches!(self, FailureCode::Unsubscribed | FailureCode::Blocked)
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_display_their_class_code_and_reason() {
        let permanent = SendError::permanent(FailureCode::InvalidAddress, Some(21211), "bad To");
        assert_eq!(
            permanent.to_string(),
            "permanent failure (invalid_address): bad To"
        );
        assert_eq!(permanent.code(), Some(FailureCode::InvalidAddress));
        assert!(!permanent.is_retryable());

        let retryable = SendError::retryable(Some(Duration::from_secs(3)), "HTTP 503");
        assert_eq!(retryable.to_string(), "temporary failure: HTTP 503");
        assert_eq!(retryable.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(retryable.reason(), "HTTP 503");

        let ambiguous = SendError::ambiguous("no answer after the request was sent");
        assert_eq!(
            ambiguous.to_string(),
            "outcome unknown: no answer after the request was sent"
        );
        assert!(ambiguous.is_ambiguous());
        assert!(!ambiguous.is_retryable());
        assert_eq!(ambiguous.code(), None);
        assert_eq!(ambiguous.retry_after(), None);
        assert_eq!(
            [&permanent, &retryable, &ambiguous].map(SendError::kind),
            ["permanent", "retryable", "ambiguous"]
        );
    }

    #[test]
    fn only_opt_outs_and_blocks_suppress_the_channel() {
        let suppressing: Vec<FailureCode> = [
            FailureCode::Unsubscribed,
            FailureCode::Blocked,
            FailureCode::InvalidAddress,
            FailureCode::Unreachable,
            FailureCode::Rejected,
            FailureCode::Misconfigured,
            FailureCode::Provider,
        ]
        .into_iter()
        .filter(|c| c.suppresses_channel())
        .collect();
        assert_eq!(
            suppressing,
            vec![FailureCode::Unsubscribed, FailureCode::Blocked]
        );
    }
}
