use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A team member's role. Owners can do everything; admins manage cards, segments, API keys
/// and agents; agents work with customers and conversations. Roles are ordered: `agent` <
/// `admin` < `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works with customers, passes and conversations.
    Agent,
    /// An agent who also manages cards, segments, mailings, API keys and agents.
    Admin,
    /// Everything, including the merchant's settings, credits and other owners.
    Owner,
}

impl Role {
    /// The role as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

/// What an API key may do, chosen when it is created. A key has no role: it may call a route
/// only when it holds the route's scope, and no key can manage API keys, team members, the
/// merchant's settings or sessions, whatever its scopes. Written as in OAuth, `area:action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    /// Read customers, their consent history and the tags in use.
    #[serde(rename = "customers:read")]
    CustomersRead,
    /// Create, change, delete and import customers (not their consent).
    #[serde(rename = "customers:write")]
    CustomersWrite,
    /// Record a customer's consent (with `customers:write`): consent fields on create, update
    /// and import.
    #[serde(rename = "consent:write")]
    ConsentWrite,
    /// Read passes.
    #[serde(rename = "passes:read")]
    PassesRead,
    /// Issue and remove passes.
    #[serde(rename = "passes:write")]
    PassesWrite,
    /// Read cards.
    #[serde(rename = "cards:read")]
    CardsRead,
    /// Create, change and delete cards.
    #[serde(rename = "cards:write")]
    CardsWrite,
    /// Read segments and count their members.
    #[serde(rename = "segments:read")]
    SegmentsRead,
    /// Create, change and delete segments.
    #[serde(rename = "segments:write")]
    SegmentsWrite,
    /// Read mailings and their reports, and estimate one.
    #[serde(rename = "mailings:read")]
    MailingsRead,
    /// Create, send, pause, resume, cancel and resend mailings: this spends credits.
    #[serde(rename = "mailings:send")]
    MailingsSend,
    /// Read wallet pushes and their figures, and estimate one.
    #[serde(rename = "pushes:read")]
    PushesRead,
    /// Send, schedule and cancel wallet pushes (free: pushes spend no credits).
    #[serde(rename = "pushes:send")]
    PushesSend,
    /// Read the balances, the ledger and the header figures.
    #[serde(rename = "balances:read")]
    BalancesRead,
    /// Open the change stream.
    #[serde(rename = "changes:read")]
    ChangesRead,
    /// Record customer events (visits, purchases, reviews...).
    #[serde(rename = "events:write")]
    EventsWrite,
}

impl Scope {
    /// Every scope, in the order the document lists them.
    pub const ALL: [Scope; 16] = [
        Scope::CustomersRead,
        Scope::CustomersWrite,
        Scope::ConsentWrite,
        Scope::PassesRead,
        Scope::PassesWrite,
        Scope::CardsRead,
        Scope::CardsWrite,
        Scope::SegmentsRead,
        Scope::SegmentsWrite,
        Scope::MailingsRead,
        Scope::MailingsSend,
        Scope::PushesRead,
        Scope::PushesSend,
        Scope::BalancesRead,
        Scope::ChangesRead,
        Scope::EventsWrite,
    ];

    /// The scope as written in JSON, e.g. `customers:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
            Scope::ConsentWrite => "consent:write",
            Scope::PassesRead => "passes:read",
            Scope::PassesWrite => "passes:write",
            Scope::CardsRead => "cards:read",
            Scope::CardsWrite => "cards:write",
            Scope::SegmentsRead => "segments:read",
            Scope::SegmentsWrite => "segments:write",
            Scope::MailingsRead => "mailings:read",
            Scope::MailingsSend => "mailings:send",
            Scope::PushesRead => "pushes:read",
            Scope::PushesSend => "pushes:send",
            Scope::BalancesRead => "balances:read",
            Scope::ChangesRead => "changes:read",
            Scope::EventsWrite => "events:write",
        }
    }

    /// The scope written as `area:action`; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Change the signed-in member's password. The member's other sessions end; the answer is
/// a new session for this one. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"current_password": "correct horse battery", "new_password": "a new long passphrase"}))
)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password the member signs in with now.
    #[cfg_attr(feature = "openapi", schema(max_length = 256, format = "password"))]
    pub current_password: String,
    /// The new password, 10 to 256 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 10, max_length = 256, format = "password")
    )]
    pub new_password: String,
}

