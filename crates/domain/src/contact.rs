//! Contact data as domain types: a phone number is E.164, an email address is valid and
//! lower-cased. Requests are parsed into these at the edge.

use std::fmt;

use crate::validation::FieldIssue;

/// A phone number in E.164 form, e.g. `+14155550123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Reads an international number, or a national one in `default_country`.
    pub fn parse(
        input: &str,
        default_country: phonenumber::country::Id,
    ) -> Result<Self, FieldIssue> {
        let input = input.trim();
        if input.is_empty() {
            return Err(FieldIssue::new("required", "must not be blank"));
        }
        if input.len() > 32 {
            return Err(FieldIssue::new("invalid_phone", "is not a phone number"));
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

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, FieldIssue> {
        let input = input.trim();
        if input.is_empty() {
            return Err(FieldIssue::new("required", "must not be blank"));
        }
        if input.len() > 254 {
            return Err(FieldIssue::new(
                "invalid_email",
                "is too long for an email address",
            ));
        }
        let lowered = input.to_lowercase();
        let parsed = email_address::EmailAddress::parse_with_options(
            &lowered,
            email_address::Options::default().without_display_text(),
        )
        .map_err(|_| FieldIssue::new("invalid_email", "is not an email address"))?;
        // A domain without a dot (user@localhost) is legal but never a customer's address.
        if !parsed.domain().contains('.') {
            return Err(FieldIssue::new("invalid_email", "is not an email address"));
        }
        Ok(Email(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
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
        for input in ["", "hello", "+1 555", "12", "+999 123 456 789"] {
            assert!(Phone::parse(input, Id::US).is_err(), "{input} parsed");
        }
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Ann.Lee@Example.COM ").map(Email::into_inner),
            Ok("ann.lee@example.com".to_owned())
        );
        for input in [
            "",
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
