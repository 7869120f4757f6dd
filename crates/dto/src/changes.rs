//! The change feed: what any process changed, as the dashboard streams it
//! (`GET /api/v1/changes/stream`, server-sent events).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of thing changed; also the event's name on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeTopic {
    /// A mailing: created, sent, paused, resumed, cancelled, completed, or its report moved.
    /// `subject` is the mailing's id.
    Mailing,
    /// SMS or email credits: a top-up, a reservation, or credits spent and released.
    Balances,
    /// An Inbox conversation. `subject` is the conversation's id.
    Conversation,
    /// A wallet push. `subject` is the push's id.
    Push,
    /// An automation: changed, or it fired, skipped or deferred occurrences. `subject` is
    /// the automation's id.
    Automation,
}

impl ChangeTopic {
    pub const ALL: [ChangeTopic; 5] = [
        ChangeTopic::Mailing,
        ChangeTopic::Balances,
        ChangeTopic::Conversation,
        ChangeTopic::Push,
        ChangeTopic::Automation,
    ];

    /// The topic as written in JSON, in the database and as the event name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeTopic::Mailing => "mailing",
            ChangeTopic::Balances => "balances",
            ChangeTopic::Conversation => "conversation",
            ChangeTopic::Push => "push",
            ChangeTopic::Automation => "automation",
        }
    }

    pub fn parse(value: &str) -> Option<ChangeTopic> {
        ChangeTopic::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// One entry of the change feed: the `data` of a stream event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeEvent {
    /// The entry's position in the feed (also the event's `id`): later entries have larger
    /// ids. Send the last one seen as `Last-Event-ID` to resume.
    pub id: i64,
    pub topic: ChangeTopic,
    /// What changed, e.g. the mailing's id; `null` when the topic is the merchant's as a
    /// whole (balances).
    #[serde(with = "crate::wire::strict::nullable")]
    pub subject: Option<Uuid>,
    /// What changed, by topic. `mailing`: `{"change": "created" | "sent" | "paused" |
    /// "resumed" | "cancelled" | "progress" | "completed", "status": <the mailing's status>}`,
    /// and for progress the batch's counts. `balances`: `{"kind": "sms" | "email", "change":
    /// "top_up" | "reserve" | "settle", ...}` with the amounts moved. Read it as a hint of
    /// what to load again; the resource itself is the truth.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub body: serde_json::Value,
    /// When it changed.
    #[serde(with = "crate::wire::strict")]
    pub at: DateTime<Utc>,
}

/// A stream ticket: open `GET /api/v1/changes/stream?ticket=...` with it, once, before
/// `expires_at`. (Browsers' `EventSource` cannot send an `Authorization` header, and a
/// session token in a URL would be written to logs; a ticket is worthless once used.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamTicket {
    /// Opaque, single use.
    pub ticket: String,
    /// 60 seconds after it was issued.
    #[serde(with = "crate::wire::strict")]
    pub expires_at: DateTime<Utc>,
}
