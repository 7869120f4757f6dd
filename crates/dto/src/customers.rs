use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::passes::Pass;

/// Whether the customer agreed to hear from the merchant on each channel. A STOP reply or
/// an unsubscribe link turns the channel off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Consent {
    pub sms: bool,
    pub email: bool,
    pub telegram: bool,
    pub messenger: bool,
}

impl Default for Consent {
    fn default() -> Self {
        Consent {
            sms: true,
            email: true,
            telegram: true,
            messenger: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    /// The customer ID.
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    /// E.164, e.g. `+14155550123`.
    pub phone: Option<String>,
    /// Lower-cased.
    pub email: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub telegram_chat_id: Option<String>,
    pub messenger_psid: Option<String>,
    pub consent: Consent,
    pub visits: i32,
    pub last_visit_at: Option<DateTime<Utc>>,
    pub points: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A customer with the wallet passes they installed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerDetail {
    #[serde(flatten)]
    pub customer: Customer,
    pub passes: Vec<Pass>,
}

/// A customer to create. `phone` may be national (read with the merchant's default
/// country) or international; it is stored as E.164.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCustomer {
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<NaiveDate>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub telegram_chat_id: Option<String>,
    pub messenger_psid: Option<String>,
    /// All channels on when absent.
    pub consent: Option<Consent>,
    #[serde(default)]
    pub visits: i32,
    pub last_visit_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub points: i64,
}

/// A partial update: absent fields stay as they are; `null` clears an optional field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub phone: Option<Option<String>>,
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub email: Option<Option<String>>,
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<NaiveDate>))]
    pub birthday: Option<Option<NaiveDate>>,
    pub tags: Option<Vec<String>>,
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub telegram_chat_id: Option<Option<String>>,
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub messenger_psid: Option<Option<String>>,
    pub consent: Option<Consent>,
    pub visits: Option<i32>,
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>))]
    pub last_visit_at: Option<Option<DateTime<Utc>>>,
    pub points: Option<i64>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// How the customer list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CustomerSort {
    #[default]
    Name,
    CreatedAt,
    Visits,
    LastVisitAt,
    Points,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// The outcome of a CSV import. Valid rows are imported; invalid rows are reported with
/// their line numbers and nothing of them is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// New customers created.
    pub created: u64,
    /// Rows merged into an existing customer with the same phone or email (including an
    /// earlier row of the same file).
    pub merged: u64,
    /// Rows rejected, each with the reasons.
    pub errors: Vec<ImportRowError>,
    /// Header columns that were not recognised and so not read.
    pub ignored_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRowError {
    /// The line in the file, counting the header as line 1.
    pub line: u64,
    pub errors: Vec<crate::FieldError>,
}
