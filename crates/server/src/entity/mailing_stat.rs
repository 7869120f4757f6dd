use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mailing_stats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mailing_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    pub total: i64,
    pub sent: i64,
    pub delivered: i64,
    pub opened: i64,
    pub failed: i64,
    pub unsubscribed: i64,
    pub opted_out_after: i64,
    pub cancelled: i64,
    pub credits_reserved: i64,
    pub credits_used: i64,
    /// Messages sent again after a stopped worker may have sent them: possible copies.
    pub repeats: i64,
    /// Messages whose outcome nobody knows yet (the provider may have accepted them).
    pub uncertain: i64,
    /// Messages a sandbox provider accepted (nothing went out).
    pub sandbox: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
