//! How timestamps, dates and ids travel, and what `null` may mean.
//!
//! On the way in the readers are exactly as strict as the OpenAPI formats they are declared
//! with (`date-time` is RFC 3339, `date` is `YYYY-MM-DD`, `uuid` is the hyphenated form), so
//! that a value the document calls valid is accepted and one it calls invalid is refused:
//! chrono and uuid on their own also take `2024-1-1`, a space for the `T`, surrounding
//! blanks, braced or hyphen-less ids. On the way out a timestamp carries at most
//! microseconds, since many client parsers refuse more fractional digits than six.
//!
//! Use with `#[serde(with = "...")]`:
//! - [`strict`] for a required value, [`strict::nullable`] where `null` means "none",
//!   [`strict::non_null`] where the field may be left out but `null` is refused, and
//!   [`strict::double_option`] for a patch where `null` clears the value;
//! - [`non_null`] and [`double_option`] are the same two rules for any other serde type.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// The message for an explicit `null` where the field can only be left out.
const NULL_REFUSED: &str =
    "`null` is not accepted for this field: leave the field out instead, or send a value";

/// A value written as a string in one strict form.
pub trait Wire: Sized {
    /// What the reader expects, for the error message.
    const EXPECTING: &'static str;
    fn parse(text: &str) -> Result<Self, String>;
    fn write(&self) -> String;
}

impl Wire for DateTime<Utc> {
    const EXPECTING: &'static str =
        "an RFC 3339 date and time such as 2026-11-29T14:30:00Z or 2026-11-29T15:30:00+01:00";

    fn parse(text: &str) -> Result<Self, String> {
        parse_timestamp(text).ok_or_else(|| format!("expected {}", Self::EXPECTING))
    }

    fn write(&self) -> String {
        write_timestamp(self)
    }
}

impl Wire for NaiveDate {
    const EXPECTING: &'static str = "a date as YYYY-MM-DD, e.g. 1990-04-12";

    fn parse(text: &str) -> Result<Self, String> {
        parse_date(text).ok_or_else(|| format!("expected {}", Self::EXPECTING))
    }

    fn write(&self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
}

impl Wire for Uuid {
    const EXPECTING: &'static str =
        "an id in its hyphenated form, e.g. 0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";

    fn parse(text: &str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let hyphenated = bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        hyphenated
            .then(|| Uuid::parse_str(text).ok())
            .flatten()
            .ok_or_else(|| format!("expected {}", Self::EXPECTING))
    }

    fn write(&self) -> String {
        self.hyphenated().to_string()
    }
}

/// Two ASCII digits at `at`, as a number.
fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 2)? {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
        }
        _ => None,
    }
}

/// `YYYY-MM-DD` exactly (RFC 3339 `full-date`), a real day of the proleptic Gregorian calendar.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = two_digits(bytes, 0)? * 100 + two_digits(bytes, 2)?;
    let year = i32::try_from(year).ok()?;
    NaiveDate::from_ymd_opt(year, two_digits(bytes, 5)?, two_digits(bytes, 8)?)
}

/// RFC 3339 `date-time` (section 5.6), as JSON Schema's `date-time` format reads it: `T` or
/// `t` between date and time, any number of fractional digits, `Z`, `z` or a `±hh:mm` offset,
/// and a leap second (`:60`) only where the time is 23:59 in UTC. A leap second is read as the
/// first instant of the next minute, as PostgreSQL reads it.
fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let date = parse_date(text.get(..10)?)?;
    if !matches!(bytes.get(10), Some(b'T' | b't'))
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    let (hour, minute, second) = (
        two_digits(bytes, 11)?,
        two_digits(bytes, 14)?,
        two_digits(bytes, 17)?,
    );
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos = 0u32;
    if bytes.get(at) == Some(&b'.') {
        let digits = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        // Digits past the ninth are below a nanosecond: read, and dropped.
        for (i, b) in bytes[at + 1..at + 1 + digits.min(9)].iter().enumerate() {
            nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
        }
        at += 1 + digits;
    }
    let offset_minutes: i32 = match bytes.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (two_digits(bytes, at + 1)?, two_digits(bytes, at + 4)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = i32::try_from(hours * 60 + minutes).ok()?;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let local_minutes = i32::try_from(hour * 60 + minute).ok()?;
    let leap = second == 60;
    if leap && (local_minutes - offset_minutes).rem_euclid(24 * 60) != 23 * 60 + 59 {
        return None;
    }
    let local = date.and_hms_nano_opt(hour, minute, if leap { 59 } else { second }, nanos)?;
    let utc = local - Duration::minutes(i64::from(offset_minutes));
    let utc = if leap {
        utc + Duration::seconds(1)
    } else {
        utc
    };
    Some(utc.and_utc())
}

