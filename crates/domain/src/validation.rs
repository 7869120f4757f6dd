//! Collecting per-field errors, so a request reports everything wrong with it at once.

use loyalcast_dto::FieldError;
use loyalcast_dto::text::{TAG_MAX_CHARS, is_tag_letter};

/// The per-field errors of one request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for FieldErrors {}

/// A collector of field errors: parse each field, keep what parsed, remember what did not.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// Keeps the value of a parse that succeeded; records the error of one that did not.
    pub fn check<T>(&mut self, field: &str, result: Result<T, FieldIssue>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(issue) => {
                self.push(field, issue.code, issue.message);
                None
            }
        }
    }

    /// A required single-line text of at most `max` characters, trimmed (see
    /// [`required_text`]).
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        self.check(field, required_text(value, max))
    }

    /// A single-line text of at most `max` characters that may be blank, trimmed (see
    /// [`line_text`]).
    pub fn line(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        self.check(field, line_text(value, max))
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `Ok(())` when every field parsed.
    pub fn finish(self) -> Result<(), FieldErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(FieldErrors(self.errors))
        }
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    /// The errors so far.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }
}

/// Why one value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    pub code: &'static str,
    pub message: String,
}

impl FieldIssue {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FieldIssue {
            code,
            message: message.into(),
        }
    }
}

