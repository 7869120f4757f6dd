//! What the HTTP adapters share: the client, `Retry-After`, errors that never show a URL,
//! and where the line between "not sent" and "may have been sent" runs. Internal to the crate.
//!
//! ## Sent or not
//!
//! An HTTP adapter's failure is **retryable** only when nothing of the request can have
//! reached the provider: reqwest reports the failure as a connect error (DNS, connection
//! refused, TLS handshake, the connect timeout), which happens before the first byte of the
//! request is written. Any failure after that (the overall timeout, a connection lost while
//! the request was written or the answer awaited, an answer cut short) is **ambiguous**: the
//! provider may have the request and have acted on it. So that a slow connect is never
//! mistaken for a slow answer, the connect timeout is shorter than the overall one (reqwest's
//! overall timeout also runs during the connect, and when it fires first the error no longer
//! says "connect").

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use url::Url;

use crate::error::{BuildError, FailureCode, SendError};

/// How long one provider request may take, connection included, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest connect (DNS, TCP and TLS) allowed, whatever the overall timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle keep-alive connection is kept for reuse. Load balancers commonly close
/// idle connections after 60 s; a request written to a connection at the moment the provider
/// closes it fails in a way that can only be called ambiguous, so idle connections are
/// dropped well before that.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The connect timeout for an overall `timeout`: at most half of it, so that it always
/// fires first during a connect (see the module docs), and at most
/// [`MAX_CONNECT_TIMEOUT`].
pub(crate) fn connect_timeout(timeout: Duration) -> Duration {
    (timeout / 2).min(MAX_CONNECT_TIMEOUT)
}

/// Builds the HTTP client of an adapter: rustls, an overall timeout and a shorter connect
/// timeout, no redirects (a provider API that redirects a POST is misconfigured, and
/// following it could leak credentials).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(connect_timeout(timeout))
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("loyalcast-delivery/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError(e.without_url().to_string()))
}

/// `path` under `base`, keeping all of `base`'s path: `https://proxy.example/twilio` +
/// `2010-04-01/...` is `https://proxy.example/twilio/2010-04-01/...` (plain `Url::join` would
/// drop `twilio`).
pub(crate) fn endpoint(base: &Url, path: &str) -> Result<Url, BuildError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.set_query(None);
    base.join(path)
        .map_err(|e| BuildError(format!("cannot build the endpoint URL: {e}")))
}

/// The delay a `Retry-After` header asks for: delay-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A request that got no HTTP answer. Before the connection was made nothing was sent, and
/// trying again is safe; after it, the provider may have the message (see the module docs).
/// reqwest's own text names the URL, which holds the token for Telegram and Messenger, so
/// only the kind of failure is kept.
pub(crate) fn transport_error(provider: &str, error: &reqwest::Error) -> SendError {
    if error.is_connect() {
        let what = if error.is_timeout() {
            "could not connect in time"
        } else {
            "could not connect"
        };
        return SendError::retryable(None, format!("{provider}: {what}; nothing was sent"));
    }
    if error.is_builder() {
        // The request could not even be built (a URL reqwest refuses): nothing was sent,
        // and nothing will change by trying again.
        return SendError::permanent(
            FailureCode::Misconfigured,
            None::<&str>,
            format!("{provider}: the request could not be built"),
        );
    }
    let what = if error.is_timeout() {
        "no answer before the timeout"
    } else if error.is_body() || error.is_decode() {
        "the answer could not be read"
    } else {
        "the connection failed"
    };
    SendError::ambiguous(format!(
        "{provider}: {what} after the request was sent; the provider may have accepted it"
    ))
}

/// The answer's status line arrived but its body did not. A success means the provider took
/// the message and we lost its id: ambiguous. Otherwise the status alone says enough.
pub(crate) fn body_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    error: &reqwest::Error,
) -> SendError {
    if status.is_success() {
        transport_error(provider, error)
    } else {
        status_error(provider, status, headers, "the rest of the answer was lost")
    }
}

