use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::Channel;
use crate::passes::Pass;

/// Whether the customer agreed to hear from the merchant on each channel. Nothing is on
/// unless given: a customer created without `consent` has every channel off. A STOP reply,
/// an unsubscribe link or a provider's "unsubscribed" answer turns a channel off, and only
/// the customer can turn it on again (START, the re-subscribe page); a team member's change
/// or an import that tries is refused (409). All four are required when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(example = json!({"sms": true, "email": true, "telegram": false, "messenger": false}))
)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// May receive SMS mailings.
    pub sms: bool,
    /// May receive email mailings.
    pub email: bool,
    /// May receive Telegram mailings.
    pub telegram: bool,
    /// May receive Messenger mailings.
    pub messenger: bool,
}

impl Consent {
    /// The consent on one channel.
    pub fn get(&self, channel: crate::Channel) -> bool {
        match channel {
            crate::Channel::Sms => self.sms,
            crate::Channel::Email => self.email,
            crate::Channel::Telegram => self.telegram,
            crate::Channel::Messenger => self.messenger,
        }
    }

    /// Sets the consent on one channel.
    pub fn set(&mut self, channel: crate::Channel, on: bool) {
        match channel {
            crate::Channel::Sms => self.sms = on,
            crate::Channel::Email => self.email = on,
            crate::Channel::Telegram => self.telegram = on,
            crate::Channel::Messenger => self.messenger = on,
        }
    }
}

/// Where a consent change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// A team member or an API key, creating or changing the customer.
    Api,
    /// A CSV import (a consent column, or the import's declared legal basis).
    Import,
    /// The customer replied STOP (or another opt-out word) to an SMS.
    Stop,
    /// The customer replied START after a STOP.
    Start,
    /// The customer used the unsubscribe link of a message.
    UnsubscribeLink,
    /// The customer subscribed again on the page the unsubscribe link leads to.
    ResubscribePage,
    /// A provider answered that the recipient unsubscribed or blocked the sender.
    Provider,
    /// The customer ticked it on the card's public enrolment page.
    Enrolment,
}

impl ConsentSource {
    /// As written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentSource::Api => "api",
            ConsentSource::Import => "import",
            ConsentSource::Stop => "stop",
            ConsentSource::Start => "start",
            ConsentSource::UnsubscribeLink => "unsubscribe_link",
            ConsentSource::ResubscribePage => "resubscribe_page",
            ConsentSource::Provider => "provider",
            ConsentSource::Enrolment => "enrolment",
        }
    }

    /// The source written as [`ConsentSource::as_str`] does.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "api" => ConsentSource::Api,
            "import" => ConsentSource::Import,
            "stop" => ConsentSource::Stop,
            "start" => ConsentSource::Start,
            "unsubscribe_link" => ConsentSource::UnsubscribeLink,
            "resubscribe_page" => ConsentSource::ResubscribePage,
            "provider" => ConsentSource::Provider,
            "enrolment" => ConsentSource::Enrolment,
            _ => return None,
        })
    }

    /// Whether this is the customer's own act (which only the customer can undo).
    pub fn by_customer(self) -> bool {
        !matches!(self, ConsentSource::Api | ConsentSource::Import)
    }
}

/// One change of a customer's consent on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "channel": "sms",
    "granted": false,
    "source": "stop",
    "actor_member_id": null,
    "actor_api_key_id": null,
    "legal_basis": null,
    "at": "2026-11-28T08:15:00.000000Z"
})))]
pub struct ConsentChange {
    /// The channel.
    pub channel: crate::Channel,
    /// `true`: consent given; `false`: withdrawn (or the customer opted out).
    pub granted: bool,
    /// Where the change came from.
    pub source: ConsentSource,
    /// The team member who made it, when one did.
    pub actor_member_id: Option<Uuid>,
    /// The API key that made it, when one did.
    pub actor_api_key_id: Option<Uuid>,
    /// The legal basis an import declared for the consent it gave.
    pub legal_basis: Option<String>,
    /// When.
    #[serde(with = "crate::wire::strict")]
    pub at: DateTime<Utc>,
}