/// Sign in with a team member's email and password. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"email": "owner@example.com", "password": "correct horse battery"}))
)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The team member's email address, as given when they were added (any case; no
    /// surrounding spaces).
    #[cfg_attr(feature = "openapi", schema(format = "email", max_length = 254))]
    pub email: String,
    /// The password, 10 to 256 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 10, max_length = 256, format = "password")
    )]
    pub password: String,
}

/// A signed-in session: send `token` as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// A JWT, valid until `expires_at`; signing out revokes it.
    pub token: String,
    /// When the token stops working.
    #[serde(with = "crate::wire::strict")]
    pub expires_at: DateTime<Utc>,
    /// Who signed in.
    pub member: TeamMember,
    /// The merchant the member belongs to.
    pub merchant: Merchant,
}

/// What the credentials of a request stand for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// The merchant the credentials belong to.
    pub merchant: Merchant,
    /// The team member, when signed in with a password; `null` for an API key.
    pub member: Option<TeamMember>,
    /// The API key's name, when the request used one; `null` for a session.
    pub api_key: Option<String>,
    /// The member's role; `null` for an API key, which acts with its scopes instead.
    pub role: Option<Role>,
    /// The API key's scopes; `null` for a session.
    pub scopes: Option<Vec<Scope>>,
}

