use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WalletPlatform {
    Apple,
    Google,
}

impl WalletPlatform {
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
    pub id: Uuid,
    pub card_id: Uuid,
    pub customer_id: Uuid,
    /// The pass's serial number in the wallet.
    pub serial_number: String,
    pub platform: WalletPlatform,
    pub installed_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPass {
    pub card_id: Uuid,
    pub customer_id: Uuid,
    pub platform: WalletPlatform,
    /// Generated when absent.
    pub serial_number: Option<String>,
    /// Now when absent.
    pub installed_at: Option<DateTime<Utc>>,
    /// For membership cards, derived from the card's period when absent.
    pub expires_at: Option<DateTime<Utc>>,
}
