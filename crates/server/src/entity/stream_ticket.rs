use sea_orm::entity::prelude::*;

/// A single-use ticket that opens one change stream (see [`crate::feed::tickets`]).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_tickets")]
pub struct Model {
    /// SHA-256 of the ticket, hex.
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_hash: String,
    pub merchant_id: Uuid,
    pub member_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub session_id: Option<String>,
    pub session_expires_at: Option<DateTimeUtc>,
    /// The member's session generation when the ticket was issued for a session.
    pub session_generation: Option<i32>,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
