//! Wallet pushes: a message that lands on the lock screen of every holder's phone and stays
//! on the back of their card.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Audience;

/// The most characters a push message has (the back field of a pass, and what a lock screen
/// shows in full on most phones).
pub const PUSH_MESSAGE_MAX: usize = 260;

/// About where a lock-screen notification is cut off with "…" on a phone held upright; the
/// full message stays on the back of the card.
pub const LOCK_SCREEN_VISIBLE: usize = 110;

/// Where a push is in its life: `scheduled`, `sending`, then `completed` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Waiting for its time; nothing has changed on the passes yet.
    Scheduled,
    /// The passes carry the message; notifications are going out.
    Sending,
    /// Every device was notified, or failed for good.
    Completed,
    /// Stopped: a scheduled push that never went out, or a push whose remaining
    /// notifications were dropped.
    Cancelled,
}

impl PushStatus {
    pub const ALL: [PushStatus; 4] = [
        PushStatus::Scheduled,
        PushStatus::Sending,
        PushStatus::Completed,
        PushStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PushStatus::Scheduled => "scheduled",
            PushStatus::Sending => "sending",
            PushStatus::Completed => "completed",
            PushStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// A push to send now or at a time. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "card_id": "0193a1b3-0a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "audience": {"type": "all"},
    "message": "Double stamps all weekend!"
})))]
#[serde(deny_unknown_fields)]
pub struct NewPush {
    /// The card whose holders get it (another merchant's card is 422 `not_found`).
    #[serde(with = "crate::wire::strict")]
    pub card_id: Uuid,
    /// Which holders of the card: all of them, or those a saved segment matches when the
    /// push goes out.
    pub audience: Audience,
    /// What the lock screen shows and the back of the card keeps: 1 to 260 characters on one
    /// line, not blank; surrounding whitespace is removed. The same text for every holder.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 260,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub message: String,
    /// When to send, RFC 3339: in the future (up to a minute late is tolerated) and within
    /// 366 days. `null` or left out: now.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub send_at: Option<DateTime<Utc>>,
}

/// Who a push would reach. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushEstimateRequest {
    /// The card.
    #[serde(with = "crate::wire::strict")]
    pub card_id: Uuid,
    /// Which of its holders.
    pub audience: Audience,
    /// The message, when already typed: `same_message` counts the passes that show it
    /// already (an iPhone shows nothing for a field whose value does not change). Checked
    /// as `NewPush.message` when given and not blank.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 260))]
    pub message: Option<String>,
}

/// Who a push would reach, per platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushEstimate {
    /// Holders of the card in the audience (each holds one pass or more of it).
    pub holders: u64,
    /// Their passes of the card: each gets the message on its back.
    pub passes: u64,
    /// Of those passes, the ones with at least one Apple device registered for updates:
    /// these show the message on the lock screen.
    pub apple_passes: u64,
    /// Apple devices registered for those passes: one notification each.
    pub apple_devices: u64,
    /// Of the passes, those in Google Wallet: the message is added to each, with a
    /// notification while the pass has had fewer than three today.
    pub google_passes: u64,
    /// Browsers subscribed to those passes' messages on the enrolment page: one web push
    /// notification each.
    pub web_subscriptions: u64,
    /// Passes that show this very message already (`0` without a message): a push of the
    /// same text changes nothing on them.
    pub same_message: u64,
}

/// A push's figures on one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformCounts {
    /// Devices (or passes) it goes to on this platform.
    pub total: u64,
    /// Not yet sent.
    pub queued: u64,
    /// Accepted by the platform's push service (APNs, Google Wallet, the browser's push
    /// service).
    pub accepted: u64,
    /// Apple: of the accepted, the devices that have fetched the updated pass since, the
    /// honest "delivered". Google and web push report no delivery: `0`.
    pub delivered: u64,
    /// Accepted without a notification of its own: another push had woken the device for the
    /// same pass moments before (Apple throttles repeated pushes), and the fetch it caused
    /// brings this message too. Counted in `accepted`.
    pub coalesced: u64,
    /// Could not be sent (see `failures`).
    pub failed: u64,
    /// Dropped by a cancel before they were sent.
    pub cancelled: u64,
    /// Google Wallet: added to the pass without a notification (Google allows three notifying
    /// messages per pass a day). Counted in `accepted`.
    pub quiet: u64,
    /// Sent by the sandbox push service: nothing really went out (`make run` without Apple
    /// or Google credentials).
    pub sandbox: u64,
}

/// One reason deliveries of a push failed, with how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushFailure {
    pub reason: String,
    pub count: u64,
}

/// A push with its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "0193a1b3-0a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "card_id": "0193a1b3-0a1b-7c2d-8e3f-4a5b6c7d8e90",
    "card_name": "Coffee club",
    "audience": {"type": "all"},
    "segment_name": null,
    "message": "Double stamps all weekend!",
    "status": "completed",
    "passes": 120,
    "apple": {"total": 96, "queued": 0, "accepted": 95, "delivered": 90, "coalesced": 0, "quiet": 0, "failed": 1, "cancelled": 0, "sandbox": 0},
    "google": {"total": 24, "queued": 0, "accepted": 24, "delivered": 0, "coalesced": 0, "quiet": 2, "failed": 0, "cancelled": 0, "sandbox": 0},
    "web": {"total": 7, "queued": 0, "accepted": 7, "delivered": 0, "coalesced": 0, "quiet": 0, "failed": 0, "cancelled": 0, "sandbox": 0},
    "failures": [{"reason": "APNs: the device token is no longer registered (Unregistered)", "count": 1}],
    "scheduled_at": null,
    "created_at": "2027-03-01T09:00:00Z",
    "started_at": "2027-03-01T09:00:00Z",
    "completed_at": "2027-03-01T09:00:04Z"
})))]
pub struct Push {
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    #[serde(with = "crate::wire::strict")]
    pub card_id: Uuid,
    pub card_name: String,
    pub audience: Audience,
    /// The segment's name, for a segment audience (`null` when it was deleted since).
    pub segment_name: Option<String>,
    /// The automation that sent it; `null` for a push a person sent.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub automation_id: Option<Uuid>,
    /// That automation's name (`null` when it was deleted since, or for a person's push).
    #[serde(default)]
    pub automation_name: Option<String>,
    /// The message as written; an automation's variables are filled per customer on their
    /// passes.
    pub message: String,
    pub status: PushStatus,
    /// Passes whose back got the message when it went out (`0` before).
    pub passes: u64,
    /// Apple Wallet: the devices registered for those passes.
    pub apple: PlatformCounts,
    /// Google Wallet: the passes in Google Wallet.
    pub google: PlatformCounts,
    /// Web push: the browsers subscribed to those passes.
    pub web: PlatformCounts,
    /// Why deliveries failed, most frequent first (at most 10 reasons).
    pub failures: Vec<PushFailure>,
    /// When it is (or was) due; `null` when sent at once.
    #[serde(with = "crate::wire::strict::nullable")]
    pub scheduled_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// When it went out to the passes; `null` while scheduled.
    #[serde(with = "crate::wire::strict::nullable")]
    pub started_at: Option<DateTime<Utc>>,
    /// When its last notification settled, or it was cancelled.
    #[serde(with = "crate::wire::strict::nullable")]
    pub completed_at: Option<DateTime<Utc>>,
}
