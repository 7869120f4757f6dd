use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Channel;

/// Where a mailing is in its life: `draft`, `scheduled`, `sending`, `paused`, then
/// `completed`, `cancelled` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailingStatus {
    /// Saved, not sent; nothing reserved.
    Draft,
    /// Waiting for its time; credits are reserved.
    Scheduled,
    /// Messages are going out.
    Sending,
    /// Stopped for now; resume continues where it stopped.
    Paused,
    /// Every message was sent, or failed for good.
    Completed,
    /// Stopped for good; what was not sent was dropped and its credits released.
    Cancelled,
    /// Could not be sent at all.
    Failed,
}

impl MailingStatus {
    /// Every status, in the order of a mailing's life.
    pub const ALL: [MailingStatus; 7] = [
        MailingStatus::Draft,
        MailingStatus::Scheduled,
        MailingStatus::Sending,
        MailingStatus::Paused,
        MailingStatus::Completed,
        MailingStatus::Cancelled,
        MailingStatus::Failed,
    ];

    /// The status as written in JSON.
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

    /// The status written as `value`, if it is one.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Who receives a mailing: `{"type": "all"}` or `{"type": "segment", "segment_id": ...}`.
/// A field an audience does not have is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    remote = "Self",
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Audience {
    /// Every customer of the merchant.
    All,
    /// The customers a saved segment matches when the mailing is sent.
    Segment {
        /// One of the merchant's segments (another id is 422 `not_found`).
        #[serde(with = "crate::wire::strict")]
        segment_id: Uuid,
    },
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Audience::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire::tagged::read(deserializer, &["all"], Audience::deserialize)
    }
}

/// What is sent on each channel; `null` or left out for a channel that sends nothing. Each
/// chosen channel needs its content (422 `required`), and content given is checked even for
/// a channel not chosen. Texts may hold variables: `{first_name}`, `{last_name}`,
/// `{card_name}`, `{points}`, `{visits}`, `{merchant_name}`, `{unsubscribe_url}`; `{{` and
/// `}}` are literal braces; any other `{` or `}` is refused (422 `invalid_template`). Texts
/// must not be blank; their limits count characters as sent. Unknown fields are refused
/// (400).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "sms": {"body": "Hi {first_name}, your 10th coffee is on us this week! Reply STOP to opt out."},
    "email": {"subject": "A coffee on us, {first_name}", "body": "Hi {first_name},\n\nyour 10th coffee is on us this week.\n\nUnsubscribe: {unsubscribe_url}"}
})))]
#[serde(deny_unknown_fields)]
pub struct MailingContent {
    /// The SMS text.
    pub sms: Option<SmsContent>,
    /// The email's subject and text.
    pub email: Option<EmailContent>,
    /// The Telegram message.
    pub telegram: Option<TextContent>,
    /// The Messenger message (at most 2,000 characters).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::MessengerContent>))]
    pub messenger: Option<TextContent>,
}

/// An SMS text. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SmsContent {
    /// The text, a template of up to 1,600 characters. It is sent in as many SMS segments as
    /// it needs (160 GSM-7 characters, or 70 with other characters, per single SMS), each
    /// costing one credit per recipient.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 1600,
            pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})(?:[^{}]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})*$"
        )
    )]
    pub body: String,
}

/// An email's subject and text. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmailContent {
    /// The subject, a template of up to 200 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})(?:[^{}]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})*$"
        )
    )]
    pub subject: String,
    /// The message as plain text, a template of up to 50,000 characters; the HTML part is
    /// made from it (paragraphs at blank lines, links).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 50000,
            pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})(?:[^{}]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})*$"
        )
    )]
    pub body: String,
}

/// A Telegram (or Messenger) message. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TextContent {
    /// The message, a template of up to 4,096 characters (2,000 for Messenger).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 4096,
            pattern = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})(?:[^{}]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name|unsubscribe_url)\})*$"
        )
    )]
    pub text: String,
}

/// A mailing to create: send now, schedule it, or save a draft. Unknown fields are refused
/// (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "March birthdays",
    "audience": {"type": "segment", "segment_id": "0193a1b2-9e5f-7061-acbd-2e3f4a5b6c7d"},
    "channels": ["sms", "email"],
    "content": {
        "sms": {"body": "Happy birthday {first_name}! A free coffee is waiting for you."},
        "email": {"subject": "Happy birthday, {first_name}", "body": "A free coffee is waiting for you.\n\nUnsubscribe: {unsubscribe_url}"}
    },
    "send_at": "2027-03-01T09:00:00Z",
    "draft": false
})))]
#[serde(deny_unknown_fields)]
pub struct NewMailing {
    /// The mailing's name in the history: 1 to 120 characters on one line, not blank;
    /// surrounding whitespace is removed.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 120,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// Who receives it.
    pub audience: Audience,
    /// The channels to send on, at least one; each needs its content. A channel named twice
    /// counts once.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub channels: Vec<Channel>,
    /// What is sent on each channel.
    pub content: MailingContent,
    /// When to send, RFC 3339: in the future (up to a minute late is tolerated) and within
    /// 366 days. `null` or left out: now (or, for a draft, when it is sent).
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub send_at: Option<DateTime<Utc>>,
    /// `true`: save without sending (no credits reserved). `false` when left out.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(default = false))]
    pub draft: bool,
}

