use sea_orm::entity::prelude::*;

/// One occurrence of an automation for one customer: unique on (automation, customer,
/// occurrence), which is what makes it fire once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "automation_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: Uuid,
    pub automation_id: Uuid,
    pub customer_id: Uuid,
    pub occurrence: String,
    pub planned_at: DateTimeUtc,
    pub due_at: DateTimeUtc,
    /// `loyalcast_dto::RunStatus`.
    pub status: String,
    /// `loyalcast_dto::SkipReason` when skipped; `disabled`/`changed` when cancelled.
    pub reason: Option<String>,
    pub deferred: bool,
    pub fired_at: Option<DateTimeUtc>,
    pub push_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
