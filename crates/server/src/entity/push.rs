use sea_orm::entity::prelude::*;

/// A wallet push: a message for the back of a card's passes and a notification to their
/// devices, now or at `scheduled_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pushes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub card_id: Uuid,
    /// The segment whose holders it goes to; `None` for every holder of the card.
    pub segment_id: Option<Uuid>,
    pub message: String,
    /// `scheduled`, `sending`, `completed` or `cancelled`.
    pub status: String,
    pub scheduled_at: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    /// Passes whose back got the message when it went out.
    pub passes: i64,
    /// Deliveries not settled yet.
    pub pending: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    /// The automation it was sent for; `None` for a push a person sent.
    pub automation_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
