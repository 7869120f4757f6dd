use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cards")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub name: String,
    pub kind: String,
    pub description: String,
    pub background_color: String,
    pub foreground_color: String,
    pub label_color: String,
    pub logo_text: String,
    pub apple_pass_type_id: Option<String>,
    pub membership_period_days: Option<i32>,
    /// The store locations (`[StoreLocation]` as JSON).
    pub locations: String,
    /// `production` or `sandbox` APNs for its passes; `None`: the server's default.
    pub apns_environment: Option<String>,
    /// When its Google Wallet loyalty class was created at Google.
    pub google_class_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