/// RFC 3339 in UTC with exactly six fractional digits, truncated (never rounded into the next
/// second). An instant whose UTC year falls outside 0000-9999 (reachable from a valid input
/// such as `9999-12-31T23:00:00-05:00`) is written with the largest offset that brings it
/// back into range, so that what is written is still RFC 3339.
fn write_timestamp(at: &DateTime<Utc>) -> String {
    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";
    let micros = at.nanosecond() % 1_000_000_000 / 1_000 * 1_000;
    let at = at.with_nanosecond(micros).unwrap_or(*at);
    if (0..=9999).contains(&at.year()) {
        return format!("{}Z", at.format(FORMAT));
    }
    let most = 23 * 3600 + 59 * 60;
    let offset = if at.year() > 9999 {
        FixedOffset::west_opt(most)
    } else {
        FixedOffset::east_opt(most)
    };
    match offset.map(|o| at.with_timezone(&o)) {
        Some(local) if (0..=9999).contains(&local.year()) => {
            local.format(&format!("{FORMAT}%:z")).to_string()
        }
        // Not representable in RFC 3339 at all; never produced from accepted input.
        _ => at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    }
}

/// Reads one [`Wire`] value from a JSON string.
struct WireVisitor<T>(std::marker::PhantomData<T>);

impl<T: Wire> Visitor<'_> for WireVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        T::parse(value).map_err(E::custom)
    }
}

/// A [`Wire`] value as a serde value.
struct Strict<T>(T);

impl<'de, T: Wire> Deserialize<'de> for Strict<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(WireVisitor(std::marker::PhantomData))
            .map(Strict)
    }
}

struct StrictRef<'a, T>(&'a T);

impl<T: Wire> Serialize for StrictRef<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.write())
    }
}

/// A required [`Wire`] value.
pub mod strict {
    use super::*;

    pub fn serialize<T: Wire, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        StrictRef(value).serialize(serializer)
    }

    pub fn deserialize<'de, T: Wire, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        Strict::<T>::deserialize(deserializer).map(|s| s.0)
    }

    /// `null` (or, with `#[serde(default)]`, absence) means "none".
    pub mod nullable {
        use super::super::*;

        pub fn serialize<T: Wire, S: Serializer>(
            value: &Option<T>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            value.as_ref().map(StrictRef).serialize(serializer)
        }

        pub fn deserialize<'de, T: Wire, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<T>, D::Error> {
            Option::<Strict<T>>::deserialize(deserializer).map(|v| v.map(|s| s.0))
        }
    }

    /// May be left out (with `#[serde(default, skip_serializing_if = "Option::is_none")]`);
    /// an explicit `null` is refused.
    pub mod non_null {
        use super::super::*;

        pub fn serialize<T: Wire, S: Serializer>(
            value: &Option<T>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            value.as_ref().map(StrictRef).serialize(serializer)
        }

        pub fn deserialize<'de, T: Wire, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<T>, D::Error> {
            match Option::<Strict<T>>::deserialize(deserializer)? {
                Some(value) => Ok(Some(value.0)),
                None => Err(de::Error::custom(NULL_REFUSED)),
            }
        }
    }

    /// A patch field (with `#[serde(default, skip_serializing_if = "Option::is_none")]`):
    /// absent is `None` (keep), `null` is `Some(None)` (clear).
    pub mod double_option {
        use super::super::*;

        pub fn serialize<T: Wire, S: Serializer>(
            value: &Option<Option<T>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            value
                .as_ref()
                .and_then(Option::as_ref)
                .map(StrictRef)
                .serialize(serializer)
        }

        pub fn deserialize<'de, T: Wire, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Option<T>>, D::Error> {
            Option::<Strict<T>>::deserialize(deserializer).map(|v| Some(v.map(|s| s.0)))
        }
    }
}

/// May be left out (with `#[serde(default, skip_serializing_if = "Option::is_none")]`); an
/// explicit `null` is refused, because for these fields it would mean nothing.
pub mod non_null {
    use super::*;

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        match Option::<T>::deserialize(deserializer)? {
            Some(value) => Ok(Some(value)),
            None => Err(de::Error::custom(NULL_REFUSED)),
        }
    }
}

/// A patch field (with `#[serde(default, skip_serializing_if = "Option::is_none")]`): absent
/// is `None` (keep), `null` is `Some(None)` (clear).
pub mod double_option {
    use super::*;

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Internally tagged enums (`{"type": "visits", ...}`) read strictly. serde's derived reader
/// takes a variant's index for its name (`"type": 0`) and lets a unit variant carry any other
/// fields; both are schema-invalid and refused here: the tag must be a string, and a unit
/// variant's object holds nothing but its tag. The derive (`#[serde(remote = "Self")]`) does
/// the rest, with `deny_unknown_fields` for the variants that carry fields.
pub mod tagged {
    use serde::de::Error;

