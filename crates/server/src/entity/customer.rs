use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<Date>,
    pub birthday_month: Option<i16>,
    pub birthday_day: Option<i16>,
    pub telegram_chat_id: Option<String>,
    pub messenger_psid: Option<String>,
    pub sms_consent: bool,
    pub email_consent: bool,
    pub telegram_consent: bool,
    pub messenger_consent: bool,
    pub visits: i32,
    pub last_visit_at: Option<DateTimeUtc>,
    pub points: i64,
    pub search_text: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The customer's own IANA time zone, when known (else the merchant's applies).
    pub time_zone: Option<String>,
    /// When the birthday was last added or changed through the API or enrolment.
    pub birthday_changed_at: Option<DateTimeUtc>,
    /// Stamps granted by automations, on top of one per visit.
    pub bonus_stamps: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
