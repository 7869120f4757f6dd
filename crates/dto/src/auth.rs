use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A team member's role. Owners can do everything; admins manage cards, segments, API keys
/// and agents; agents work with customers and conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A signed-in session: send `token` as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// A JWT, valid until `expires_at`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub member: TeamMember,
    pub merchant: Merchant,
}

/// What the credentials of a request stand for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub merchant: Merchant,
    /// The team member, when signed in with a password; absent for an API key.
    pub member: Option<TeamMember>,
    /// The API key's name, when the request used one.
    pub api_key: Option<String>,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Merchant {
    pub id: Uuid,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`; dates and schedules are shown in it.
    pub time_zone: String,
    /// ISO 3166 country used to read national phone numbers, e.g. `US`.
    pub default_country: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateMerchant {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub default_country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamMember {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTeamMember {
    pub name: String,
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub role: Role,
}

/// Self-service sign-up of a new merchant and its owner (the operator can switch it off).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignUpRequest {
    pub merchant_name: String,
    pub owner_name: String,
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    /// IANA time zone; `UTC` when absent.
    pub time_zone: Option<String>,
    /// ISO 3166 country; `US` when absent.
    pub default_country: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewApiKey {
    /// What the key is for, e.g. "POS integration".
    pub name: String,
    /// The role the key acts with: `agent` or `admin` (never `owner`). `admin` when absent.
    pub role: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly created API key. `secret` is shown this once and never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    pub key: ApiKey,
    /// Send as `Authorization: Bearer <secret>` (or `X-Api-Key`).
    pub secret: String,
}
