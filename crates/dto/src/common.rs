use serde::{Deserialize, Serialize};

/// An RFC 9457 problem document: every error the API returns has this shape, served as
/// `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A stable URI naming the kind of problem, e.g. `https://loyalcast.dev/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code, repeated from the response.
    #[cfg_attr(feature = "openapi", schema(minimum = 400, maximum = 599))]
    pub status: u16,
    /// What went wrong this time, for a person; absent when the title says it all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Per-field errors, present (and only then) on validation problems (422).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's path in the request body, e.g. `phone` or `rule.rules[1].month`.
    pub field: String,
    /// A machine-readable code, e.g. `invalid_phone`, `required`, `too_long`, `taken`.
    pub code: String,
    /// A sentence for a person.
    pub message: String,
}

/// One page of a list. `page` counts from 1; `per_page` is 1 to 100 (a value out of range is a
/// 400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page, in the list's order; empty past the last page.
    pub items: Vec<T>,
    /// The page returned, from 1.
    pub page: u64,
    /// The page size used (after capping).
    pub per_page: u64,
    /// How many items match in all.
    pub total: u64,
}

/// The channels Loyalcast can reach a customer on: `sms` (to the customer's phone),
/// `email`, `telegram` (to a Telegram chat id) and `messenger` (Facebook Messenger, to a
/// page-scoped id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Text message to the customer's phone; costs SMS credits (one per segment).
    Sms,
    /// Email to the customer's address; costs one email credit each.
    Email,
    /// Telegram message to the customer's chat id; free.
    Telegram,
    /// Facebook Messenger message to the customer's page-scoped id; free.
    Messenger,
}

impl Channel {
    /// Every channel, in the order the dashboard lists them.
    pub const ALL: [Channel; 4] = [
        Channel::Sms,
        Channel::Email,
        Channel::Telegram,
        Channel::Messenger,
    ];

    /// The channel as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Telegram => "telegram",
            Channel::Messenger => "messenger",
        }
    }

    /// The channel's name for a person.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Sms => "SMS",
            Channel::Email => "Email",
            Channel::Telegram => "Telegram",
            Channel::Messenger => "Facebook Messenger",
        }
    }
}