/// A merchant: one business with its team, customers and cards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Merchant {
    /// The merchant ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// The business's name, shown to customers.
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`; dates and schedules are shown in it.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::TimeZoneName))]
    pub time_zone: String,
    /// ISO 3166 country used to read national phone numbers, e.g. `US`.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::CountryCode))]
    pub default_country: String,
    /// When the merchant signed up.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
}

/// Change the merchant's settings (owner only): a field left out stays as it is; `null` is
/// refused. Unknown fields are refused (400).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"name": "Bean There Coffee", "time_zone": "Europe/Berlin", "default_country": "DE"}))
)]
#[serde(deny_unknown_fields)]
pub struct UpdateMerchant {
    /// The business's new name: 1 to 120 characters on one line, not blank.
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
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: Option<String>,
    /// The new IANA time zone, exactly as in the tz database.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = crate::schema::TimeZoneName, nullable = false)
    )]
    pub time_zone: Option<String>,
    /// The new country for national phone numbers, e.g. `DE`. Numbers already stored keep
    /// their country.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = crate::schema::CountryCode, nullable = false)
    )]
    pub default_country: Option<String>,
}

/// A person on the merchant's team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamMember {
    /// The team member ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// Their name.
    pub name: String,
    /// Their sign-in email, lower-cased.
    #[cfg_attr(feature = "openapi", schema(format = "email"))]
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// When they were added.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
}

/// A team member to add. Owners may add any role; admins add admins and agents (a role
/// above your own is refused, 422 `not_allowed`). An email any team member of any merchant
/// already signs in with is refused (409 `taken`). Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"name": "Sam Rivera", "email": "sam@example.com", "password": "a long passphrase", "role": "agent"}))
)]
#[serde(deny_unknown_fields)]
pub struct NewTeamMember {
    /// Their name: 1 to 120 characters on one line, not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// Their sign-in email: up to 254 characters of ASCII, a dot in the domain, no display
    /// name or surrounding spaces; stored lower-cased.
    #[cfg_attr(feature = "openapi", schema(format = "email", max_length = 254))]
    pub email: String,
    /// Their password, 10 to 256 characters (any characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 10, max_length = 256, format = "password")
    )]
    pub password: String,
    /// What they may do.
    pub role: Role,
}

/// A team member's new role. Owners may give any role; admins change admins and agents, to
/// admin or agent (a role above your own is refused, 422 `not_allowed`; changing an owner
/// is 403 for an admin). Your own role is not changed this way (409). The change counts at
/// once, in every session the member has. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"role": "admin"})))]
#[serde(deny_unknown_fields)]
pub struct TeamMemberChange {
    /// What they may do from now on.
    pub role: Role,
}

/// Invite someone to the team: they choose their own password through the link the answer
/// holds. Owners invite any role; admins invite admins and agents (a role above your own is
/// refused, 422 `not_allowed`). An email a team member already signs in with is refused
/// (409 `taken`). A new invitation for an address replaces the one still pending (its link
/// stops working). Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"name": "Sam Rivera", "email": "sam@example.com", "role": "agent"}))
)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Their name: 1 to 120 characters on one line, not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// The email they will sign in with: up to 254 characters of ASCII, a dot in the domain,
    /// no display name or surrounding spaces; stored lower-cased.
    #[cfg_attr(feature = "openapi", schema(format = "email", max_length = 254))]
    pub email: String,
    /// What they may do once they join.
    pub role: Role,
}

/// An invitation to the team that has not been accepted yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// The invitation ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// Whom it invites.
    pub name: String,
    /// The email they will sign in with, lower-cased.
    #[cfg_attr(feature = "openapi", schema(format = "email"))]
    pub email: String,
    /// The role they get.
    pub role: Role,
    /// When it was made.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// When the link stops working.
    #[serde(with = "crate::wire::strict")]
    pub expires_at: DateTime<Utc>,
    /// The link that lets them join, once: only in the answer that creates the invitation
    /// (it is not stored, so it cannot be shown again); `null` in lists.
    pub link: Option<String>,
}

/// What an invitation link offers, as the invitee sees it before choosing a password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationOffer {
    /// The business whose team it is.
    pub merchant_name: String,
    /// The name they were invited under.
    pub name: String,
    /// The email they will sign in with.
    #[cfg_attr(feature = "openapi", schema(format = "email"))]
    pub email: String,
    /// The role they get.
    pub role: Role,
    /// When the link stops working.
    #[serde(with = "crate::wire::strict")]
    pub expires_at: DateTime<Utc>,
}

/// Accept an invitation: choose the password (and, if you like, correct your name). The
/// answer is a session: you are signed in. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"password": "a long passphrase"}))
)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// Your password, 10 to 256 characters (any characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 10, max_length = 256, format = "password")
    )]
    pub password: String,
    /// Your name, when it is not the one you were invited under: 1 to 120 characters on one
    /// line, not blank. `null` or left out: the invitation's.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: Option<String>,
}

/// Self-service sign-up of a new merchant and its owner (the operator can switch it off:
/// then 403). An email already in use is refused (409 `taken`). Unknown fields are refused
/// (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "merchant_name": "Bean There Coffee",
    "owner_name": "Ann Lee",
    "email": "ann@beanthere.example",
    "password": "a long passphrase",
    "time_zone": "America/Los_Angeles",
    "default_country": "US"
})))]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// The business's name: 1 to 120 characters on one line, not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub merchant_name: String,
    /// The owner's name: 1 to 120 characters on one line, not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub owner_name: String,
    /// The owner's sign-in email: up to 254 characters of ASCII, a dot in the domain, no
    /// display name or surrounding spaces; stored lower-cased.
    #[cfg_attr(feature = "openapi", schema(format = "email", max_length = 254))]
    pub email: String,
    /// The owner's password, 10 to 256 characters (any characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 10, max_length = 256, format = "password")
    )]
    pub password: String,
    /// IANA time zone; `UTC` when left out. `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = crate::schema::TimeZoneName, nullable = false, default = "UTC")
    )]
    pub time_zone: Option<String>,
    /// Country for national phone numbers; `US` when left out. `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = crate::schema::CountryCode, nullable = false, default = "US")
    )]
    pub default_country: Option<String>,
}

/// An API key to create for an integration. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"name": "POS integration", "scopes": ["customers:read", "customers:write", "passes:write"], "expires_at": "2027-12-31T00:00:00Z"}))
)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, e.g. "POS integration": 1 to 120 characters on one line, not
    /// blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// What the key may do: 1 to 16 scopes, each once. Give a key only what its integration
    /// needs.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 16))]
    pub scopes: Vec<Scope>,
    /// When the key stops working, in the future and at most 10 years ahead; it works until
    /// revoked when left out or `null`.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// The API key ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// What the key is for.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// When the key was created.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// When the key was last used; `null` if never.
    #[serde(with = "crate::wire::strict::nullable")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key stops working; `null` if it works until revoked.
    #[serde(with = "crate::wire::strict::nullable")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked; `null` while it works.
    #[serde(with = "crate::wire::strict::nullable")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly created API key. `secret` is shown this once and never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// The key as listed from now on.
    pub key: ApiKey,
    /// Send as `Authorization: Bearer <secret>` (or `X-Api-Key`).
    pub secret: String,
}
