//! Automations: wallet pushes that send themselves. Four built in per card (birthday,
//! anniversary of joining, feedback after a visit, win-back) and any number of custom rules
//! (an event, a delay, a message). Each fires at most once per customer and occurrence, in
//! the customer's local time, outside quiet hours and under a frequency cap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::EventKind;

/// The most characters an automation's message has, variables as written.
pub const AUTOMATION_MESSAGE_MAX: usize = 260;
/// The longest delay: a year.
pub const DELAY_MAX_MINUTES: u32 = 366 * 24 * 60;
/// The most points or stamps an automation grants at once.
pub const REWARD_POINTS_MAX: u32 = 1_000_000;
pub const REWARD_STAMPS_MAX: u32 = 100;
/// The most custom rules a card has.
pub const RULES_PER_CARD_MAX: u64 = 50;

/// What kind of automation it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AutomationKind {
    Birthday,
    Anniversary,
    Feedback,
    Winback,
    /// A custom rule: an event, a delay, a message.
    Custom,
}

impl AutomationKind {
    pub const ALL: [AutomationKind; 5] = [
        AutomationKind::Birthday,
        AutomationKind::Anniversary,
        AutomationKind::Feedback,
        AutomationKind::Winback,
        AutomationKind::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AutomationKind::Birthday => "birthday",
            AutomationKind::Anniversary => "anniversary",
            AutomationKind::Feedback => "feedback",
            AutomationKind::Winback => "winback",
            AutomationKind::Custom => "custom",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// What the dashboard calls it.
    pub fn label(self) -> &'static str {
        match self {
            AutomationKind::Birthday => "Birthday",
            AutomationKind::Anniversary => "Anniversary",
            AutomationKind::Feedback => "Feedback request",
            AutomationKind::Winback => "Win-back",
            AutomationKind::Custom => "Custom rule",
        }
    }
}

/// The unit a delay is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DelayUnit {
    Minutes,
    Hours,
    /// Days on the customer's calendar: "2 days after a 10:00 visit" is 10:00 local.
    Days,
}

impl DelayUnit {
    pub const ALL: [DelayUnit; 3] = [DelayUnit::Minutes, DelayUnit::Hours, DelayUnit::Days];

    pub fn minutes(self) -> u32 {
        match self {
            DelayUnit::Minutes => 1,
            DelayUnit::Hours => 60,
            DelayUnit::Days => 24 * 60,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DelayUnit::Minutes => "minutes",
            DelayUnit::Hours => "hours",
            DelayUnit::Days => "days",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == value)
    }
}

/// How long after its event a message goes out: 0 (right away) up to a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Delay {
    /// 0 to 527,040 minutes, 8,784 hours or 366 days.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 527_040))]
    pub amount: u32,
    pub unit: DelayUnit,
}

impl Delay {
    pub const NONE: Delay = Delay {
        amount: 0,
        unit: DelayUnit::Minutes,
    };

    /// The delay in minutes, when within a year.
    pub fn minutes(self) -> Option<u32> {
        self.amount
            .checked_mul(self.unit.minutes())
            .filter(|m| *m <= DELAY_MAX_MINUTES)
    }
}

/// What a feedback request follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FeedbackAfter {
    Visit,
    Purchase,
    /// A visit or a purchase.
    Either,
}

impl FeedbackAfter {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackAfter::Visit => "visit",
            FeedbackAfter::Purchase => "purchase",
            FeedbackAfter::Either => "either",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            FeedbackAfter::Visit,
            FeedbackAfter::Purchase,
            FeedbackAfter::Either,
        ]
        .into_iter()
        .find(|f| f.as_str() == value)
    }

    pub fn follows(self, kind: EventKind) -> bool {
        matches!(
            (self, kind),
            (
                FeedbackAfter::Visit | FeedbackAfter::Either,
                EventKind::Visit
            ) | (
                FeedbackAfter::Purchase | FeedbackAfter::Either,
                EventKind::Purchase
            )
        )
    }
}

