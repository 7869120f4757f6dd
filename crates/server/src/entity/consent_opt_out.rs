use sea_orm::entity::prelude::*;

/// An opt-out the customer made themselves, in force (see [`crate::engine::consent`]).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_opt_outs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    pub merchant_id: Uuid,
    pub source: String,
    /// Our number that received the STOP.
    pub number: Option<String>,
    /// Whether it turned consent off.
    pub revoked: bool,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
