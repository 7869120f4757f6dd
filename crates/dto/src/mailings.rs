use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Channel;

/// Where a mailing is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailingStatus {
    /// Saved, not sent; nothing reserved.
    Draft,
    /// Waiting for its time; credits are reserved.
    Scheduled,
    Sending,
    /// Stopped for now; resume continues where it stopped.
    Paused,
    Completed,
    Cancelled,
    Failed,
}

impl MailingStatus {
    pub const ALL: [MailingStatus; 7] = [
        MailingStatus::Draft,
        MailingStatus::Scheduled,
        MailingStatus::Sending,
        MailingStatus::Paused,
        MailingStatus::Completed,
        MailingStatus::Cancelled,
        MailingStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailingStatus::Draft => "draft",
            MailingStatus::Scheduled => "scheduled",
            MailingStatus::Sending => "sending",
            MailingStatus::Paused => "paused",
            MailingStatus::Completed => "completed",
            MailingStatus::Cancelled => "cancelled",
            MailingStatus::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Who receives a mailing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Audience {
    /// Every customer of the merchant.
    All,
    /// The customers a saved segment matches when the mailing is sent.
    Segment { segment_id: Uuid },
}

/// What is sent on each channel. Texts may hold variables: `{first_name}`, `{last_name}`,
/// `{card_name}`, `{points}`, `{visits}`, `{merchant_name}`, `{unsubscribe_url}`; `{{` and `}}`
/// are literal braces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailingContent {
    pub sms: Option<SmsContent>,
    pub email: Option<EmailContent>,
    pub telegram: Option<TextContent>,
    pub messenger: Option<TextContent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmsContent {
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailContent {
    pub subject: String,
    /// The message as plain text; the HTML part is made from it (paragraphs, links).
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextContent {
    pub text: String,
}

/// A mailing to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewMailing {
    pub name: String,
    pub audience: Audience,
    /// At least one; each needs its content.
    pub channels: Vec<Channel>,
    pub content: MailingContent,
    /// When to send; now when absent. Must be in the future.
    pub send_at: Option<DateTime<Utc>>,
    /// Save without sending (no credits reserved).
    #[serde(default)]
    pub draft: bool,
}

/// Send a draft, now or at a time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMailing {
    pub send_at: Option<DateTime<Utc>>,
}

/// What happened to a mailing's messages on one channel (or all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryCounts {
    /// Messages in all.
    pub total: u64,
    /// Not sent yet (waiting, being sent, or waiting for a retry).
    pub queued: u64,
    /// Accepted by the provider (those delivered and opened since included).
    pub sent: u64,
    /// Known to have arrived: the provider confirmed it, or it was opened (opened ones
    /// included).
    pub delivered: u64,
    /// The recipient opened it (email).
    pub opened: u64,
    pub failed: u64,
    /// Not sent, or stopped later, because the customer opted out.
    pub unsubscribed: u64,
    pub cancelled: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelReport {
    pub channel: Channel,
    pub counts: DeliveryCounts,
    /// Credits reserved and not yet used or released (SMS segments, emails).
    pub credits_reserved: i64,
    /// Credits used by messages sent.
    pub credits_used: i64,
    /// Whether this channel's provider is a sandbox that sends nothing for real.
    pub sandbox: bool,
}

/// A row of the mailings history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailingSummary {
    pub id: Uuid,
    pub name: String,
    pub status: MailingStatus,
    pub channels: Vec<Channel>,
    pub recipients: u64,
    pub counts: DeliveryCounts,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A mailing with its report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mailing {
    pub id: Uuid,
    pub name: String,
    pub status: MailingStatus,
    pub audience: Audience,
    pub channels: Vec<Channel>,
    pub content: MailingContent,
    /// Distinct customers with at least one message.
    pub recipients: u64,
    pub counts: DeliveryCounts,
    pub per_channel: Vec<ChannelReport>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The mailing this one resends to (its failed recipients).
    pub resend_of: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// What a mailing would cost, before it is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailingEstimateRequest {
    pub audience: Audience,
    pub channels: Vec<Channel>,
    pub content: MailingContent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailingEstimate {
    /// Customers in the audience.
    pub audience: u64,
    /// Per channel: how many of them can receive it (contact data and consent).
    pub reachable: Vec<ChannelReach>,
    /// SMS credits needed: the segments of each recipient's message, added up.
    pub sms_credits: i64,
    pub email_credits: i64,
    pub sms_balance: i64,
    pub email_balance: i64,
    /// The SMS as the first customer of the audience would get it, with its length.
    pub sms_preview: Option<SmsPreview>,
}

/// An SMS text as it will be sent, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmsPreview {
    pub text: String,
    /// `gsm7` or `ucs2`.
    pub encoding: String,
    /// SMS segments (credits) for this recipient.
    pub segments: u32,
    /// Characters used (GSM-7 septets or UCS-2 code units).
    pub units_used: u32,
    /// Characters left before the next segment starts.
    pub units_remaining: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelReach {
    pub channel: Channel,
    pub customers: u64,
}

/// SMS and email credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balances {
    pub sms: Balance,
    pub email: Balance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balance {
    /// Credits that can be spent now.
    pub available: i64,
    /// Credits held for accepted sends not yet sent.
    pub reserved: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    Sms,
    Email,
}

/// Add credits (owner only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopUp {
    pub kind: CreditKind,
    /// 1 to 10,000,000.
    pub amount: i64,
    /// A note for the ledger, e.g. an invoice number.
    #[serde(default)]
    pub reference: String,
}