/// When an automation fires, by `type` (its kind). A field the type does not have is
/// refused (400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    remote = "Self",
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Trigger {
    /// On the customer's birthday, or `days_before` it, at `send_time` local. A birthday
    /// added or changed in the 30 days before does not fire that year; 29 February fires on
    /// 28 February in other years.
    Birthday {
        /// 0 (on the day) to 30.
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 30))]
        days_before: u32,
        /// `HH:MM`, the customer's local time.
        #[cfg_attr(
            feature = "openapi",
            schema(pattern = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
        )]
        send_time: String,
    },
    /// Each year on the day the customer installed the card, at `send_time` local.
    Anniversary {
        #[cfg_attr(
            feature = "openapi",
            schema(pattern = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
        )]
        send_time: String,
    },
    /// `delay` after a visit or a purchase, at most once per visit, and not again within
    /// `cooldown_days` of the last one sent.
    Feedback {
        after: FeedbackAfter,
        delay: Delay,
        /// 0 to 365.
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 365))]
        cooldown_days: u32,
    },
    /// When a customer has not visited for `lapse_days` days: once per lapse (a new visit
    /// re-arms it). Customers who never visited are not lapsed.
    Winback {
        /// 7 to 730.
        #[cfg_attr(feature = "openapi", schema(minimum = 7, maximum = 730))]
        lapse_days: u32,
    },
    /// A custom rule: `delay` after each `event` of a holder of the card.
    Event { event: EventKind, delay: Delay },
}

impl Serialize for Trigger {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Trigger::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire::tagged::read(deserializer, &[], Trigger::deserialize)
    }
}

impl Trigger {
    pub fn kind(&self) -> AutomationKind {
        match self {
            Trigger::Birthday { .. } => AutomationKind::Birthday,
            Trigger::Anniversary { .. } => AutomationKind::Anniversary,
            Trigger::Feedback { .. } => AutomationKind::Feedback,
            Trigger::Winback { .. } => AutomationKind::Winback,
            Trigger::Event { .. } => AutomationKind::Custom,
        }
    }

    /// What a kind starts with in the dashboard.
    pub fn default_for(kind: AutomationKind) -> Trigger {
        match kind {
            AutomationKind::Birthday => Trigger::Birthday {
                days_before: 0,
                send_time: "10:00".to_owned(),
            },
            AutomationKind::Anniversary => Trigger::Anniversary {
                send_time: "10:00".to_owned(),
            },
            AutomationKind::Feedback => Trigger::Feedback {
                after: FeedbackAfter::Either,
                delay: Delay {
                    amount: 2,
                    unit: DelayUnit::Hours,
                },
                cooldown_days: 30,
            },
            AutomationKind::Winback => Trigger::Winback { lapse_days: 60 },
            AutomationKind::Custom => Trigger::Event {
                event: EventKind::CardInstalled,
                delay: Delay::NONE,
            },
        }
    }
}

/// A new automation for a card. Unknown fields are refused (400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "card_id": "0193a1b3-0a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "trigger": {"type": "birthday", "days_before": 0, "send_time": "10:00"},
    "message": "Happy birthday, {first_name}! A free coffee is on us today.",
    "reward_points": 50
})))]
#[serde(deny_unknown_fields)]
pub struct NewAutomation {
    /// The card whose holders it messages (another merchant's card is 422 `not_found`). A
    /// card has one automation of each built-in kind (a second is 409) and up to 50 custom
    /// rules.
    #[serde(with = "crate::wire::strict")]
    pub card_id: Uuid,
    /// A custom rule's name (up to 80 characters); the built-in kinds are named by kind.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 80, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: Option<String>,
    /// Left out: enabled.
    #[serde(default = "enabled")]
    pub enabled: bool,
    pub trigger: Trigger,
    /// The wallet message, 1 to 260 characters on one line; variables in braces
    /// (`{first_name}`, `{last_name}`, `{card_name}`, `{points}`, `{visits}`,
    /// `{merchant_name}`) are filled per customer.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 260,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name)\})(?:[^{}\x00-\x1f\x7f-\x9f]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name)\})*$"
        )
    )]
    pub message: String,
    /// Points added to the customer's balance when it is sent (0 to 1,000,000); the pass
    /// shows the new balance.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000))]
    pub reward_points: u32,
    /// Stamps added to a stamp card when it is sent (0 to 100).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub reward_stamps: u32,
}