/// A customer's consent now, the opt-outs only they can undo, and how it came to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentHistory {
    /// Consent per channel now.
    pub consent: Consent,
    /// Channels the customer opted out of themselves (STOP, an unsubscribe link, a
    /// provider's answer): only the customer can turn these on again.
    pub opted_out: Vec<crate::Channel>,
    /// The latest 200 changes, newest first.
    pub changes: Vec<ConsentChange>,
}

/// A card holder of the merchant, with contact data, consent and loyalty counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
    "first_name": "Ann",
    "last_name": "Lee",
    "phone": "+14155552671",
    "email": "ann.lee@example.com",
    "birthday": "1990-04-12",
    "tags": ["coffee-lover", "vip"],
    "telegram_chat_id": null,
    "messenger_psid": null,
    "consent": {"sms": true, "email": true, "telegram": true, "messenger": true},
    "visits": 12,
    "last_visit_at": "2026-11-28T08:15:00.000000Z",
    "points": 340,
    "created_at": "2026-01-05T10:00:00.000000Z",
    "updated_at": "2026-11-28T08:15:00.000000Z"
})))]
pub struct Customer {
    /// The customer ID.
    #[serde(with = "crate::wire::strict")]
    pub id: Uuid,
    /// Given name, never blank.
    pub first_name: String,
    /// Family name; an empty string when not known.
    pub last_name: String,
    /// Phone in E.164, e.g. `+14155552671`; `null` when the customer has none.
    #[cfg_attr(feature = "openapi", schema(format = "phone"))]
    pub phone: Option<String>,
    /// Email address, lower-cased; `null` when the customer has none.
    #[cfg_attr(feature = "openapi", schema(format = "email"))]
    pub email: Option<String>,
    /// Date of birth (a calendar day, no time zone); `null` when not known.
    #[serde(with = "crate::wire::strict::nullable")]
    pub birthday: Option<NaiveDate>,
    /// Tags, lower-cased, sorted and without duplicates (at most 20).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::schema::Tag>, max_items = 20))]
    pub tags: Vec<String>,
    /// Telegram chat id (digits, negative for groups); `null` when not linked.
    pub telegram_chat_id: Option<String>,
    /// Facebook Messenger page-scoped id (digits); `null` when not linked.
    pub messenger_psid: Option<String>,
    /// The customer's own time zone (an IANA name); `null`: the business's applies.
    /// Automations send in it.
    pub time_zone: Option<String>,
    /// Which channels the customer agreed to.
    pub consent: Consent,
    /// Visits counted so far.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 2147483647))]
    pub visits: i32,
    /// When the customer last visited; `null` if never.
    #[serde(with = "crate::wire::strict::nullable")]
    pub last_visit_at: Option<DateTime<Utc>>,
    /// Points balance.
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 9223372036854775807i64)
    )]
    pub points: i64,
    /// When the customer was added.
    #[serde(with = "crate::wire::strict")]
    pub created_at: DateTime<Utc>,
    /// When the customer was last changed.
    #[serde(with = "crate::wire::strict")]
    pub updated_at: DateTime<Utc>,
}

/// A customer with the wallet passes they installed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerDetail {
    /// Every field of the customer, inline.
    #[serde(flatten)]
    pub customer: Customer,
    /// The customer's installed passes, oldest first.
    pub passes: Vec<Pass>,
}

