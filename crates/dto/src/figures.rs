use serde::{Deserialize, Serialize};

/// The four figures at the top of every Mailings page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeaderFigures {
    /// Customers in the base.
    pub customers: u64,
    /// Customers with an installed wallet pass: push reaches them for free.
    pub push_reachable: u64,
    /// Push and web push cost nothing; always `true`.
    pub push_free: bool,
    /// SMS credits available (one credit per SMS segment).
    pub sms_balance: i64,
    /// Email credits available (one credit per email).
    pub email_balance: i64,
}