/// Changes to a draft. Each field given replaces the draft's; a field left out (or `null`)
/// stays as it is. The draft as changed is checked as a new mailing would be. Unknown fields
/// are refused (400).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "Spring offer (second draft)",
    "content": {"sms": {"body": "Hi {first_name}, 2 coffees for 1 this weekend."}}
})))]
#[serde(deny_unknown_fields)]
pub struct MailingChanges {
    /// The new name: 1 to 120 characters on one line, not blank; surrounding whitespace is
    /// removed.
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
    /// The new audience.
    #[serde(default)]
    pub audience: Option<Audience>,
    /// The new channels, at least one; each needs its content (given here or already in the
    /// draft).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub channels: Option<Vec<Channel>>,
    /// The new content, replacing the draft's content on every channel.
    #[serde(default)]
    pub content: Option<MailingContent>,
}

/// Send a draft, now or at a time. Unknown fields are refused (400).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"send_at": "2027-03-01T09:00:00Z"})))]
#[serde(deny_unknown_fields)]
pub struct SendMailing {
    /// When to send, RFC 3339: in the future (up to a minute late is tolerated) and within
    /// 366 days. `null` or left out: now.
    #[serde(default, with = "crate::wire::strict::nullable")]
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
    /// Could not be sent, or the provider reported it undeliverable.
    pub failed: u64,
    /// Not sent, or stopped later, because the customer opted out.
    pub unsubscribed: u64,
    /// Dropped because the mailing was cancelled before they were sent.
    pub cancelled: u64,
    /// Sent to the provider with no answer (a timeout after the request went out): it may
    /// or may not have gone out, and is neither sent nor failed until the provider reports
    /// it. Paid channels never send these again on their own; their credits stay reserved.
    pub uncertain: u64,
    /// Sent again after the process sending them stopped mid-send: each may have reached
    /// its recipient twice. Counted among `sent`.
    pub repeats: u64,
}

/// A mailing's progress and cost on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelReport {
    /// The channel.
    pub channel: Channel,
    /// Its messages by outcome.
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
    /// The mailing ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// The mailing's name.
    pub name: String,
    /// Where it is in its life.
    pub status: MailingStatus,
    /// The channels it sends on.
    pub channels: Vec<Channel>,
    /// Distinct customers with at least one message.
    pub recipients: u64,
    /// Its messages by outcome, all channels together.
    pub counts: DeliveryCounts,
    /// When it is (or was) due to send; `null` when sent at once or a draft.
    #[serde(with = "crate::wire::strict::nullable")]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When it was created.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
}

/// A mailing with its report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "0193a1b3-0a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "name": "March birthdays",
    "status": "completed",
    "audience": {"type": "all"},
    "channels": ["sms"],
    "content": {"sms": {"body": "Happy birthday {first_name}! A free coffee is waiting for you."}, "email": null, "telegram": null, "messenger": null},
    "recipients": 120,
    "counts": {"total": 120, "queued": 0, "sent": 117, "delivered": 110, "opened": 0, "failed": 2, "unsubscribed": 1, "cancelled": 0, "uncertain": 0, "repeats": 0},
    "resendable": 1,
    "per_channel": [{
        "channel": "sms",
        "counts": {"total": 120, "queued": 0, "sent": 117, "delivered": 110, "opened": 0, "failed": 2, "unsubscribed": 1, "cancelled": 0, "uncertain": 0, "repeats": 0},
        "credits_reserved": 0,
        "credits_used": 117,
        "sandbox": false
    }],
    "scheduled_at": null,
    "started_at": "2026-03-01T09:00:00.120000Z",
    "completed_at": "2026-03-01T09:02:41.530000Z",
    "resend_of": null,
    "created_at": "2026-03-01T08:59:58.000000Z"
})))]
pub struct Mailing {
    /// The mailing ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// The mailing's name.
    pub name: String,
    /// Where it is in its life.
    pub status: MailingStatus,
    /// Who it was addressed to.
    pub audience: Audience,
    /// The channels it sends on.
    pub channels: Vec<Channel>,
    /// What it sends on each channel.
    pub content: MailingContent,
    /// Distinct customers with at least one message.
    pub recipients: u64,
    /// Its messages by outcome, all channels together.
    pub counts: DeliveryCounts,
    /// Of the failed messages, those a resend would try again (the failure may pass: the
    /// provider was down through every attempt). The others failed for good (an invalid
    /// number or address, missing contact details, the provider's permanent refusal) and a
    /// resend leaves them out.
    pub resendable: u64,
    /// Progress and credits per channel.
    pub per_channel: Vec<ChannelReport>,
    /// When it is (or was) due to send; `null` when sent at once or a draft.
    #[serde(with = "crate::wire::strict::nullable")]
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When sending started; `null` before.
    #[serde(with = "crate::wire::strict::nullable")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed, was cancelled or failed; `null` before.
    #[serde(with = "crate::wire::strict::nullable")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The mailing this one resends to (its failed recipients); `null` for an original.
    #[serde(with = "crate::wire::strict::nullable")]
    pub resend_of: Option<Uuid>,
    /// When it was created.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
}

