use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    Stamp,
    Points,
    Discount,
    Cashback,
    Membership,
}

impl CardKind {
    pub const ALL: [CardKind; 5] = [
        CardKind::Stamp,
        CardKind::Points,
        CardKind::Discount,
        CardKind::Cashback,
        CardKind::Membership,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CardKind::Stamp => "stamp",
            CardKind::Points => "points",
            CardKind::Discount => "discount",
            CardKind::Cashback => "cashback",
            CardKind::Membership => "membership",
        }
    }

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

/// How a card looks in the wallet and in the previews. Colours are `#rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardDesign {
    pub background_color: String,
    pub foreground_color: String,
    pub label_color: String,
    /// The text beside the logo on the front of the card.
    pub logo_text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Card {
    pub id: Uuid,
    pub name: String,
    pub kind: CardKind,
    pub description: String,
    pub design: CardDesign,
    /// Apple pass type identifier, e.g. `pass.com.example.coffee`.
    pub apple_pass_type_id: Option<String>,
    /// For membership cards: how many days a membership runs before it expires.
    pub membership_period_days: Option<i32>,
    /// How many passes of this card are installed.
    pub installed_passes: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A card to create, or (on PUT) the card's new state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardInput {
    pub name: String,
    pub kind: CardKind,
    #[serde(default)]
    pub description: String,
    pub design: CardDesign,
    pub apple_pass_type_id: Option<String>,
    pub membership_period_days: Option<i32>,
}