    /// Checks `value` as the JSON of a tagged enum whose unit variants are `unit_tags`, then
    /// reads it with `read`.
    pub fn read<'de, D, T>(
        deserializer: D,
        unit_tags: &[&str],
        read: impl FnOnce(serde_json::Value) -> Result<T, serde_json::Error>,
    ) -> Result<T, D::Error>
    where
        D: serde::Deserializer<'de>,
    {
        let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;
        let Some(object) = value.as_object() else {
            return Err(D::Error::custom("expected an object with a `type`"));
        };
        match object.get("type") {
            Some(serde_json::Value::String(tag)) => {
                let other = object.keys().find(|k| *k != "type");
                if let (true, Some(other)) = (unit_tags.contains(&tag.as_str()), other) {
                    return Err(D::Error::custom(format!(
                        "unknown field `{other}`: `{tag}` takes no other field"
                    )));
                }
            }
            Some(_) => return Err(D::Error::custom("`type` must be a string")),
            None => return Err(D::Error::missing_field("type")),
        }
        read(value).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tagged_unions_are_read_as_the_document_describes_them() {
        use crate::{Audience, SegmentRule};
        let rule = |json: &str| serde_json::from_str::<SegmentRule>(json);
        assert!(rule(r#"{"type":"or","rules":[{"type":"birthday_today"}]}"#).is_ok());
        // A variant's index is not its name, at the top and nested.
        assert!(rule(r#"{"type":0,"rules":[]}"#).is_err());
        assert!(rule(r#"{"type":"or","rules":[{"rules":[],"type":0}]}"#).is_err());
        // A field the variant does not have, on a unit variant and on one with fields.
        assert!(rule(r#"{"type":"birthday_today","month":3}"#).is_err());
        assert!(rule(r#"{"type":"birthday_month","month":3,"card_id":"x"}"#).is_err());
        assert!(rule(r#"{"type":"and","rules":[{"type":"and","rules":[],"x":1}]}"#).is_err());
        assert!(rule(r#"{"rules":[]}"#).is_err());
        assert!(rule(r#"[]"#).is_err());
        let audience = |json: &str| serde_json::from_str::<Audience>(json);
        assert_eq!(audience(r#"{"type":"all"}"#).ok(), Some(Audience::All));
        assert!(audience(r#"{"type":"all","segment_id":"x"}"#).is_err());
        assert!(
            audience(r#"{"type":1,"segment_id":"018f3a3c-8c4e-7c1a-9d2b-3f4e5a6b7c8d"}"#).is_err()
        );
        // What is written reads back.
        let written = serde_json::to_string(&SegmentRule::everyone()).unwrap_or_default();
        assert_eq!(written, r#"{"type":"and","rules":[]}"#);
        assert_eq!(rule(&written).ok(), Some(SegmentRule::everyone()));
    }

    use super::*;
    use chrono::TimeZone;

    fn at(text: &str) -> Option<String> {
        DateTime::<Utc>::parse(text).ok().map(|t| t.write())
    }

    #[test]
    fn timestamps_are_written_with_at_most_microseconds() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 29, 14, 30, 5)
            .single()
            .and_then(|t| t.with_nanosecond(123_456_789));
        assert_eq!(
            t.map(|t| t.write()).as_deref(),
            Some("2026-11-29T14:30:05.123456Z")
        );
        // Truncated, not rounded: 999_999_999 ns stays in its second.
        let t = Utc
            .with_ymd_and_hms(2026, 11, 29, 14, 30, 5)
            .single()
            .and_then(|t| t.with_nanosecond(999_999_999));
        assert_eq!(
            t.map(|t| t.write()).as_deref(),
            Some("2026-11-29T14:30:05.999999Z")
        );
        let json = serde_json::to_string(&StrictRef(
            &Utc.timestamp_opt(0, 7).single().unwrap_or_default(),
        ))
        .unwrap_or_default();
        assert_eq!(json, "\"1970-01-01T00:00:00.000000Z\"");
    }

    #[test]
    fn any_rfc_3339_timestamp_is_read() {
        for (input, read) in [
            ("2026-11-29T14:30:05Z", "2026-11-29T14:30:05.000000Z"),
            ("2026-11-29t14:30:05z", "2026-11-29T14:30:05.000000Z"),
            ("2026-11-29T15:30:05+01:00", "2026-11-29T14:30:05.000000Z"),
            ("2026-11-29T14:30:05-00:00", "2026-11-29T14:30:05.000000Z"),
            ("2026-11-29T14:30:05.1Z", "2026-11-29T14:30:05.100000Z"),
            (
                "2026-11-29T14:30:05.123456789123Z",
                "2026-11-29T14:30:05.123456Z",
            ),
            ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000000Z"),
            ("2016-12-31T22:59:60-01:00", "2017-01-01T00:00:00.000000Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000000Z"),
            (
                "9999-12-31T23:00:00-05:00",
                "9999-12-31T04:01:00.000000-23:59",
            ),
            (
                "0000-01-01T00:00:00+01:00",
                "0000-01-01T22:59:00.000000+23:59",
            ),
        ] {
            assert_eq!(at(input).as_deref(), Some(read), "{input}");
            // What is written is read back as the same instant.
            assert_eq!(at(read).as_deref(), Some(read), "{read}");
        }
    }

    #[test]
    fn what_rfc_3339_does_not_allow_is_refused() {
        for input in [
            "",
            "2026-11-29",
            "2026-11-29 14:30:05Z",
            "2026-11-29T14:30:05",
            "2026-11-29T14:30Z",
            "2026-1-29T14:30:05Z",
            "2026-11-29T4:30:05Z",
            " 2026-11-29T14:30:05Z",
            "2026-11-29T14:30:05Z ",
            "2026-11-29T14:30:05.Z",
            "2026-11-29T14:30:05,5Z",
            "2026-11-29T14:30:05+0100",
            "2026-11-29T14:30:05+01",
            "2026-11-29T14:30:05+24:00",
            "2026-11-29T14:30:05+01:60",
            "2026-11-29T24:00:00Z",
            "2026-11-29T14:60:00Z",
            "2026-11-29T14:30:61Z",
            "2026-11-29T14:30:60Z",
            "2026-11-29T23:59:60+01:00",
            "2026-02-30T14:30:05Z",
            "+2026-11-29T14:30:05Z",
            "２026-11-29T14:30:05Z",
        ] {
            assert_eq!(at(input), None, "{input:?} was read");
        }
    }

    #[test]
    fn dates_are_yyyy_mm_dd_only() {
        assert_eq!(
            NaiveDate::parse("1990-04-12").ok(),
            NaiveDate::from_ymd_opt(1990, 4, 12)
        );
        assert_eq!(
            NaiveDate::parse("2000-02-29").ok(),
            NaiveDate::from_ymd_opt(2000, 2, 29)
        );
        assert!(NaiveDate::parse("0000-01-01").is_ok());
        for input in [
            "1990-4-12",
            " 1990-04-12",
            "1990-04-12 ",
            "+1990-04-12",
            "19900412",
            "1900-02-29",
            "1990-00-12",
            "1990-04-31",
            "1990-04-12T00:00:00Z",
        ] {
            assert!(NaiveDate::parse(input).is_err(), "{input:?} was read");
        }
    }

    #[test]
    fn ids_are_hyphenated_only() {
        let id = "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
        assert_eq!(Uuid::parse(id).map(|u| u.write()).as_deref(), Ok(id));
        assert!(Uuid::parse("0193A1B2-7C3D-7E4F-8A9B-0C1D2E3F4A5B").is_ok());
        for input in [
            "0193a1b27c3d7e4f8a9b0c1d2e3f4a5b",
            "{0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b}",
            "urn:uuid:0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
            " 0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
            "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5",
        ] {
            assert!(Uuid::parse(input).is_err(), "{input:?} was read");
        }
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, with = "non_null", skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(
            default,
            with = "strict::double_option",
            skip_serializing_if = "Option::is_none"
        )]
        at: Option<Option<DateTime<Utc>>>,
    }

    #[test]
    fn null_is_refused_where_it_means_nothing_and_clears_where_it_may() {
        let read = |text: &str| serde_json::from_str::<Patch>(text).map_err(|e| e.to_string());
        assert_eq!(read("{}"), Ok(Patch::default()));
        assert!(
            read(r#"{"name": null}"#)
                .err()
                .is_some_and(|e| e.contains("`null` is not accepted"))
        );
        assert_eq!(
            read(r#"{"at": null}"#),
            Ok(Patch {
                name: None,
                at: Some(None)
            })
        );
        assert!(read(r#"{"at": "2026-11-29 14:30:05Z"}"#).is_err());
        let patch = Patch {
            name: Some("Ann".into()),
            at: Some(Some(
                Utc.timestamp_opt(1, 5_000).single().unwrap_or_default(),
            )),
        };
        let json = serde_json::to_string(&patch).unwrap_or_default();
        assert_eq!(json, r#"{"name":"Ann","at":"1970-01-01T00:00:01.000005Z"}"#);
        assert_eq!(read(&json), Ok(patch));
        // Left out fields stay out, so what is written can be read again.
        assert_eq!(
            serde_json::to_string(&Patch::default()).ok().as_deref(),
            Some("{}")
        );
    }
}
