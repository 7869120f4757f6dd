use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Channel;

/// How a number is compared with the rule's value: `eq`, `ne`, `gt`, `gte`, `lt`, `lte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Equal to the value.
    Eq,
    /// Not equal to the value.
    Ne,
    /// Greater than the value.
    Gt,
    /// Greater than or equal to the value.
    Gte,
    /// Less than the value.
    Lt,
    /// Less than or equal to the value.
    Lte,
}

impl Comparison {
    /// The comparison as a person reads it, e.g. `≥`.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Ne => "≠",
            Comparison::Gt => ">",
            Comparison::Gte => "≥",
            Comparison::Lt => "<",
            Comparison::Lte => "≤",
        }
    }
}

/// A segment rule: conditions over customer fields, combined with `and` / `or` groups.
///
/// Example: `{"type":"and","rules":[{"type":"visits","cmp":"gte","value":5},
/// {"type":"birthday_month","month":3}]}`. Dates are in the merchant's time zone. Groups
/// hold at most 50 rules each and nest at most 4 deep, and a whole rule holds at most 100
/// parts (groups and conditions) of which at most 50 conditions: larger rules are refused
/// (422 `too_many_items`, `too_large`, `too_deep`, `too_many_conditions`) before any count
/// runs. A field a rule does not have is refused (400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    remote = "Self",
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum SegmentRule {
    /// Every rule matches (an empty group matches every customer).
    And {
        /// The rules that must all match, at most 50.
        #[cfg_attr(feature = "openapi", schema(no_recursion, max_items = 50))]
        rules: Vec<SegmentRule>,
    },
    /// At least one rule matches (an empty group matches no customer).
    Or {
        /// The rules of which one must match, at most 50.
        #[cfg_attr(feature = "openapi", schema(no_recursion, max_items = 50))]
        rules: Vec<SegmentRule>,
    },
    /// Number of visits.
    Visits {
        /// How `visits` is compared with `value`.
        cmp: Comparison,
        /// The number of visits to compare with.
        #[cfg_attr(
            feature = "openapi",
            schema(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)
        )]
        value: i64,
    },
    /// Points balance.
    Points {
        /// How `points` is compared with `value`.
        cmp: Comparison,
        /// The points balance to compare with.
        #[cfg_attr(
            feature = "openapi",
            schema(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)
        )]
        value: i64,
    },
    /// Last visit strictly before this day.
    LastVisitBefore {
        /// The day, `YYYY-MM-DD`.
        #[serde(with = "crate::wire::strict")]
        date: NaiveDate,
    },
    /// Last visit on or after this day.
    LastVisitAfter {
        /// The day, `YYYY-MM-DD`.
        #[serde(with = "crate::wire::strict")]
        date: NaiveDate,
    },
    /// Visited within the last N days.
    LastVisitWithinDays {
        /// N, from 1 to 3650 (ten years).
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
        days: u32,
    },
    /// Has not visited for at least N days (or never visited).
    NoVisitForDays {
        /// N, from 1 to 3650 (ten years).
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
        days: u32,
    },
    /// Birthday falls in this month.
    BirthdayMonth {
        /// The month, 1 (January) to 12 (December).
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 12))]
        month: u32,
    },
    /// Birthday is today.
    BirthdayToday,
    /// Birthday falls within the next N days (today included).
    BirthdayWithinDays {
        /// N, from 1 to 366.
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 366))]
        days: u32,
    },
    /// Has this tag.
    HasTag {
        /// The tag; compared lower-cased, surrounding spaces removed.
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Tag))]
        tag: String,
    },
    /// Holds an installed pass of this card.
    HoldsCard {
        /// One of the merchant's cards (another id is 422 `not_found`).
        #[serde(with = "crate::wire::strict")]
        card_id: Uuid,
    },
    /// Has (or has not) a phone number.
    HasPhone {
        /// `true`: has a phone; `false`: has none.
        value: bool,
    },
    /// Has (or has not) an email address.
    HasEmail {
        /// `true`: has an email; `false`: has none.
        value: bool,
    },
    /// Can be reached on this channel: contact data present and consent given.
    OptedIn {
        /// The channel.
        channel: Channel,
    },
    /// Joined strictly before this day.
    CreatedBefore {
        /// The day, `YYYY-MM-DD`.
        #[serde(with = "crate::wire::strict")]
        date: NaiveDate,
    },
    /// Joined on or after this day.
    CreatedAfter {
        /// The day, `YYYY-MM-DD`.
        #[serde(with = "crate::wire::strict")]
        date: NaiveDate,
    },
    /// Joined within the last N days.
    CreatedWithinDays {
        /// N, from 1 to 3650 (ten years).
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
        days: u32,
    },
}

// The derives above are inherent functions (`remote = "Self"`); these are the trait impls,
// reading through `wire::tagged` so that a rule is refused as the document describes.
impl Serialize for SegmentRule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SegmentRule::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for SegmentRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire::tagged::read(deserializer, &["birthday_today"], SegmentRule::deserialize)
    }
}

impl SegmentRule {
    /// The rule that matches every customer.
    pub fn everyone() -> Self {
        SegmentRule::And { rules: Vec::new() }
    }
}

/// A saved audience: a named rule, counted live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "0193a1b2-9e5f-7061-acbd-2e3f4a5b6c7d",
    "name": "Regulars with a March birthday",
    "rule": {"type": "and", "rules": [{"type": "visits", "cmp": "gte", "value": 5}, {"type": "birthday_month", "month": 3}]},
    "customers": 17,
    "created_at": "2026-02-01T09:00:00.000000Z",
    "updated_at": "2026-02-01T09:00:00.000000Z"
})))]
pub struct Segment {
    /// The segment ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// The segment's name, unique within the merchant.
    pub name: String,
    /// Who the segment matches.
    pub rule: SegmentRule,
    /// Customers matching now.
    pub customers: u64,
    /// When the segment was created.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// When the segment was last changed.
    #[serde(with = "crate::wire::strict")]
    pub updated_at: DateTime<Utc>,
}

/// A segment to create, or (on PUT) its new state. A name another segment of the merchant
/// has is refused (409 `taken`). Unknown fields are refused (400), in `rule` too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "Regulars with a March birthday",
    "rule": {"type": "and", "rules": [{"type": "visits", "cmp": "gte", "value": 5}, {"type": "birthday_month", "month": 3}]}
})))]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// The segment's name: 1 to 80 characters on one line, not blank; surrounding
    /// whitespace is removed.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 80,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// Who the segment matches.
    pub rule: SegmentRule,
}

/// Count the customers an unsaved rule matches. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"rule": {"type": "or", "rules": [{"type": "has_tag", "tag": "vip"}, {"type": "points", "cmp": "gt", "value": 500}]}}))
)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    /// The rule to count.
    pub rule: SegmentRule,
}

/// How many customers a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentCount {
    /// The exact number of customers the rule matches now.
    pub customers: u64,
}