/// A customer to create.
///
/// Texts have surrounding whitespace removed; the length limits count the text as sent.
/// Contact fields are `null` (or left out) when not known; an empty string is refused. A
/// phone or email another customer of the merchant already has is refused (409, `taken`).
/// Unknown fields are refused (400).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "first_name": "Ann",
    "last_name": "Lee",
    "phone": "(415) 555-2671",
    "email": "Ann.Lee@example.com",
    "birthday": "1990-04-12",
    "tags": ["vip", "coffee-lover"],
    "consent": {"sms": true, "email": true, "telegram": false, "messenger": false},
    "visits": 3,
    "points": 120
})))]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// Given name: 1 to 100 characters on one line, not blank.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub first_name: String,
    /// Family name: up to 100 characters on one line; empty (the default) when not known.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$", default = "")
    )]
    pub last_name: String,
    /// Phone number, up to 32 characters: international with `+` and country code (e.g.
    /// `+44 20 7946 0958`), or national, read in the merchant's `default_country` (e.g.
    /// `(415) 555-2671` for `US`). It must be a valid number for its country (libphonenumber's
    /// rules); spaces, dots, dashes and brackets are ignored. Stored and returned as E.164.
    /// `null` or left out: no phone.
    #[cfg_attr(
        feature = "openapi",
        schema(format = "phone", min_length = 1, max_length = 32)
    )]
    pub phone: Option<String>,
    /// Email address, up to 254 characters of ASCII (internationalised addresses are not
    /// accepted), with a dot in the domain; no display name, no surrounding spaces. Stored
    /// lower-cased. `null` or left out: no email.
    #[cfg_attr(feature = "openapi", schema(format = "email", max_length = 254))]
    pub email: Option<String>,
    /// Date of birth, `YYYY-MM-DD`: from 1900-01-01 to today in the merchant's time zone.
    /// `null` or left out: not known.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub birthday: Option<NaiveDate>,
    /// Tags, at most 20 (duplicates after lower-casing count once); none when left out.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::schema::Tag>, max_items = 20))]
    pub tags: Vec<String>,
    /// Telegram chat id: up to 20 digits, with `-` in front for a group. `null` or left
    /// out: not linked.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 21, pattern = r"^-?[0-9]{1,20}$")
    )]
    pub telegram_chat_id: Option<String>,
    /// Facebook Messenger page-scoped id: 1 to 32 digits. `null` or left out: not linked.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 32, pattern = r"^[0-9]{1,32}$")
    )]
    pub messenger_psid: Option<String>,
    /// The customer's own time zone, an IANA name such as `Europe/Berlin` (up to 64
    /// characters): automations send in it (birthdays at 09:00 their time, quiet hours at
    /// their night). `null` or left out: the business's.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub time_zone: Option<String>,
    /// Consent per channel, as the customer gave it; left out, every channel is off (nothing
    /// may be sent). Each channel given is recorded in the customer's consent history
    /// (source `api`, with who gave it). `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub consent: Option<Consent>,
    /// Visits so far, 0 or more; 0 when left out.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 2147483647, default = 0)
    )]
    pub visits: i32,
    /// When the customer last visited, RFC 3339; at most 5 minutes in the future by the
    /// server's clock. `null` or left out: never.
    #[serde(default, with = "crate::wire::strict::nullable")]
    pub last_visit_at: Option<DateTime<Utc>>,
    /// Points balance, 0 or more; 0 when left out.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 0, maximum = 9223372036854775807i64, default = 0)
    )]
    pub points: i64,
}

/// A partial update: a field left out stays as it is. `null` clears the fields that may be
/// empty (`phone`, `email`, `birthday`, `telegram_chat_id`, `messenger_psid`,
/// `last_visit_at`); for the others `null` is refused (400). Each field takes the same
/// values as in [`NewCustomer`], and the customer as a whole is checked again. Unknown
/// fields are refused (400).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "last_name": "Lee-Park",
    "email": null,
    "tags": ["vip"],
    "points": 200
})))]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    /// New given name: 1 to 100 characters on one line, not blank. `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            min_length = 1,
            max_length = 100,
            pattern = r"^[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub first_name: Option<String>,
    /// New family name: up to 100 characters on one line; an empty string removes it.
    /// `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(
            nullable = false,
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub last_name: Option<String>,
    /// New phone, as in [`NewCustomer`]; `null` removes it.
    #[serde(
        default,
        with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, format = "phone", min_length = 1, max_length = 32)
    )]
    pub phone: Option<Option<String>>,
    /// New email, as in [`NewCustomer`]; `null` removes it.
    #[serde(
        default,
        with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, format = "email", max_length = 254)
    )]
    pub email: Option<Option<String>>,
    /// New date of birth, `YYYY-MM-DD`, from 1900-01-01 to today; `null` removes it.
    #[serde(
        default,
        with = "crate::wire::strict::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<NaiveDate>))]
    pub birthday: Option<Option<NaiveDate>>,
    /// The customer's tags, all of them (at most 20): they replace the current ones; `[]`
    /// removes every tag. `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Vec<crate::schema::Tag>, nullable = false, max_items = 20)
    )]
    pub tags: Option<Vec<String>>,
    /// New Telegram chat id (up to 20 digits, `-` in front for a group); `null` unlinks.
    #[serde(
        default,
        with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 21, pattern = r"^-?[0-9]{1,20}$")
    )]
    pub telegram_chat_id: Option<Option<String>>,
    /// New Messenger page-scoped id (1 to 32 digits); `null` unlinks.
    #[serde(
        default,
        with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 32, pattern = r"^[0-9]{1,32}$")
    )]
    pub messenger_psid: Option<Option<String>>,
    /// New time zone (an IANA name); `null` removes it (the business's applies).
    #[serde(
        default,
        with = "crate::wire::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, max_length = 64)
    )]
    pub time_zone: Option<Option<String>>,
    /// New consent, all four channels; each channel that changes is recorded in the
    /// customer's consent history. Turning on a channel the customer opted out of
    /// themselves (STOP, an unsubscribe link, a provider's answer) is refused with 409
    /// (`errors` names `consent.<channel>`, code `opted_out`) and nothing changes. `null` is
    /// refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub consent: Option<Consent>,
    /// New visit count, 0 or more. `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, minimum = 0, maximum = 2147483647)
    )]
    pub visits: Option<i32>,
    /// When the customer last visited, RFC 3339, at most 5 minutes in the future; `null`:
    /// never.
    #[serde(
        default,
        with = "crate::wire::strict::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>))]
    pub last_visit_at: Option<Option<DateTime<Utc>>>,
    /// New points balance, 0 or more. `null` is refused.
    #[serde(
        default,
        with = "crate::wire::non_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, minimum = 0, maximum = 9223372036854775807i64)
    )]
    pub points: Option<i64>,
}

