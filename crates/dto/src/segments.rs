use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Channel;

/// How a number is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Comparison {
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
/// {"type":"birthday_month","month":3}]}`. Dates are in the merchant's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SegmentRule {
    /// Every rule matches (an empty group matches every customer).
    And {
        #[cfg_attr(feature = "openapi", schema(no_recursion))]
        rules: Vec<SegmentRule>,
    },
    /// At least one rule matches (an empty group matches no customer).
    Or {
        #[cfg_attr(feature = "openapi", schema(no_recursion))]
        rules: Vec<SegmentRule>,
    },
    /// Number of visits.
    Visits { cmp: Comparison, value: i64 },
    /// Points balance.
    Points { cmp: Comparison, value: i64 },
    /// Last visit strictly before this day.
    LastVisitBefore { date: NaiveDate },
    /// Last visit on or after this day.
    LastVisitAfter { date: NaiveDate },
    /// Visited within the last N days.
    LastVisitWithinDays { days: u32 },
    /// Has not visited for at least N days (or never visited).
    NoVisitForDays { days: u32 },
    /// Birthday falls in this month (1-12).
    BirthdayMonth { month: u32 },
    /// Birthday is today.
    BirthdayToday,
    /// Birthday falls within the next N days (today included).
    BirthdayWithinDays { days: u32 },
    /// Has this tag.
    HasTag { tag: String },
    /// Holds an installed pass of this card.
    HoldsCard { card_id: Uuid },
    /// Has (or has not) a phone number.
    HasPhone { value: bool },
    /// Has (or has not) an email address.
    HasEmail { value: bool },
    /// Can be reached on this channel: contact data present and consent given.
    OptedIn { channel: Channel },
    /// Joined strictly before this day.
    CreatedBefore { date: NaiveDate },
    /// Joined on or after this day.
    CreatedAfter { date: NaiveDate },
    /// Joined within the last N days.
    CreatedWithinDays { days: u32 },
}

impl SegmentRule {
    /// The rule that matches every customer.
    pub fn everyone() -> Self {
        SegmentRule::And { rules: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Segment {
    pub id: Uuid,
    pub name: String,
    pub rule: SegmentRule,
    /// Customers matching now.
    pub customers: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A segment to create, or (on PUT) its new state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentInput {
    pub name: String,
    pub rule: SegmentRule,
}

/// Count the customers an unsaved rule matches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CountRequest {
    pub rule: SegmentRule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentCount {
    /// The exact number of customers the rule matches now.
    pub customers: u64,
}
