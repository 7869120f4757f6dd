use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a loyalty card program rewards: `stamp` (collect stamps for a reward), `points`,
/// `discount` (a standing discount), `cashback` or `membership` (a paid membership that
/// runs for a period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// Collect a stamp per visit; a full card earns a reward.
    Stamp,
    /// Earn points to spend on rewards.
    Points,
    /// A standing discount for card holders.
    Discount,
    /// A share of each purchase back as credit.
    Cashback,
    /// A membership that runs for `membership_period_days`.
    Membership,
}

impl CardKind {
    /// Every kind, in the order the dashboard lists them.
    pub const ALL: [CardKind; 5] = [
        CardKind::Stamp,
        CardKind::Points,
        CardKind::Discount,
        CardKind::Cashback,
        CardKind::Membership,
    ];

    /// The kind as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::Stamp => "stamp",
            CardKind::Points => "points",
            CardKind::Discount => "discount",
            CardKind::Cashback => "cashback",
            CardKind::Membership => "membership",
        }
    }

    /// The kind's name for a person.
    pub fn label(self) -> &'static str {
        match self {
            CardKind::Stamp => "Stamp card",
            CardKind::Points => "Points card",
            CardKind::Discount => "Discount card",
            CardKind::Cashback => "Cashback card",
            CardKind::Membership => "Membership card",
        }
    }
}

/// Which APNs environment wakes a card's devices: `production` for passes installed from
/// the App Store world, `sandbox` for devices that trust a development pass type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApnsEnvironment {
    Production,
    Sandbox,
}

impl ApnsEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            ApnsEnvironment::Production => "production",
            ApnsEnvironment::Sandbox => "sandbox",
        }
    }

    pub fn parse(value: &str) -> Option<ApnsEnvironment> {
        match value {
            "production" => Some(ApnsEnvironment::Production),
            "sandbox" => Some(ApnsEnvironment::Sandbox),
            _ => None,
        }
    }
}

/// How a card looks in the wallet and in the previews. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "background_color": "#1f2933",
    "foreground_color": "#ffffff",
    "label_color": "#f5a623",
    "logo_text": "Bean There"
})))]
#[serde(deny_unknown_fields)]
pub struct CardDesign {
    /// Background colour, `#rrggbb` (either case; stored lower-cased).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^#[0-9A-Fa-f]{6}$"))]
    pub background_color: String,
    /// Colour of the values on the card, `#rrggbb`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^#[0-9A-Fa-f]{6}$"))]
    pub foreground_color: String,
    /// Colour of the labels above the values, `#rrggbb`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^#[0-9A-Fa-f]{6}$"))]
    pub label_color: String,
    /// The text beside the logo on the front of the card: up to 40 characters on one line;
    /// may be empty. Surrounding whitespace is removed.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 40, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub logo_text: String,
}

/// A loyalty card program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
    "name": "Coffee Club",
    "kind": "stamp",
    "description": "Every 10th coffee is on us.",
    "design": {"background_color": "#1f2933", "foreground_color": "#ffffff", "label_color": "#f5a623", "logo_text": "Bean There"},
    "apple_pass_type_id": "pass.com.beanthere.coffee",
    "apns_environment": null,
    "membership_period_days": null,
    "locations": [{"latitude": 37.7793, "longitude": -122.4193, "relevant_text": "Bean There on Market St is nearby"}],
    "installed_passes": 42,
    "created_at": "2026-01-05T10:00:00.000000Z",
    "updated_at": "2026-03-01T09:30:00.000000Z"
})))]
pub struct Card {
    /// The card ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// The program's name.
    pub name: String,
    /// What the card rewards.
    pub kind: CardKind,
    /// What the customer gets, shown on the back of the pass; may be empty.
    pub description: String,
    /// How the card looks.
    pub design: CardDesign,
    /// Apple pass type identifier, e.g. `pass.com.example.coffee`; `null` when not set.
    pub apple_pass_type_id: Option<String>,
    /// The APNs environment its devices are woken through; `null`: the server's default
    /// (`apple_wallet.apns_endpoint`).
    pub apns_environment: Option<ApnsEnvironment>,
    /// For membership cards: how many days a membership runs before it expires; `null` for
    /// other kinds, or a membership that does not expire.
    pub membership_period_days: Option<i32>,
    /// Stores near which its passes surface on the lock screen.
    pub locations: Vec<StoreLocation>,
    /// How many passes of this card are installed.
    pub installed_passes: u64,
    /// When the card was created.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// When the card was last changed.
    #[serde(with = "crate::wire::strict")]
    pub updated_at: DateTime<Utc>,
}

/// A card to create, or (on PUT) the card's new state, every field given again. Texts have
/// surrounding whitespace removed; the length limits count the text as sent. Unknown fields
/// are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "Coffee Club",
    "kind": "membership",
    "description": "Free refills for members.",
    "design": {"background_color": "#1F2933", "foreground_color": "#ffffff", "label_color": "#f5a623", "logo_text": "Bean There"},
    "apple_pass_type_id": "pass.com.beanthere.coffee",
    "membership_period_days": 365
})))]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// The program's name: 1 to 80 characters on one line, not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 80,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// What the card rewards.
    pub kind: CardKind,
    /// What the customer gets: up to 500 characters on one line; empty (the default) for
    /// none.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$", default = "")
    )]
    pub description: String,
    /// How the card looks.
    pub design: CardDesign,
    /// Apple pass type identifier: `pass.` followed by letters, digits, `.`, `-` or `_`, at
    /// most 120 characters, e.g. `pass.com.example.coffee`. `null` or left out: none.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 120, pattern = r"^pass\.[0-9A-Za-z._-]+$")
    )]
    pub apple_pass_type_id: Option<String>,
    /// The APNs environment of its devices: `sandbox` while the pass type is tried on
    /// development devices. `null` or left out: the server's default.
    #[serde(default)]
    pub apns_environment: Option<ApnsEnvironment>,
    /// Membership cards only: days a membership runs, 1 to 3660; `null` or left out: it
    /// does not expire. Must be left out (or `null`) for other kinds (422 `not_applicable`).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3660))]
    pub membership_period_days: Option<i32>,
    /// Stores near which the pass surfaces on the lock screen: at most 10 (Apple's limit).
    /// Left out: none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub locations: Vec<StoreLocation>,
}

/// Most store locations a card has: Apple Wallet reads at most ten.
pub const MAX_STORE_LOCATIONS: usize = 10;

/// A store near which the pass is relevant. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"latitude": 37.7793, "longitude": -122.4193, "relevant_text": "Bean There on Market St is nearby"})))]
#[serde(deny_unknown_fields)]
pub struct StoreLocation {
    /// Degrees, -90 to 90.
    #[cfg_attr(feature = "openapi", schema(minimum = -90, maximum = 90))]
    pub latitude: f64,
    /// Degrees, -180 to 180.
    #[cfg_attr(feature = "openapi", schema(minimum = -180, maximum = 180))]
    pub longitude: f64,
    /// What the lock screen says near the store: up to 120 characters on one line; empty
    /// (the default) for the card's name.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 120, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$", default = "")
    )]
    pub relevant_text: String,
}