fn enabled() -> bool {
    true
}

/// Changes to an automation; what is left out stays. The trigger's kind cannot change
/// (422). A change applies to what has not fired yet; disabling cancels what is due.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AutomationChanges {
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 80, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub trigger: Option<Trigger>,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 260,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(?:[^{}\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name)\})(?:[^{}\x00-\x1f\x7f-\x9f]|\{\{|\}\}|\{(?:first_name|last_name|card_name|points|visits|merchant_name)\})*$"
        )
    )]
    pub message: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000))]
    pub reward_points: Option<u32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub reward_stamps: Option<u32>,
}

/// Why an occurrence was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// It came due more than the staleness limit ago (the server was down).
    Stale,
    /// The customer had the most automated messages the frequency cap allows.
    Cap,
    /// A feedback request went to them within the cool-down.
    Cooldown,
    /// The birthday was added or changed in the 30 days before.
    BirthdayChanged,
    /// They hold no pass of the card any more.
    NoPass,
    /// Their pass is on no device that can be notified (no Apple device registered, not a
    /// Google pass, no browser subscribed).
    NoDevice,
    /// Automations were paused for the merchant when it came due.
    Paused,
}

impl SkipReason {
    pub const ALL: [SkipReason; 7] = [
        SkipReason::Stale,
        SkipReason::Cap,
        SkipReason::Cooldown,
        SkipReason::BirthdayChanged,
        SkipReason::NoPass,
        SkipReason::NoDevice,
        SkipReason::Paused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Stale => "stale",
            SkipReason::Cap => "cap",
            SkipReason::Cooldown => "cooldown",
            SkipReason::BirthdayChanged => "birthday_changed",
            SkipReason::NoPass => "no_pass",
            SkipReason::NoDevice => "no_device",
            SkipReason::Paused => "paused",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// What the dashboard says.
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Stale => "too late (server was down)",
            SkipReason::Cap => "frequency cap",
            SkipReason::Cooldown => "cool-down",
            SkipReason::BirthdayChanged => "birthday changed recently",
            SkipReason::NoPass => "no pass",
            SkipReason::NoDevice => "no device",
            SkipReason::Paused => "automations paused",
        }
    }
}

/// A count per skip reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkipCount {
    pub reason: SkipReason,
    pub count: u64,
}

/// What an automation has done and will do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationFigures {
    /// Occurrences sent (one per customer and occurrence).
    pub sent: u64,
    /// Of those, and of those still due, how many quiet hours deferred.
    pub deferred: u64,
    /// Occurrences not sent, with why; reasons with none are left out.
    pub skipped: Vec<SkipCount>,
    /// Occurrences cancelled before they fired (the automation was disabled or changed).
    pub cancelled: u64,
    /// Occurrences waiting for their time.
    pub due: u64,
    /// The first (up to five) times something is due.
    pub next_due: Vec<DateTime<Utc>>,
    pub last_fired_at: Option<DateTime<Utc>>,
}

/// An automation, with its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Automation {
    pub id: Uuid,
    pub card_id: Uuid,
    pub card_name: String,
    pub kind: AutomationKind,
    /// A custom rule's name; the kind's label for a built-in one.
    pub name: String,
    pub enabled: bool,
    pub trigger: Trigger,
    pub message: String,
    pub reward_points: u32,
    pub reward_stamps: u32,
    pub figures: AutomationFigures,
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::wire::strict")]
    pub updated_at: DateTime<Utc>,
}

