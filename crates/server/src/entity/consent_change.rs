use sea_orm::entity::prelude::*;

/// One change of a customer's consent on a channel (see [`crate::engine::consent`]).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: Uuid,
    pub customer_id: Uuid,
    pub channel: String,
    pub granted: bool,
    pub source: String,
    pub actor_member_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    pub legal_basis: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
