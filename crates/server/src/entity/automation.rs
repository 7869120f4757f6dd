use sea_orm::entity::prelude::*;

/// An automation of a card: a built-in kind (one per card) or a custom rule.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "automations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub card_id: Uuid,
    /// `loyalcast_dto::AutomationKind`.
    pub kind: String,
    pub name: String,
    pub enabled: bool,
    /// The trigger as the API writes it (`loyalcast_dto::Trigger`, JSON).
    pub trigger_json: String,
    /// The event a custom rule follows (`visit`/`purchase` for feedback: `either` is both).
    pub event_kind: Option<String>,
    /// Local minutes past midnight (birthday, anniversary).
    pub send_minute: Option<i32>,
    pub days_before: i32,
    pub delay_minutes: i32,
    pub cooldown_days: i32,
    pub lapse_days: i32,
    pub message: String,
    pub reward_points: i64,
    pub reward_stamps: i32,
    /// Since when it reacts: events before are not its occurrences, nor days before.
    pub armed_at: DateTimeUtc,
    /// The calendar scans have planned every occurrence due before this.
    pub planned_through: Option<DateTimeUtc>,
    /// When a process last took this automation's scan.
    pub scanned_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
