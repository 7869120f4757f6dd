//! Credits as the merchant sees them (balances, the ledger, how to buy more) and as the
//! operator moves them (top-ups).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Balances, CreditKind};

/// How a merchant buys more credits, as the operator configured it: a link, a text, both
/// or neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"url": "https://billing.example.com/credits", "text": "Credits are billed monthly by Example Loyalty."}))
)]
pub struct CreditsPurchase {
    /// Where to buy credits; `null` when the operator gave no link.
    pub url: Option<String>,
    /// What to do to get credits (e.g. whom to contact); `null` when the operator gave none.
    pub text: Option<String>,
}

/// What a ledger line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LedgerEntryKind {
    /// Credits the operator added.
    TopUp,
    /// Credits held for an accepted send (available → reserved).
    Reserve,
    /// Held credits spent on messages sent (reserved → gone).
    Spend,
    /// Held credits given back for messages that were not sent (reserved → available).
    Release,
}

/// What kind of send a ledger line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LedgerSourceKind {
    /// A mailing.
    Mailing,
}

/// The send a ledger line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerSource {
    /// What it is.
    pub kind: LedgerSourceKind,
    /// Its ID (e.g. the mailing's).
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
}

/// One movement of credits. The ledger is written by the server only: top-ups by the
/// operator, the rest by sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    /// The line's ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// Which credits moved.
    pub kind: CreditKind,
    /// How they moved.
    pub entry: LedgerEntryKind,
    /// How many, always positive.
    pub amount: i64,
    /// The top-up's reference (e.g. an invoice number), or what the line is for.
    pub reference: String,
    /// The send the credits were reserved, spent or released for; `null` for a top-up.
    pub source: Option<LedgerSource>,
    /// When it happened.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
}

/// Credits the operator adds to a merchant. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"kind": "sms", "amount": 5000, "reference": "INV-2026-0113"}))
)]
#[serde(deny_unknown_fields)]
pub struct OperatorTopUp {
    /// Which credits to add.
    pub kind: CreditKind,
    /// How many credits, 1 to 10,000,000.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000000))]
    pub amount: i64,
    /// What makes the top-up unique for this merchant and kind, e.g. an invoice number: 1 to
    /// 200 characters after surrounding whitespace is removed. Sending the same top-up again
    /// with the same reference adds nothing (200 with the first receipt); the same reference
    /// with another amount is a 409.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub reference: String,
}

/// A top-up as recorded, with the balances after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopUpReceipt {
    /// The merchant topped up.
    #[serde(with = "crate::wire::strict")]
    pub merchant_id: Uuid,
    /// Which credits were added.
    pub kind: CreditKind,
    /// How many.
    pub amount: i64,
    /// The reference it was recorded under.
    pub reference: String,
    /// When it was first recorded.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// Whether this answer repeats an earlier top-up with this reference (nothing was added).
    pub replayed: bool,
    /// The merchant's balances now.
    pub balances: Balances,
}

/// A merchant as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperatorMerchant {
    /// The merchant's ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// Its business name.
    pub name: String,
    /// When it was created.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// Its balances.
    pub balances: Balances,
}