impl Mailing {
    /// The failed messages a resend leaves out: they failed for good.
    pub fn failed_for_good(&self) -> u64 {
        self.counts.failed.saturating_sub(self.resendable)
    }
}

/// What a mailing would reach and cost, before it is sent: the same fields as a new
/// mailing, checked the same way. Unknown fields are refused (400).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "audience": {"type": "all"},
    "channels": ["sms"],
    "content": {"sms": {"body": "Hi {first_name}, double points all weekend!"}}
})))]
#[serde(deny_unknown_fields)]
pub struct MailingEstimateRequest {
    /// Who would receive it.
    pub audience: Audience,
    /// The channels it would send on, at least one; each needs its content.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub channels: Vec<Channel>,
    /// What it would send on each channel.
    pub content: MailingContent,
}

/// Who a mailing would reach and what it would cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailingEstimate {
    /// Customers in the audience.
    pub audience: u64,
    /// Per channel: how many of them can receive it (contact data and consent).
    pub reachable: Vec<ChannelReach>,
    /// SMS credits needed: the segments of each recipient's message, added up.
    pub sms_credits: i64,
    /// Whether `sms_credits` is exact. An SMS with per-recipient variables is measured for
    /// each of the first 10,000 recipients; for a larger audience the rest is extrapolated
    /// from them (rounded up) and this is `false`. Sending counts every message exactly.
    pub sms_credits_exact: bool,
    /// Email credits needed: one per recipient reachable by email.
    pub email_credits: i64,
    /// SMS credits available now.
    pub sms_balance: i64,
    /// Email credits available now.
    pub email_balance: i64,
    /// The SMS as the first customer of the audience would get it, with its length; `null`
    /// without SMS, or with an empty audience.
    pub sms_preview: Option<SmsPreview>,
    /// The email as the first customer of the audience reachable by email would get it
    /// (subject and text); `null` without email, or when nobody in the audience has email.
    /// Links are shown at the longest form they can take.
    #[serde(default)]
    pub email_preview: Option<EmailPreview>,
}

/// An email as one customer will get it: its subject and plain text, variables filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmailPreview {
    pub subject: String,
    pub body: String,
}

/// An SMS text as it will be sent, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmsPreview {
    /// The text with that customer's values filled in.
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

/// How many customers of an audience one channel reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChannelReach {
    /// The channel.
    pub channel: Channel,
    /// Customers with contact data for it and consent to it.
    pub customers: u64,
}

/// SMS and email credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balances {
    /// SMS credits (one per SMS segment sent).
    pub sms: Balance,
    /// Email credits (one per email sent).
    pub email: Balance,
}

/// One kind of credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Balance {
    /// Credits that can be spent now.
    pub available: i64,
    /// Credits held for accepted sends not yet sent.
    pub reserved: i64,
}

/// A kind of credit: `sms` or `email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    /// SMS credits.
    Sms,
    /// Email credits.
    Email,
}

/// Where a message that has not reached its recipient stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProblemState {
    /// It will not be sent: the provider refused it for good, or every attempt failed.
    Failed,
    /// An attempt failed for a reason that may pass; it is tried again at `next_attempt_at`.
    Retrying,
    /// The provider may have it (a timeout after the request was written); it is not sent
    /// again on its own, and the provider's status report settles it.
    Uncertain,
}

impl ProblemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemState::Failed => "failed",
            ProblemState::Retrying => "retrying",
            ProblemState::Uncertain => "uncertain",
        }
    }

    pub fn parse(value: &str) -> Option<ProblemState> {
        [
            ProblemState::Failed,
            ProblemState::Retrying,
            ProblemState::Uncertain,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// One message of a mailing that failed, is being retried, or is uncertain: to whom, on
/// which channel, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailingProblem {
    /// The customer (deleted since: still listed, with an empty name).
    pub customer_id: Uuid,
    /// The customer's first and last name.
    pub name: String,
    pub channel: Channel,
    pub state: ProblemState,
    /// Why, as the provider or the engine said it; `null` when nobody said.
    pub reason: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is tried again (`retrying` only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When its state last changed.
    pub updated_at: DateTime<Utc>,
}