/// A server error's meaning, by HTTP semantics (RFC 9110 section 15.6): 503 says the server
/// could not handle the request (overloaded, in maintenance), so nothing was done; 500 says
/// handling it failed somewhere, possibly after the message was sent (Twilio's error 20500:
/// after a 500, retrying a send makes it "possible for a customer to receive multiple
/// messages");
/// 502 and 504 come from a gateway whose upstream may have acted on the request. Other 5xx
/// codes say nothing either way, and count as ambiguous.
pub(crate) fn server_error(
    status: u16,
    retry_after: Option<Duration>,
    reason: String,
) -> SendError {
    if status == StatusCode::SERVICE_UNAVAILABLE.as_u16() {
        SendError::retryable(retry_after, reason)
    } else {
        SendError::ambiguous(reason)
    }
}

/// The error for an HTTP status the provider's own error body did not explain.
pub(crate) fn status_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    detail: &str,
) -> SendError {
    let reason = if detail.is_empty() {
        format!("{provider}: HTTP {status}")
    } else {
        format!("{provider}: HTTP {status}: {detail}")
    };
    match status {
        // Both say the request was not processed: too many, or not received in time.
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            SendError::retryable(retry_after(headers), reason)
        }
        s if s.is_server_error() => server_error(s.as_u16(), retry_after(headers), reason),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
            SendError::permanent(FailureCode::Misconfigured, Some(status.as_u16()), reason)
        }
        _ => SendError::permanent(FailureCode::Provider, Some(status.as_u16()), reason),
    }
}

/// Cuts a provider's text to a length fit for a log line or an error column.
pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds() {
        assert_eq!(retry_after(&headers("120")), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&headers(" 0 ")), Some(Duration::ZERO));
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&headers("-5")), None);
    }

    #[test]
    fn retry_after_reads_an_http_date() {
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        let wait = retry_after(&headers(&httpdate::fmt_http_date(in_a_minute))).unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn statuses_without_a_provider_error_are_classified() {
        let none = HeaderMap::new();
        assert_eq!(
            status_error("x", StatusCode::TOO_MANY_REQUESTS, &headers("7"), "").retry_after(),
            Some(Duration::from_secs(7))
        );
        assert!(status_error("x", StatusCode::SERVICE_UNAVAILABLE, &none, "").is_retryable());
        for maybe_sent in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::GATEWAY_TIMEOUT,
        ] {
            assert!(
                status_error("x", maybe_sent, &none, "").is_ambiguous(),
                "{maybe_sent}"
            );
        }
        assert!(status_error("x", StatusCode::REQUEST_TIMEOUT, &none, "").is_retryable());
        assert_eq!(
            status_error("x", StatusCode::UNAUTHORIZED, &none, "").code(),
            Some(FailureCode::Misconfigured)
        );
        assert_eq!(
            status_error("x", StatusCode::BAD_REQUEST, &none, "").code(),
            Some(FailureCode::Provider)
        );
    }

    #[test]
    fn the_connect_timeout_is_shorter_than_the_overall_one() {
        assert_eq!(
            connect_timeout(Duration::from_secs(15)),
            Duration::from_secs(5)
        );
        assert_eq!(
            connect_timeout(Duration::from_secs(4)),
            Duration::from_secs(2)
        );
        assert_eq!(
            connect_timeout(Duration::from_millis(600)),
            Duration::from_millis(300)
        );
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let at = |base: &str| {
            endpoint(&Url::parse(base).unwrap(), "v1/x.json")
                .unwrap()
                .to_string()
        };
        assert_eq!(at("https://api.example"), "https://api.example/v1/x.json");
        assert_eq!(at("https://api.example/"), "https://api.example/v1/x.json");
        assert_eq!(
            at("http://127.0.0.1:8080/fake/twilio"),
            "http://127.0.0.1:8080/fake/twilio/v1/x.json"
        );
        assert_eq!(
            at("http://127.0.0.1:8080/fake/?q=1"),
            "http://127.0.0.1:8080/fake/v1/x.json"
        );
    }

    #[test]
    fn truncate_cuts_on_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("héllo", 5), "héllo");
    }
}
