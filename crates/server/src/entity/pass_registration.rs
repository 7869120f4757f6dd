use sea_orm::entity::prelude::*;

/// A device registered for a pass through the Apple Wallet web service.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pass_registrations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub pass_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_library_id: String,
    /// What the deliveries of pushes name as their recipient.
    pub id: Option<Uuid>,
    pub push_token: String,
    /// The last notification sent to the device for this pass.
    pub pushed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
