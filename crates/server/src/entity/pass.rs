use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub card_id: Uuid,
    pub customer_id: Uuid,
    pub serial_number: String,
    pub authentication_token: String,
    pub platform: String,
    pub installed_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    /// Microseconds since the epoch of the last change of what the pass shows; strictly
    /// increasing, given to devices as an opaque string.
    pub update_tag: i64,
    /// The latest message on the back of the pass; `None` before the first push.
    pub message: Option<String>,
    /// The newest tag a device fetched (the pass as of that tag).
    pub fetched_tag: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
