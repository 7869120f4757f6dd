//! JSON request bodies, read as the OpenAPI document describes them.
//!
//! The document's schemas are JSON Schema, in which `3.0` is an integer as much as `3` is;
//! serde refuses a number with a fraction part for an integer field, so a client that writes
//! whole numbers as floats (many JSON encoders do) would be refused for a valid request. The
//! body is read as a JSON value first, numbers that are whole and in range become integers,
//! and then it is read as the request type. A body is at most `max_json_bytes` and must be
//! sent as `application/json` (or a `+json` type).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};

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
            parse(&bytes).map(Json)
        })
    }
}

/// Reads a JSON document as `T`, whole numbers written with a fraction part included.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("The body is not valid JSON: {e}.")))?;
    whole_numbers_as_integers(&mut value);
    serde_json::from_value(value)
        .map_err(|e| ApiError::BadRequest(format!("The JSON body does not fit: {e}.")))
}

/// `3.0` becomes `3` wherever it stands, when it fits a 64-bit integer exactly.
fn whole_numbers_as_integers(value: &mut Value) {
    // An explicit stack: a body may nest as deep as serde_json allows.
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Number(n) if n.is_f64() => {
                if let Some(whole) = n.as_f64().and_then(whole) {
                    *n = whole;
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

/// Whole floats up to 2^53 in magnitude, where every integer has its own float: beyond it a
/// float may be an integer literal too large for 64 bits that serde_json read as a float
/// (`-9223372036854775809` reads as -2^63), and taking it would accept a number out of range.
fn whole(f: f64) -> Option<Number> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.fract() != 0.0 || !f.is_finite() || f.abs() > EXACT {
        return None;
    }
    Some(Number::from(f as i64))
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
        assert!(parse::<Value>(deep.as_bytes()).is_err());
    }
}
