use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What the message is for: `source_kind` (see `engine::source`) and its id.
    pub source_kind: i16,
    pub source_id: Uuid,
    /// The customer it is for, and what it goes to: the customer again on their own
    /// channels, a pass or a subscription on the channels that reach those.
    pub customer_id: Uuid,
    pub recipient_id: Uuid,
    pub channel: i16,
    pub status: i16,
    pub attempts: i16,
    pub next_attempt_at: DateTimeUtc,
    /// The claim that holds it while it is being sent.
    pub claim: Option<i64>,
    /// How often a stopped worker may have been sending it when it was taken back.
    pub doubt: i16,
    /// Whether a sandbox provider took it (nothing went out).
    pub sandbox: bool,
    pub credits: i32,
    pub provider_id: Option<String>,
    pub error: Option<String>,
    /// A failure for good (the address or content cannot work as they are): not resent.
    pub permanent: bool,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
