//! Schema-only types (server builds, `openapi` feature): value sets too large or too
//! generated to write in an attribute, each one named component of the OpenAPI document.
//! Fields point at them with `#[schema(value_type = ...)]`; their Rust type stays `String`.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::text;

/// A customer tag. The server lower-cases it and removes surrounding spaces.
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A customer tag: 1 to 40 characters, letters or digits of any script (Basic \
                 Multilingual Plane), `-`, `_` and spaces, not only spaces. The server \
                 lower-cases it and removes surrounding spaces, so `VIP ` and `vip` are the \
                 same tag.",
            ))
            .min_length(Some(1))
            .max_length(Some(text::TAG_MAX_CHARS))
            .pattern(Some(text::tag_pattern()))
            .examples([json!("vip")])
            .into()
    }
}

impl utoipa::ToSchema for Tag {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Tag")
    }
}

/// Every IANA time zone name the server knows (links such as `US/Pacific` included).
pub struct TimeZoneName;

impl utoipa::PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        let mut names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        names.sort_unstable();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An IANA time zone name, exactly as in the tz database (case matters), e.g. \
                 `Europe/Berlin`. Dates, birthdays and schedules are read in it.",
            ))
            .enum_values(Some(names))
            .examples([json!("Europe/Berlin")])
            .into()
    }
}

impl utoipa::ToSchema for TimeZoneName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TimeZoneName")
    }
}

/// Every country national phone numbers can be read for.
pub struct CountryCode;

/// The ISO 3166-1 alpha-2 codes the phone number library reads numbers for: every
/// two-letter upper-case code it parses, so the list is the library's own.
pub fn country_codes() -> Vec<String> {
    let letters = b'A'..=b'Z';
    letters
        .clone()
        .flat_map(|a| {
            letters
                .clone()
                .map(move |b| String::from_utf8_lossy(&[a, b]).into_owned())
        })
        .filter(|code| code.parse::<phonenumber::country::Id>().is_ok())
        .collect()
}

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An ISO 3166-1 alpha-2 country code in capitals, e.g. `US` or `DE`: the \
                 country national phone numbers (those without `+`) are read in.",
            ))
            .enum_values(Some(country_codes()))
            .examples([json!("US")])
            .into()
    }
}

impl utoipa::ToSchema for CountryCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CountryCode")
    }
}

/// A Messenger message: [`crate::TextContent`] with Messenger's shorter limit.
pub struct MessengerContent;

impl utoipa::PartialSchema for MessengerContent {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::AdditionalProperties;
        let text = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("The message, a template of up to 2,000 characters."))
            .min_length(Some(1))
            .max_length(Some(2000))
            .pattern(Some(text::TEMPLATE));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A Facebook Messenger message. Unknown fields are refused (400).",
            ))
            .property("text", text)
            .required("text")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .into()
    }
}

impl utoipa::ToSchema for MessengerContent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MessengerContent")
    }
}
