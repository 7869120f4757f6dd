//! JSON request bodies, read as the OpenAPI document describes them.
//!
//! The document's schemas are JSON Schema, in which `3.0` is an integer as much as `3` is;
//! serde refuses a number with a fraction part for an integer field, so a client that writes
//! whole numbers as floats (many JSON encoders do) would be refused for a valid request.
//! Before the body is read as the request type, every number literal that is exactly a whole
//! number in 64-bit range is written as an integer. A body is at most `max_json_bytes` and
//! must be sent as `application/json` (or a `+json` type).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The largest JSON body when no configuration is at hand (the configured default).
const DEFAULT_LIMIT: usize = 256 * 1024;

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = <web::Payload as FromRequest>::from_request(&req, payload);
        Box::pin(async move {
            let payload = payload
                .await
                .map_err(|e| ApiError::BadRequest(format!("The body could not be read: {e}.")))?;
            let is_json = crate::body::media_type(&req).is_some_and(|(essence, _)| {
                essence == "application/json" || essence.ends_with("+json")
            });
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "Send the body as application/json.".to_owned(),
                ));
            }
            let limit = req
                .app_data::<web::Data<AppState>>()
                .map_or(DEFAULT_LIMIT, |state| state.config.max_json_bytes);
            let bytes = crate::body::read(&req, payload, limit, || {
                format!(
                    "The JSON body is too large (at most {}).",
                    crate::body::size(limit)
                )
            })
            .await?;
            // Every body of the API is an object: serde would also read a struct from an
            // array of its fields in order (`[null, null]`), which no schema allows.
            if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return Err(ApiError::BadRequest(
                    "The body must be a JSON object.".to_owned(),
                ));
            }
            parse(&bytes).map(Json)
        })
    }
}

/// Reads a JSON document as `T`, whole numbers written with a fraction part or an exponent
/// included.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = whole_numbers_as_integers(bytes);
    serde_json::from_slice(&text)
        .map_err(|e| ApiError::BadRequest(format!("The JSON body does not fit: {e}.")))
}

/// The document with every number literal that is exactly a whole number in 64-bit range
/// written as an integer (`3.0`, `1e3`, `-2.50e1`). The text is read exactly, so `0.999…9`
/// stays a fraction however many nines it has. Strings and everything else are left as they
/// are, so an invalid document stays invalid.
fn whole_numbers_as_integers(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string, escapes included.
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &bytes[start..i];
                if token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'))
                    && let Some(whole) = exact_integer(token)
                {
                    let buffer = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                    buffer.extend_from_slice(&bytes[copied..start]);
                    buffer.extend_from_slice(whole.to_string().as_bytes());
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(bytes),
        Some(mut buffer) => {
            buffer.extend_from_slice(&bytes[copied..]);
            Cow::Owned(buffer)
        }
    }
}

/// The integer a JSON number literal stands for exactly, if it is whole and fits 64 bits
/// (signed, or unsigned for the positive half).
fn exact_integer(token: &[u8]) -> Option<i128> {
    let text = std::str::from_utf8(token).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // The value is `digits` × 10^shift.
    let digits = format!("{whole}{fraction}");
    let shift = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Some(0);
    }
    let integer = if shift >= 0 {
        // 20 digits already pass u64::MAX; nothing is built for 1e999999.
        if significant.len() as i64 + shift > 20 {
            return None;
        }
        let zeros = usize::try_from(shift).ok()?;
        format!("{significant}{}", "0".repeat(zeros))
    } else {
        let cut = usize::try_from(-shift).ok()?;
        if cut >= digits.len() {
            return None;
        }
        let (kept, dropped) = digits.split_at(digits.len() - cut);
        if !dropped.bytes().all(|b| b == b'0') {
            return None;
        }
        let kept = kept.trim_start_matches('0');
        if kept.len() > 20 {
            return None;
        }
        if kept.is_empty() {
            return Some(0);
        }
        kept.to_owned()
    };
    let value: i128 = integer.parse().ok()?;
    let value = if negative { -value } else { value };
    (i128::from(i64::MIN)..=i128::from(u64::MAX))
        .contains(&value)
        .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Counts {
        visits: i32,
        points: i64,
        nested: Vec<u32>,
    }

    #[test]
    fn whole_numbers_written_as_floats_are_integers() {
        let read: Result<Counts, _> =
            parse(br#"{"visits": 3.0, "points": -1e3, "nested": [1.0, 2]}"#);
        assert_eq!(
            read.ok(),
            Some(Counts {
                visits: 3,
                points: -1000,
                nested: vec![1, 2]
            })
        );
    }

    #[test]
    fn fractions_and_numbers_out_of_range_are_still_refused() {
        for body in [
            &br#"{"visits": 3.5, "points": 0, "nested": []}"#[..],
            br#"{"visits": 1, "points": 1e19, "nested": []}"#,
            br#"{"visits": 1e10, "points": 0, "nested": []}"#,
            br#"{"visits": 1, "points": 0, "nested": [-1.0]}"#,
            // One past i64::MIN: serde_json reads it as a float that would round to i64::MIN.
            br#"{"visits": 1, "points": -9223372036854775809, "nested": []}"#,
            br#"{"visits": 1, "points": 9223372036854775808, "nested": []}"#,
        ] {
            assert!(
                parse::<Counts>(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse::<serde_json::Value>(deep.as_bytes()).is_err());
    }

    #[test]
    fn a_literal_is_read_exactly() {
        let read = |t: &str| exact_integer(t.as_bytes());
        assert_eq!(read("3.0"), Some(3));
        assert_eq!(read("-2.50e1"), Some(-25));
        assert_eq!(read("1e3"), Some(1000));
        assert_eq!(read("0.0"), Some(0));
        assert_eq!(read("120E-1"), Some(12));
        assert_eq!(read("0.00123e5"), Some(123));
        assert_eq!(read("1.5"), None);
        assert_eq!(read(&format!("0.{}", "9".repeat(200))), None);
        assert_eq!(read("1e999999"), None);
        assert_eq!(read("1e-999999"), None);
        assert_eq!(read("18446744073709551615.0"), Some(i128::from(u64::MAX)));
        assert_eq!(read("18446744073709551616.0"), None);
        assert_eq!(read("-9223372036854775808.0"), Some(i128::from(i64::MIN)));
        assert_eq!(read("-9223372036854775809.0"), None);
        // Strings are not touched, nor are integers.
        let text = br#"{"a": "3.0", "b": 3.0, "c": 7}"#;
        assert_eq!(
            whole_numbers_as_integers(text).as_ref(),
            &br#"{"a": "3.0", "b": 3, "c": 7}"#[..]
        );
    }
}