/// Where one occurrence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Due,
    Sent,
    Skipped,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [
        RunStatus::Due,
        RunStatus::Sent,
        RunStatus::Skipped,
        RunStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Due => "due",
            RunStatus::Sent => "sent",
            RunStatus::Skipped => "skipped",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// One occurrence of an automation for one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationRun {
    pub id: i64,
    pub customer_id: Uuid,
    pub customer_name: String,
    /// What it is an occurrence of: a year (`2027`) for birthdays and anniversaries, the
    /// last visit for a win-back, the event's ID for a feedback request or a custom rule.
    pub occurrence: String,
    pub status: RunStatus,
    /// Why it was skipped.
    pub reason: Option<SkipReason>,
    /// When it was first due.
    #[serde(with = "crate::wire::strict")]
    pub planned_at: DateTime<Utc>,
    /// When it is (or was) due, after any quiet-hours deferral.
    #[serde(with = "crate::wire::strict")]
    pub due_at: DateTime<Utc>,
    /// Quiet hours moved it.
    pub deferred: bool,
    pub fired_at: Option<DateTime<Utc>>,
    /// The push it went out in.
    pub push_id: Option<Uuid>,
}

/// The merchant's rules for every automation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AutomationSettings {
    /// Pause every automation: what comes due meanwhile is skipped (`paused`), not sent
    /// later.
    pub paused: bool,
    /// Quiet hours, `HH:MM` local: automated messages due from `quiet_start` to `quiet_end`
    /// wait until `quiet_end`. Equal times: no quiet hours.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
    )]
    pub quiet_start: String,
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
    )]
    pub quiet_end: String,
    /// At most `cap_messages` automated messages per customer in `cap_days` days (1 to 100
    /// in 1 to 365); what the cap holds back is skipped (`cap`).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub cap_messages: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 365))]
    pub cap_days: u32,
    /// An occurrence more than this many hours late (after downtime) is skipped (`stale`),
    /// not sent late: 1 to 168.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 168))]
    pub staleness_hours: u32,
}

impl Default for AutomationSettings {
    fn default() -> Self {
        AutomationSettings {
            paused: false,
            quiet_start: "21:00".to_owned(),
            quiet_end: "08:00".to_owned(),
            cap_messages: 3,
            cap_days: 7,
            staleness_hours: 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_read_as_the_document_describes_them() {
        let read = |json: &str| serde_json::from_str::<Trigger>(json);
        assert_eq!(
            read(r#"{"type":"winback","lapse_days":30}"#).ok(),
            Some(Trigger::Winback { lapse_days: 30 })
        );
        for refused in [
            r#"{"type":"winback","lapse_days":30,"extra":1}"#,
            r#"{"type":3,"lapse_days":30}"#,
            r#"{"lapse_days":30}"#,
            r#"{"type":"event","event":"visit","delay":{"amount":1,"unit":"hours","x":0}}"#,
        ] {
            assert!(read(refused).is_err(), "{refused}");
        }
        let written = serde_json::to_value(Trigger::default_for(AutomationKind::Custom)).ok();
        assert_eq!(
            written,
            Some(
                serde_json::json!({"type": "event", "event": "card_installed", "delay": {"amount": 0, "unit": "minutes"}})
            )
        );
    }

    #[test]
    fn delays_stop_at_a_year() {
        let d = |amount, unit| Delay { amount, unit }.minutes();
        assert_eq!(d(366, DelayUnit::Days), Some(527_040));
        assert_eq!(d(367, DelayUnit::Days), None);
        assert_eq!(d(u32::MAX, DelayUnit::Hours), None);
        assert_eq!(d(0, DelayUnit::Minutes), Some(0));
    }
}
