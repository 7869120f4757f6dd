use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub time_zone: String,
    pub default_country: String,
    pub created_at: DateTimeUtc,
    pub automations_paused: bool,
    /// Quiet hours for automated messages, local minutes past midnight.
    pub quiet_start: i32,
    pub quiet_end: i32,
    /// At most `cap_messages` automated messages per customer in `cap_days` days.
    pub cap_messages: i32,
    pub cap_days: i32,
    pub staleness_hours: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
