use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The wallet a pass is installed in: `apple` (Apple Wallet) or `google` (Google Wallet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WalletPlatform {
    /// Apple Wallet.
    Apple,
    /// Google Wallet.
    Google,
}

impl WalletPlatform {
    /// The platform as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            WalletPlatform::Apple => "apple",
            WalletPlatform::Google => "google",
        }
    }
}

/// A customer's installed card: what wallet pushes go to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pass {
    /// The pass ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// The card the pass is of.
    #[serde(with = "crate::wire::strict")]
    pub card_id: Uuid,
    /// The customer who holds it.
    #[serde(with = "crate::wire::strict")]
    pub customer_id: Uuid,
    /// The pass's serial number in the wallet.
    pub serial_number: String,
    /// The wallet it is installed in.
    pub platform: WalletPlatform,
    /// When it was installed.
    #[serde(with = "crate::wire::strict")]
    pub installed_at: DateTime<Utc>,
    /// When it expires (membership cards); `null` if it does not.
    #[serde(with = "crate::wire::strict::nullable")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A pass a customer installed, to record. The card and customer must be the merchant's
/// (otherwise 422 `not_found`). Optional fields may be left out; `null` is refused. Unknown
/// fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "card_id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
    "customer_id": "0193a1b2-8d4e-7f50-9bac-1d2e3f4a5b6c",
    "platform": "apple",
    "serial_number": "CC-000123",
    "installed_at": "2026-11-29T14:30:00Z"
})))]
#[serde(deny_unknown_fields)]
pub struct NewPass {
    /// The card the pass is of.
    #[serde(with = "crate::wire::strict")]
    pub card_id: Uuid,
    /// The customer who installed it.
    #[serde(with = "crate::wire::strict")]
    pub customer_id: Uuid,
    /// The wallet it is installed in.
    pub platform: WalletPlatform,
    /// The serial number in the wallet: 1 to 64 letters, digits, `.`, `-` or `_`, unique
    /// across the service (a taken one is 409 `taken`). Generated when left out.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            min_length = 1,
            max_length = 64,
            pattern = r"^[0-9A-Za-z._-]{1,64}$"
        )
    )]
    pub serial_number: Option<String>,
    /// When it was installed, RFC 3339; now when left out.
    #[serde(
        default,
        with = "crate::wire::strict::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub installed_at: Option<DateTime<Utc>>,
    /// When it expires, RFC 3339, after `installed_at` (422 `out_of_range` otherwise). Left
    /// out: a membership card's pass expires `membership_period_days` after it was
    /// installed; other passes do not expire.
    #[serde(
        default,
        with = "crate::wire::strict::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub expires_at: Option<DateTime<Utc>>,
}
