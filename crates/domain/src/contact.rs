//! Contact data as domain types: a phone number is E.164, an email address is valid and
//! lower-cased. Requests are parsed into these at the edge.

use std::fmt;

use crate::validation::FieldIssue;

/// A phone number in E.164 form, e.g. `+14155550123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// The most characters a phone number may be sent with (the document's maxLength).
    pub const MAX_CHARS: usize = 32;

    /// Reads an international number, or a national one in `default_country`. The length
    /// limit counts the text as sent; surrounding whitespace is then ignored.
    pub fn parse(
        input: &str,
        default_country: phonenumber::country::Id,
    ) -> Result<Self, FieldIssue> {
        if input.chars().count() > Self::MAX_CHARS {
            return Err(FieldIssue::new(
                "invalid_phone",
                format!(
                    "is too long for a phone number (at most {} characters)",
                    Self::MAX_CHARS
                ),
            ));
        }
        let input = input.trim();
        if input.is_empty() {
            return Err(FieldIssue::new("required", "must not be blank"));
        }
        let number = phonenumber::parse(Some(default_country), input)
            .map_err(|_| FieldIssue::new("invalid_phone", "is not a phone number"))?;
        if !phonenumber::is_valid(&number) {
            return Err(FieldIssue::new(
                "invalid_phone",
                "is not a valid phone number for its country",
            ));
        }
        Ok(Phone(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid email address, lower-cased.
///
/// What is accepted is a subset of what JSON Schema's `email` format accepts (the document
/// declares that format), so nothing the document calls invalid gets in: the address as sent,
/// with no surrounding whitespace and no display name (`Ann <ann@example.com>`), ASCII only
/// (the format's checkers refuse internationalised addresses, and so do most mail
/// providers), at most 254 characters, and a host name with a dot for the domain
/// (`user@localhost` is legal but never a customer's address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The most characters an address may have (RFC 5321's path limit less the brackets).
    pub const MAX_CHARS: usize = 254;

    pub fn parse(input: &str) -> Result<Self, FieldIssue> {
        if input.is_empty() {
            return Err(FieldIssue::new("required", "must not be blank"));
        }
        if input.len() > Self::MAX_CHARS {
            return Err(FieldIssue::new(
                "invalid_email",
                "is too long for an email address",
            ));
        }
        if !input.is_ascii() {
            return Err(FieldIssue::new(
                "invalid_email",
                "must be written in ASCII (internationalised addresses are not supported)",
            ));
        }
        if input.trim() != input {
            return Err(FieldIssue::new(
                "invalid_email",
                "must not have spaces around it",
            ));
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            input,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|_| FieldIssue::new("invalid_email", "is not an email address"))?;
        if !is_host_name(parsed.domain()) {
            return Err(FieldIssue::new(
                "invalid_email",
                "is not an email address: the domain must be a host name such as example.com",
            ));
        }
        Ok(Email(input.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A host name with at least two labels: letters, digits and inner hyphens, 1-63 characters
/// each (RFC 1123). The email parser alone takes any atom (`a@b_c.d`, `a@[10.0.0.1]`), which
/// the `email` format refuses and no mailbox provider hands out.
fn is_host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id;

    #[test]
    fn national_numbers_are_read_in_the_default_country() {
        assert_eq!(
            Phone::parse("(415) 555-2671", Id::US).map(Phone::into_inner),
            Ok("+14155552671".to_owned())
        );
        assert_eq!(
            Phone::parse("030 901820", Id::DE).map(Phone::into_inner),
            Ok("+4930901820".to_owned())
        );
    }

    #[test]
    fn international_numbers_keep_their_country() {
        assert_eq!(
            Phone::parse("+44 20 7946 0958", Id::US).map(Phone::into_inner),
            Ok("+442079460958".to_owned())
        );
    }

    #[test]
    fn nonsense_is_not_a_phone_number() {
        for input in ["", "  ", "hello", "+1 555", "12", "+999 123 456 789"] {
            assert!(Phone::parse(input, Id::US).is_err(), "{input} parsed");
        }
        // The limit counts the number as sent, surrounding spaces included.
        let padded = format!("{:>33}", "+14155552671");
        assert!(Phone::parse(&padded, Id::US).is_err());
        assert!(Phone::parse(&padded[1..], Id::US).is_ok());
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse("Ann.Lee@Example.COM").map(Email::into_inner),
            Ok("ann.lee@example.com".to_owned())
        );
        assert_eq!(
            Email::parse("o'neil+news@mail.example.co.uk").map(Email::into_inner),
            Ok("o'neil+news@mail.example.co.uk".to_owned())
        );
        for input in [
            "",
            " ann@example.com",
            "ann@example.com ",
            "zoë@example.com",
            "ann@exämple.com",
            "ann@b_c.example",
            "ann@-b.example",
            "ann@[10.0.0.1]",
            "ann",
            "ann@",
            "@example.com",
            "ann@localhost",
            "Ann <ann@example.com>",
        ] {
            assert!(Email::parse(input).is_err(), "{input} parsed");
        }
    }
}
