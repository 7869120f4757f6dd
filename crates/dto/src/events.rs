//! Customer events an integration records (a point-of-sale, a review site, the merchant's
//! own app): what automations react to, and what keeps a customer's visits and points true.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The customer visited: one more visit, and their last visit moves to `occurred_at`.
    Visit,
    /// The customer bought something (`amount`, in minor units): counts as a visit too.
    Purchase,
    /// A pass of theirs was installed in a wallet.
    CardInstalled,
    /// They left a review.
    ReviewSent,
    /// Someone they referred joined.
    ReferralAdded,
    /// A card's period (a season, a membership year) ended for them.
    CardPeriodExpired,
    /// Their points balance changed by `points` (negative to take points away).
    PointsChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Visit,
        EventKind::Purchase,
        EventKind::CardInstalled,
        EventKind::ReviewSent,
        EventKind::ReferralAdded,
        EventKind::CardPeriodExpired,
        EventKind::PointsChanged,
    ];

    /// The kind as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Visit => "visit",
            EventKind::Purchase => "purchase",
            EventKind::CardInstalled => "card_installed",
            EventKind::ReviewSent => "review_sent",
            EventKind::ReferralAdded => "referral_added",
            EventKind::CardPeriodExpired => "card_period_expired",
            EventKind::PointsChanged => "points_changed",
        }
    }

    pub fn parse(value: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

/// One event. It names the customer, or a pass of theirs. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "pos-7731-receipt-118204",
    "kind": "purchase",
    "customer_id": "01963f3e-8a4b-7c1d-9e2f-3a4b5c6d7e8f",
    "occurred_at": "2026-12-04T08:15:00Z",
    "amount": 1250
})))]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Your own ID for the event, 1 to 128 printable ASCII characters, unique among your
    /// events: an event sent again with an ID already recorded changes nothing (a replay).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = r"^[!-~]{1,128}$")
    )]
    pub id: String,
    pub kind: EventKind,
    /// The customer; or give `pass_id`. Exactly one of the two.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub customer_id: Option<Uuid>,
    /// A pass of the customer's (the serial's pass ID); or give `customer_id`.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub pass_id: Option<Uuid>,
    /// When it happened, RFC 3339: not more than 5 minutes ahead of the server's clock, not
    /// before 2000. Left out: when it is received.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// `purchase` only: what was paid, in minor units (cents), 0 to 1,000,000,000,000.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 1_000_000_000_000i64)
    )]
    pub amount: Option<i64>,
    /// `points_changed` only (and required there): the change, -1,000,000,000 to
    /// 1,000,000,000, not 0.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = -1_000_000_000i64, maximum = 1_000_000_000i64)
    )]
    pub points: Option<i64>,
}

/// Events to record, 1 to 1,000, all or none: one that cannot be recorded (an unknown
/// customer, a missing field) refuses the batch with its place (`events[3].customer_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub events: Vec<NewEvent>,
}

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventOutcome {
    /// Your ID for it.
    pub id: String,
    /// `true`: recorded now; `false`: an event with this ID was recorded before (or earlier
    /// in this batch), and nothing changed.
    pub recorded: bool,
}

/// What a batch recorded, in the order sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventsRecorded {
    /// Events recorded now.
    pub recorded: u64,
    /// Events recorded before (replays).
    pub replayed: u64,
    pub events: Vec<EventOutcome>,
}

/// An event as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerEvent {
    /// The integration's ID for it (`loyalcast:installed:<serial>` for the ones the server
    /// records itself).
    pub id: String,
    pub kind: EventKind,
    /// The pass it named, if it named one.
    pub pass_id: Option<Uuid>,
    pub amount: Option<i64>,
    pub points: Option<i64>,
    #[serde(with = "crate::wire::strict")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "crate::wire::strict")]
    pub recorded_at: DateTime<Utc>,
}