/// How the customer list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CustomerSort {
    /// By last name, then first name (the default).
    #[default]
    Name,
    /// By when the customer was added.
    CreatedAt,
    /// By number of visits.
    Visits,
    /// By last visit; customers who never visited come last either way.
    LastVisitAt,
    /// By points balance.
    Points,
}

/// Which way a list is sorted: `asc` (the default) or `desc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Smallest (or A) first.
    #[default]
    Asc,
    /// Largest (or Z) first.
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
    /// Rows imported with a part left out, each with why: a consent the row gives on a
    /// channel the customer opted out of themselves (code `opted_out`), which stays off.
    pub notices: Vec<ImportRowError>,
}

/// A CSV row that was not imported (or, among `notices`, imported in part), and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRowError {
    /// The line in the file, counting the header as line 1.
    pub line: u64,
    /// What is wrong with the row, per column (named as the customer field).
    pub errors: Vec<crate::FieldError>,
}

/// Where a message a customer was sent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting to be sent (or for its next attempt, when `reason` says why the last failed).
    Queued,
    /// Being sent now.
    Sending,
    /// Waiting for its scheduled time, or for its paused mailing to resume.
    Scheduled,
    /// The provider took it.
    Sent,
    /// The provider confirmed it arrived.
    Delivered,
    /// The customer opened it (email).
    Opened,
    /// It could not be sent or delivered; `reason` says why.
    Failed,
    /// The customer had opted out of the channel (or the provider says so).
    Unsubscribed,
    /// Its mailing or push was cancelled before it went.
    Cancelled,
    /// The provider may have taken it; its report will say.
    Uncertain,
}

/// What a message was sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageSource {
    Mailing,
    Push,
    /// A wallet push an automation sent; `source_id` is the push's ID, `source_name` the
    /// automation's name.
    Automation,
}

/// One message a customer was sent: by a mailing on one of their channels, or by a wallet
/// push to one of their passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerMessage {
    /// The message's ID (stable, increasing).
    pub id: i64,
    pub source: MessageSource,
    /// The mailing's or the push's ID.
    pub source_id: Uuid,
    /// The mailing's name, or the push's message; empty when it was deleted since.
    pub source_name: String,
    /// The channel; `null` for a wallet push (to a pass, or a browser that subscribed to
    /// one), `wallet` then says where.
    pub channel: Option<Channel>,
    /// `apple`, `google` or `web` for a wallet push; `null` on a channel.
    pub wallet: Option<String>,
    pub status: MessageStatus,
    /// Why it failed, or why its last attempt did; `null` when nothing went wrong.
    pub reason: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// When its status last changed.
    #[serde(with = "crate::wire::strict")]
    pub updated_at: DateTime<Utc>,
}