/// A single-line text: at most `max` characters counted as sent (surrounding whitespace
/// included, so that the limit is the one the OpenAPI document declares), no control
/// characters anywhere; returned trimmed, possibly empty. The document's pattern is
/// [`loyalcast_dto::text::LINE`].
pub fn line_text(value: &str, max: usize) -> Result<String, FieldIssue> {
    if value.chars().count() > max {
        return Err(FieldIssue::new(
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldIssue::new(
            "invalid_characters",
            "must be one line without control characters (tabs, line breaks)",
        ));
    }
    Ok(value.trim().to_owned())
}

/// A required single-line text: as [`line_text`], and not blank. The document's pattern is
/// [`loyalcast_dto::text::REQUIRED_LINE`].
pub fn required_text(value: &str, max: usize) -> Result<String, FieldIssue> {
    if value.trim().is_empty() {
        return Err(FieldIssue::new("required", "must not be blank"));
    }
    line_text(value, max)
}

/// A colour as `#rrggbb`, lower-cased. Not trimmed: the document's pattern
/// ([`loyalcast_dto::text::COLOUR`]) allows nothing around it.
pub fn hex_colour(value: &str) -> Result<String, FieldIssue> {
    let valid = value.len() == 7
        && value.starts_with('#')
        && value[1..].chars().all(|c| c.is_ascii_hexdigit());
    if valid {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(FieldIssue::new(
            "invalid_colour",
            "must be a colour like #1a2b3c",
        ))
    }
}

/// An IANA time zone name such as `Europe/Berlin`, exactly as the tz database spells it (the
/// document lists them all as an enum, so no trimming or case folding here).
pub fn time_zone(value: &str) -> Result<chrono_tz::Tz, FieldIssue> {
    value.parse::<chrono_tz::Tz>().map_err(|_| {
        FieldIssue::new(
            "invalid_time_zone",
            "must be an IANA time zone such as Europe/Berlin",
        )
    })
}

/// An ISO 3166-1 alpha-2 country code, in capitals, that phone numbers can be read for (the
/// document lists them all as an enum, so no trimming or case folding here).
pub fn country(value: &str) -> Result<phonenumber::country::Id, FieldIssue> {
    value.parse::<phonenumber::country::Id>().map_err(|_| {
        FieldIssue::new(
            "invalid_country",
            "must be a two-letter country code in capitals, such as US",
        )
    })
}

/// A tag: 1-40 characters as sent, each a letter or digit
/// ([`loyalcast_dto::text::is_tag_letter`]), `-`, `_` or space, not only spaces; returned
/// trimmed and lower-cased. The whole value is checked as sent, so that the document's
/// pattern ([`loyalcast_dto::text::tag_pattern`]) says exactly the same.
pub fn tag(value: &str) -> Result<String, FieldIssue> {
    if value.trim().is_empty() {
        return Err(FieldIssue::new("required", "a tag must not be blank"));
    }
    if value.chars().count() > TAG_MAX_CHARS {
        return Err(FieldIssue::new(
            "too_long",
            format!("a tag must be at most {TAG_MAX_CHARS} characters"),
        ));
    }
    if !value
        .chars()
        .all(|c| is_tag_letter(c) || matches!(c, '-' | '_' | ' '))
    {
        return Err(FieldIssue::new(
            "invalid_tag",
            "a tag may hold letters, digits, spaces, '-' and '_'",
        ));
    }
    Ok(value.trim().to_lowercase())
}

/// Tags, deduplicated, at most 20.
pub fn tags(values: &[String]) -> Result<Vec<String>, FieldIssue> {
    if values.len() > 20 {
        return Err(FieldIssue::new("too_many", "at most 20 tags"));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let parsed = tag(value)?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded_as_sent() {
        assert_eq!(required_text("  Ann ", 10), Ok("Ann".to_owned()));
        // The limit counts the text as sent, surrounding spaces included.
        assert_eq!(
            required_text(" abcde", 5).map_err(|e| e.code),
            Err("too_long")
        );
        assert_eq!(
            required_text("Ann\n", 10).map_err(|e| e.code),
            Err("invalid_characters")
        );
        assert_eq!(line_text("  ", 5), Ok(String::new()));
        assert_eq!(
            line_text("\t", 5).map_err(|e| e.code),
            Err("invalid_characters")
        );
        assert_eq!(
            required_text("   ", 10).map_err(|e| e.code),
            Err("required")
        );
        assert_eq!(
            required_text("abcdef", 5).map_err(|e| e.code),
            Err("too_long")
        );
        assert_eq!(
            required_text("a\u{0}b", 5).map_err(|e| e.code),
            Err("invalid_characters")
        );
    }

    #[test]
    fn colours_must_be_six_hex_digits() {
        assert_eq!(hex_colour("#1A2b3C"), Ok("#1a2b3c".to_owned()));
        assert!(hex_colour("1a2b3c").is_err());
        assert!(hex_colour("#1a2b3").is_err());
        assert!(hex_colour("#1a2b3g").is_err());
        assert!(hex_colour(" #1a2b3c").is_err());
    }

    #[test]
    fn time_zones_and_countries_are_checked() {
        assert!(time_zone("Europe/Berlin").is_ok());
        assert!(time_zone("Mars/Olympus").is_err());
        assert!(country("US").is_ok());
        assert!(country("us").is_err());
        assert!(country(" US").is_err());
        assert!(country("XX").is_err());
        assert!(time_zone(" Europe/Berlin").is_err());
        assert!(time_zone("europe/berlin").is_err());
    }

    #[test]
    fn tags_are_normalised_and_deduplicated() {
        let input = vec![
            "VIP".to_owned(),
            "vip ".to_owned(),
            "coffee-lover".to_owned(),
        ];
        assert_eq!(
            tags(&input),
            Ok(vec!["coffee-lover".to_owned(), "vip".to_owned()])
        );
        assert!(tags(&["no;semicolons".to_owned()]).is_err());
        assert!(tags(&["\tvip".to_owned()]).is_err());
        assert_eq!(
            tags(&["Stammgäste".to_owned()]),
            Ok(vec!["stammgäste".to_owned()])
        );
        assert_eq!(
            tag(&format!(" {}", "x".repeat(40))).map_err(|e| e.code),
            Err("too_long")
        );
        assert!(tags(&vec!["x".to_owned(); 21]).is_err());
    }

    #[test]
    fn fields_collect_every_error() {
        let mut fields = Fields::new();
        assert_eq!(fields.text("name", " ", 10), None);
        assert_eq!(fields.text("city", "Oslo", 10), Some("Oslo".to_owned()));
        fields.check::<()>("colour", Err(FieldIssue::new("invalid_colour", "bad")));
        let errors = fields.finish().err().map(|e| e.0).unwrap_or_default();
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["name", "colour"]);
    }

    /// Every character of Unicode (surrogates aside), alone and in the places that matter:
    /// first, last, between letters, among spaces.
    fn samples() -> impl Iterator<Item = String> {
        (0..=0x10FFFFu32).filter_map(char::from_u32).flat_map(|c| {
            [
                c.to_string(),
                format!("a{c}"),
                format!("{c}a"),
                format!("a{c}b"),
                format!(" {c} "),
                format!("{c}{c}"),
            ]
        })
    }

    fn pattern(source: &str) -> regex::Regex {
        regex::Regex::new(source).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    #[test]
    fn the_documented_text_patterns_are_the_validation() {
        let required = pattern(loyalcast_dto::text::REQUIRED_LINE);
        let line = pattern(loyalcast_dto::text::LINE);
        for text in samples().chain(["".to_owned(), "   ".to_owned()]) {
            assert_eq!(
                required.is_match(&text),
                required_text(&text, 10).is_ok(),
                "required text {text:?}"
            );
            assert_eq!(
                line.is_match(&text),
                line_text(&text, 10).is_ok(),
                "line {text:?}"
            );
        }
    }

    #[test]
    fn the_documented_tag_pattern_is_the_validation() {
        let tag_pattern = pattern(&loyalcast_dto::text::tag_pattern());
        for text in samples().chain(["".to_owned(), "   ".to_owned(), "vip club".to_owned()]) {
            assert_eq!(
                tag_pattern.is_match(&text),
                tag(&text).is_ok(),
                "tag {text:?}"
            );
        }
        // The length limit is the document's maxLength, counted the same way.
        assert!(tag(&"é".repeat(TAG_MAX_CHARS)).is_ok());
        assert!(tag(&"é".repeat(TAG_MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn the_documented_colour_pattern_is_the_validation() {
        let colour = pattern(loyalcast_dto::text::COLOUR);
        for text in [
            "#1a2b3c",
            "#1A2B3C",
            "#000000",
            "1a2b3c",
            "#1a2b3",
            "#1a2b3c4",
            "#1a2b3g",
            " #1a2b3c",
            "#1a2b3c ",
            "#١٢٣٤٥٦",
            "",
            "#",
        ] {
            assert_eq!(colour.is_match(text), hex_colour(text).is_ok(), "{text:?}");
        }
    }
}
