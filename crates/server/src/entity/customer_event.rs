use sea_orm::entity::prelude::*;

/// An event an integration recorded for a customer (a visit, a purchase, a review...).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: Uuid,
    pub customer_id: Uuid,
    pub pass_id: Option<Uuid>,
    /// `loyalcast_dto::EventKind`, as written in JSON.
    pub kind: String,
    /// The integration's own ID for it: unique per merchant.
    pub external_id: String,
    pub amount: Option<i64>,
    pub points: Option<i64>,
    pub occurred_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
