//! What the HTTP adapters share: the client, `Retry-After`, and errors that never show a URL.
//! Internal to the crate.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use url::Url;

use crate::error::{BuildError, FailureCode, SendError};

/// How long one provider request may take, connection included, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds the HTTP client of an adapter: rustls, a timeout, no redirects (a provider API
/// that redirects a POST is misconfigured, and following it could leak credentials).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
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

/// A request that got no HTTP answer: the provider may or may not have the message, and
/// trying again is the only way forward. reqwest's own text names the URL, which holds
/// the token for Telegram and Messenger, so only the kind of failure is kept.
pub(crate) fn transport_error(provider: &str, error: &reqwest::Error) -> SendError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "answer could not be read"
    } else {
        "request failed"
    };
    SendError::retryable(None, format!("{provider}: {what}"))
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
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            SendError::retryable(retry_after(headers), reason)
        }
        s if s.is_server_error() => SendError::retryable(retry_after(headers), reason),
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
        assert!(status_error("x", StatusCode::BAD_GATEWAY, &none, "").is_retryable());
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
