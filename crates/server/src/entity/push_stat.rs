use sea_orm::entity::prelude::*;

/// A push's figures on one lane (see `engine::Lane`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "push_stats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub push_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub lane: i16,
    /// Devices (or passes) it went to.
    pub total: i64,
    /// Accepted by the platform (APNs).
    pub sent: i64,
    /// Of those, the devices that fetched the updated pass since.
    pub delivered: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// Sent without a notification of their own: another push woke the device for the
    /// same pass moments before, and its fetch brought this message too.
    pub coalesced: i64,
    /// Google: added to the pass without a notification (Google allows three notifying
    /// messages per pass a day).
    pub quiet: i64,
    pub repeats: i64,
    pub sandbox: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
