//! Collecting per-field errors, so a request reports everything wrong with it at once.

use loyalcast_dto::FieldError;

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

    /// A required, trimmed, single-line text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        self.check(field, required_text(value, max))
    }

    /// An optional text: blank becomes `None`.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => self.check(field, required_text(v, max)),
        }
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

pub fn required_text(value: &str, max: usize) -> Result<String, FieldIssue> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldIssue::new("required", "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(FieldIssue::new(
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldIssue::new(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A colour as `#rrggbb`, lower-cased.
pub fn hex_colour(value: &str) -> Result<String, FieldIssue> {
    let value = value.trim();
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

/// An IANA time zone name such as `Europe/Berlin`.
pub fn time_zone(value: &str) -> Result<chrono_tz::Tz, FieldIssue> {
    value.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        FieldIssue::new(
            "invalid_time_zone",
            "must be an IANA time zone such as Europe/Berlin",
        )
    })
}

/// An ISO 3166-1 alpha-2 country code that phone numbers can be read for.
pub fn country(value: &str) -> Result<phonenumber::country::Id, FieldIssue> {
    value
        .trim()
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
        .map_err(|_| {
            FieldIssue::new(
                "invalid_country",
                "must be a two-letter country code such as US",
            )
        })
}

/// A tag: trimmed, lower-cased, 1-40 characters of letters, digits, `-`, `_` or space.
pub fn tag(value: &str) -> Result<String, FieldIssue> {
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        return Err(FieldIssue::new("required", "a tag must not be blank"));
    }
    if value.chars().count() > 40 {
        return Err(FieldIssue::new(
            "too_long",
            "a tag must be at most 40 characters",
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
    {
        return Err(FieldIssue::new(
            "invalid_tag",
            "a tag may hold letters, digits, spaces, '-' and '_'",
        ));
    }
    Ok(value)
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
    fn text_is_trimmed_and_bounded() {
        assert_eq!(required_text("  Ann ", 10), Ok("Ann".to_owned()));
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
    }

    #[test]
    fn time_zones_and_countries_are_checked() {
        assert!(time_zone("Europe/Berlin").is_ok());
        assert!(time_zone("Mars/Olympus").is_err());
        assert!(country("us").is_ok());
        assert!(country("XX").is_err());
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
}
