//! Customers: parsing input into valid records, storing them with their tags, listing and
//! searching, and merging by phone or email.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use loyalcast_domain::validation::{self, FieldIssue};
use loyalcast_domain::{Email, Fields, Phone};
use loyalcast_dto::{
    Channel, Consent, ConsentSource, Customer, CustomerPatch, CustomerSort, FieldError,
    NewCustomer, SortOrder,
};
use sea_orm::sea_query::{Expr, ExprTrait, NullOrdering, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::engine::consent::{self, Actor, Change};
use crate::entity::{customer, customer_tag};
use crate::error::{ApiError, Result};

/// A customer's fields, all checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub telegram_chat_id: Option<String>,
    pub messenger_psid: Option<String>,
    /// An IANA zone name, checked.
    pub time_zone: Option<String>,
    pub consent: Consent,
    pub visits: i32,
    pub last_visit_at: Option<DateTime<Utc>>,
    pub points: i64,
}

/// Checks every field of a new customer; all errors at once.
pub fn parse(
    input: &NewCustomer,
    country: phonenumber::country::Id,
    now: DateTime<Utc>,
    today: NaiveDate,
    fields: &mut Fields,
) -> Option<CustomerRecord> {
    let first_name = fields.text("first_name", &input.first_name, 100);
    let last_name = fields.line("last_name", &input.last_name, 100);
    let phone = optional(fields, "phone", input.phone.as_deref(), |v| {
        Phone::parse(v, country).map(Phone::into_inner)
    });
    let email = optional(fields, "email", input.email.as_deref(), |v| {
        Email::parse(v).map(Email::into_inner)
    });
    if let Some(birthday) = input.birthday
        && (birthday > today || birthday.year() < 1900)
    {
        fields.push("birthday", "out_of_range", "must be a past date after 1900");
    }
    let tags = fields.check("tags", validation::tags(&input.tags));
    let telegram_chat_id = optional(
        fields,
        "telegram_chat_id",
        input.telegram_chat_id.as_deref(),
        telegram_chat_id,
    );
    let messenger_psid = optional(
        fields,
        "messenger_psid",
        input.messenger_psid.as_deref(),
        messenger_psid,
    );
    let time_zone = match input.time_zone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => match name.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz.name().to_owned()),
            Err(_) => {
                fields.push(
                    "time_zone",
                    "invalid",
                    "must be a time zone name such as Europe/Berlin",
                );
                None
            }
        },
    };
    if input.visits < 0 {
        fields.push("visits", "out_of_range", "must not be negative");
    }
    if input.points < 0 {
        fields.push("points", "out_of_range", "must not be negative");
    }
    if let Some(at) = input.last_visit_at
        && at > now + chrono::Duration::minutes(5)
    {
        fields.push("last_visit_at", "out_of_range", "must not be in the future");
    }
    if fields.has_errors() {
        return None;
    }
    Some(CustomerRecord {
        first_name: first_name?,
        last_name: last_name?,
        phone: phone?,
        email: email?,
        birthday: input.birthday,
        tags: tags?,
        telegram_chat_id: telegram_chat_id?,
        messenger_psid: messenger_psid?,
        time_zone,
        consent: input.consent.unwrap_or_default(),
        visits: input.visits,
        last_visit_at: input.last_visit_at,
        points: input.points,
    })
}

/// `Some(None)` for absent, `Some(Some(v))` when it parses, `None` on error. A blank value
/// is not taken for "none": `null` says that, and the OpenAPI document declares each
/// field's shape (an email format, a digits pattern) that a blank does not have. (The CSV
/// import turns empty cells into absent values before they get here.)
fn optional<T>(
    fields: &mut Fields,
    field: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, FieldIssue>,
) -> Option<Option<T>> {
    match value {
        None => Some(None),
        Some(v) => fields.check(field, parse(v)).map(Some),
    }
}

/// Up to 20 digits, `-` in front for a group: `loyalcast_dto::text::TELEGRAM_CHAT_ID`.
fn telegram_chat_id(value: &str) -> Result<String, FieldIssue> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.is_empty() && digits.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(FieldIssue::new(
            "invalid_chat_id",
            "must be a Telegram chat id (digits)",
        ))
    }
}

/// 1 to 32 digits: `loyalcast_dto::text::MESSENGER_PSID`.
fn messenger_psid(value: &str) -> Result<String, FieldIssue> {
    if !value.is_empty() && value.len() <= 32 && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(FieldIssue::new(
            "invalid_psid",
            "must be a Messenger page-scoped id (digits)",
        ))
    }
}

/// Applies a patch to a stored customer, giving the input to check again as a whole.
pub fn patched(current: &Customer, patch: CustomerPatch) -> NewCustomer {
    NewCustomer {
        first_name: patch
            .first_name
            .unwrap_or_else(|| current.first_name.clone()),
        last_name: patch.last_name.unwrap_or_else(|| current.last_name.clone()),
        phone: patch.phone.unwrap_or_else(|| current.phone.clone()),
        email: patch.email.unwrap_or_else(|| current.email.clone()),
        birthday: patch.birthday.unwrap_or(current.birthday),
        tags: patch.tags.unwrap_or_else(|| current.tags.clone()),
        telegram_chat_id: patch
            .telegram_chat_id
            .unwrap_or_else(|| current.telegram_chat_id.clone()),
        messenger_psid: patch
            .messenger_psid
            .unwrap_or_else(|| current.messenger_psid.clone()),
        time_zone: patch.time_zone.unwrap_or_else(|| current.time_zone.clone()),
        consent: Some(patch.consent.unwrap_or(current.consent)),
        visits: patch.visits.unwrap_or(current.visits),
        last_visit_at: patch.last_visit_at.unwrap_or(current.last_visit_at),
        points: patch.points.unwrap_or(current.points),
    }
}

fn search_text(r: &CustomerRecord) -> String {
    let phone_digits = r
        .phone
        .as_deref()
        .map(|p| p.trim_start_matches('+'))
        .unwrap_or("");
    format!(
        "{} {} {} {}",
        r.first_name,
        r.last_name,
        phone_digits,
        r.email.as_deref().unwrap_or("")
    )
    .to_lowercase()
}

/// The row for a record (new when `id` is unset).
pub fn active_model(
    merchant_id: Uuid,
    id: Uuid,
    r: &CustomerRecord,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> customer::ActiveModel {
    customer::ActiveModel {
        id: Set(id),
        merchant_id: Set(merchant_id),
        first_name: Set(r.first_name.clone()),
        last_name: Set(r.last_name.clone()),
        phone: Set(r.phone.clone()),
        email: Set(r.email.clone()),
        birthday: Set(r.birthday),
        birthday_month: Set(r.birthday.map(|b| b.month() as i16)),
        birthday_day: Set(r.birthday.map(|b| b.day() as i16)),
        telegram_chat_id: Set(r.telegram_chat_id.clone()),
        messenger_psid: Set(r.messenger_psid.clone()),
        sms_consent: Set(r.consent.sms),
        email_consent: Set(r.consent.email),
        telegram_consent: Set(r.consent.telegram),
        messenger_consent: Set(r.consent.messenger),
        visits: Set(r.visits),
        last_visit_at: Set(r.last_visit_at),
        points: Set(r.points),
        search_text: Set(search_text(r)),
        created_at: Set(created_at),
        updated_at: Set(now),
        time_zone: Set(r.time_zone.clone()),
        birthday_changed_at: sea_orm::NotSet,
        bonus_stamps: sea_orm::NotSet,
    }
}

/// Refuses a phone or email that another customer of the merchant already has.
pub async fn ensure_contact_free(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    r: &CustomerRecord,
    except: Option<Uuid>,
) -> Result<()> {
    let mut fields = Fields::new();
    for (field, column, value) in [
        ("phone", customer::Column::Phone, r.phone.as_ref()),
        ("email", customer::Column::Email, r.email.as_ref()),
    ] {
        let Some(value) = value else { continue };
        let mut query = customer::Entity::find()
            .filter(customer::Column::MerchantId.eq(merchant_id))
            .filter(column.eq(value.clone()));
        if let Some(id) = except {
            query = query.filter(customer::Column::Id.ne(id));
        }
        if query.count(db).await? > 0 {
            fields.push(
                field,
                "taken",
                format!("another customer already has this {field}"),
            );
        }
    }
    fields.finish().map_err(|taken| ApiError::Taken(taken.0))
}

/// The consent changes from `before` to `after`, one per channel that differs.
pub fn consent_changes(
    merchant_id: Uuid,
    customer_id: Uuid,
    before: Consent,
    after: Consent,
    source: ConsentSource,
    actor: Actor,
    legal_basis: Option<&str>,
) -> Vec<Change> {
    Channel::ALL
        .into_iter()
        .filter(|c| before.get(*c) != after.get(*c))
        .map(|channel| Change {
            merchant_id,
            customer_id,
            channel,
            granted: after.get(channel),
            source,
            actor,
            legal_basis: legal_basis.map(str::to_owned),
        })
        .collect()
}

/// Refuses (409, naming `consent.<channel>`) a consent that turns on a channel the customer
/// opted out of themselves: only they can give it again.
pub async fn refuse_reopt_in(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    after: Consent,
) -> Result<()> {
    let opted_out = consent::opted_out(db, &[customer_id]).await?;
    let refused: Vec<FieldError> = opted_out
        .get(&customer_id)
        .into_iter()
        .flatten()
        .filter(|c| after.get(**c))
        .map(|c| FieldError {
            field: format!("consent.{}", c.as_str()),
            code: "opted_out".to_owned(),
            message: format!(
                "the customer opted out of {} themselves; only they can opt in again",
                c.label()
            ),
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(ApiError::OptedOut(refused))
    }
}

/// Inserts a customer with its tags; the consent it gives is recorded as given by `actor`.
pub async fn insert(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    r: &CustomerRecord,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Customer> {
    insert_as(db, merchant_id, r, ConsentSource::Api, actor, now).await
}

/// Inserts a customer with its tags; its consent is recorded as coming from `source`.
pub async fn insert_as(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    r: &CustomerRecord,
    source: ConsentSource,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Customer> {
    let id = Uuid::now_v7();
    let mut row = active_model(merchant_id, id, r, now, now);
    // A birthday given now is recent: the birthday automation waits a year for it.
    row.birthday_changed_at = Set(r.birthday.map(|_| now));
    let model = row.insert(db).await?;
    replace_tags(db, merchant_id, id, &r.tags).await?;
    let changes = consent_changes(
        merchant_id,
        id,
        Consent::default(),
        r.consent,
        source,
        actor,
        None,
    );
    consent::record(db, &changes, now).await?;
    Ok(to_dto(&model, r.tags.clone()))
}

/// Stores a customer's new state with its tags, changed by `actor` from `before`: a consent
/// the customer withdrew themselves is refused, and each consent change is recorded.
pub async fn update(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    id: Uuid,
    before: &Customer,
    r: &CustomerRecord,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Customer> {
    refuse_reopt_in(db, id, r.consent).await?;
    let changes = consent_changes(
        merchant_id,
        id,
        before.consent,
        r.consent,
        ConsentSource::Api,
        actor,
        None,
    );
    consent::record(db, &changes, now).await?;
    let created_at = before.created_at;
    let mut row = active_model(merchant_id, id, r, created_at, now);
    if before.birthday != r.birthday {
        row.birthday_changed_at = Set(r.birthday.map(|_| now));
    }
    let model = row.update(db).await?;
    replace_tags(db, merchant_id, id, &r.tags).await?;
    let after = to_dto(&model, r.tags.clone());
    // What the customer's wallet passes show changed: devices are to fetch them again.
    if (
        &after.first_name,
        &after.last_name,
        after.points,
        after.visits,
    ) != (
        &before.first_name,
        &before.last_name,
        before.points,
        before.visits,
    ) {
        crate::wallet::apple::touch(db, merchant_id, &[id], now).await?;
    }
    Ok(after)
}

pub async fn replace_tags(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    id: Uuid,
    tags: &[String],
) -> Result<()> {
    customer_tag::Entity::delete_many()
        .filter(customer_tag::Column::CustomerId.eq(id))
        .exec(db)
        .await?;
    add_tags(db, merchant_id, &[(id, tags.to_vec())]).await
}

/// Adds tags to customers, keeping those they have.
pub async fn add_tags(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    tags: &[(Uuid, Vec<String>)],
) -> Result<()> {
    let rows: Vec<customer_tag::ActiveModel> = tags
        .iter()
        .flat_map(|(id, tags)| {
            tags.iter().map(move |tag| customer_tag::ActiveModel {
                customer_id: Set(*id),
                tag: Set(tag.clone()),
                merchant_id: Set(merchant_id),
            })
        })
        .collect();
    for chunk in rows.chunks(500) {
        customer_tag::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([customer_tag::Column::CustomerId, customer_tag::Column::Tag])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The tags of each customer given.
pub async fn tags_of(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<String>>> {
    let mut by_customer: HashMap<Uuid, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows = customer_tag::Entity::find()
            .filter(customer_tag::Column::CustomerId.is_in(chunk.iter().copied()))
            .order_by_asc(customer_tag::Column::Tag)
            .all(db)
            .await?;
        for row in rows {
            by_customer
                .entry(row.customer_id)
                .or_default()
                .push(row.tag);
        }
    }
    Ok(by_customer)
}

pub async fn find(db: &impl ConnectionTrait, merchant_id: Uuid, id: Uuid) -> Result<Customer> {
    let model = customer::Entity::find_by_id(id)
        .filter(customer::Column::MerchantId.eq(merchant_id))
        .one(db)
        .await?
        .ok_or(ApiError::NotFound)?;
    let tags = tags_of(db, &[id]).await?.remove(&id).unwrap_or_default();
    Ok(to_dto(&model, tags))
}

pub fn to_dto(m: &customer::Model, tags: Vec<String>) -> Customer {
    Customer {
        id: m.id,
        first_name: m.first_name.clone(),
        last_name: m.last_name.clone(),
        phone: m.phone.clone(),
        email: m.email.clone(),
        birthday: m.birthday,
        tags,
        telegram_chat_id: m.telegram_chat_id.clone(),
        messenger_psid: m.messenger_psid.clone(),
        time_zone: m.time_zone.clone(),
        consent: Consent {
            sms: m.sms_consent,
            email: m.email_consent,
            telegram: m.telegram_consent,
            messenger: m.messenger_consent,
        },
        visits: m.visits,
        last_visit_at: m.last_visit_at,
        points: m.points,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// A customer's consent, their own opt-outs and the latest 200 changes.
pub async fn consent_history(
    db: &impl ConnectionTrait,
    customer: &Customer,
) -> Result<loyalcast_dto::ConsentHistory> {
    let opted_out = consent::opted_out(db, &[customer.id])
        .await?
        .remove(&customer.id)
        .unwrap_or_default();
    Ok(loyalcast_dto::ConsentHistory {
        consent: customer.consent,
        opted_out,
        changes: consent::history(db, customer.id, 200).await?,
    })
}

/// What the customer list is asked for.
pub struct ListQuery {
    pub search: Option<String>,
    pub tag: Option<String>,
    pub sort: CustomerSort,
    pub order: SortOrder,
    pub page: u64,
    pub per_page: u64,
}

/// One page of customers, and how many match in all.
pub async fn list(
    db: &impl ConnectionTrait,
    merchant_id: Uuid,
    q: &ListQuery,
) -> Result<(Vec<Customer>, u64)> {
    let mut condition = Condition::all().add(customer::Column::MerchantId.eq(merchant_id));
    if let Some(search) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        for term in search_terms(search) {
            condition = condition.add(
                Expr::col(customer::Column::SearchText).like(format!("%{}%", escape_like(&term))),
            );
        }
    }
    if let Some(tag) = q.tag.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        // No tag holds a control character (a NUL would not even reach PostgreSQL's text):
        // such a tag matches no one.
        if tag.chars().any(char::is_control) {
            return Ok((Vec::new(), 0));
        }
        condition = condition.add(
            customer::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(customer_tag::Column::CustomerId)
                    .from(customer_tag::Entity)
                    .and_where(customer_tag::Column::MerchantId.eq(merchant_id))
                    .and_where(customer_tag::Column::Tag.eq(tag.to_lowercase()))
                    .to_owned(),
            ),
        );
    }
    let total = customer::Entity::find()
        .filter(condition.clone())
        .count(db)
        .await?;
    let order = match q.order {
        SortOrder::Asc => Order::Asc,
        SortOrder::Desc => Order::Desc,
    };
    let mut query = customer::Entity::find().filter(condition);
    query = match q.sort {
        CustomerSort::Name => query
            .order_by(customer::Column::LastName, order.clone())
            .order_by(customer::Column::FirstName, order.clone()),
        CustomerSort::CreatedAt => query.order_by(customer::Column::CreatedAt, order.clone()),
        CustomerSort::Visits => query.order_by(customer::Column::Visits, order.clone()),
        CustomerSort::Points => query.order_by(customer::Column::Points, order.clone()),
        CustomerSort::LastVisitAt => query.order_by_with_nulls(
            customer::Column::LastVisitAt,
            order.clone(),
            NullOrdering::Last,
        ),
    };
    let models = query
        .order_by(customer::Column::Id, order)
        .offset((q.page - 1).saturating_mul(q.per_page))
        .limit(q.per_page)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = models.iter().map(|m| m.id).collect();
    let mut tags = tags_of(db, &ids).await?;
    let items = models
        .iter()
        .map(|m| to_dto(m, tags.remove(&m.id).unwrap_or_default()))
        .collect();
    Ok((items, total))
}

/// Splits a search into lower-cased words; a phone-like word is reduced to its digits
/// (search text holds phones as digits), so "(415) 555" finds +1415555....
fn search_terms(search: &str) -> Vec<String> {
    let search = search.to_lowercase();
    let phone_like = search.chars().any(|c| c.is_ascii_digit())
        && search
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like {
        return vec![search.chars().filter(char::is_ascii_digit).collect()];
    }
    // Stored text holds no control characters (a NUL could not even be sent to
    // PostgreSQL): they are left out of the terms.
    search
        .split_whitespace()
        .map(|t| t.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|t| !t.is_empty())
        .take(5)
        .collect()
}

/// A search term made safe for `LIKE`: both databases treat `%` and `_` as wildcards (and
/// `\` as an escape on some), so they are dropped rather than let a search match everything.
pub fn escape_like(term: &str) -> String {
    term.chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect()
}

/// The messages a customer was sent, newest first (by the index of a customer's rows), with
/// what sent them; one page and the total.
pub async fn messages(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    page: u64,
    per_page: u64,
) -> Result<(Vec<loyalcast_dto::CustomerMessage>, u64)> {
    use crate::engine::Lane;
    use crate::engine::queue::status;
    use crate::engine::source::SourceKind;
    use crate::entity::{delivery, mailing, push};
    use loyalcast_dto::{CustomerMessage, MessageSource, MessageStatus};
    use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
    let query = delivery::Entity::find().filter(delivery::Column::CustomerId.eq(customer_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(delivery::Column::Id)
        .offset(page.saturating_sub(1).saturating_mul(per_page))
        .limit(per_page)
        .all(db)
        .await?;
    let ids_of = |kind: SourceKind| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = rows
            .iter()
            .filter(|r| SourceKind::of(r.source_kind) == Some(kind))
            .map(|r| r.source_id)
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let mut names: std::collections::HashMap<Uuid, String> = mailing::Entity::find()
        .filter(mailing::Column::Id.is_in(ids_of(SourceKind::Mailing)))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect();
    let pushes = push::Entity::find()
        .filter(push::Column::Id.is_in(ids_of(SourceKind::Push)))
        .all(db)
        .await?;
    let automation_ids: Vec<Uuid> = pushes.iter().filter_map(|p| p.automation_id).collect();
    let automation_names = crate::automations::names(db, automation_ids).await?;
    let mut automated: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
    for p in pushes {
        let name = match p.automation_id {
            Some(a) => {
                automated.insert(p.id);
                automation_names.get(&a).cloned().unwrap_or_default()
            }
            None => p.message,
        };
        names.insert(p.id, name);
    }
    let items = rows
        .into_iter()
        .filter_map(|r| {
            let source = match SourceKind::of(r.source_kind)? {
                SourceKind::Mailing => MessageSource::Mailing,
                SourceKind::Push if automated.contains(&r.source_id) => MessageSource::Automation,
                SourceKind::Push => MessageSource::Push,
            };
            let lane = Lane::of(r.channel)?;
            let status = match r.status {
                status::QUEUED => MessageStatus::Queued,
                status::SENDING => MessageStatus::Sending,
                status::HELD => MessageStatus::Scheduled,
                status::SENT => MessageStatus::Sent,
                status::DELIVERED => MessageStatus::Delivered,
                status::OPENED => MessageStatus::Opened,
                status::FAILED => MessageStatus::Failed,
                status::UNSUBSCRIBED => MessageStatus::Unsubscribed,
                status::CANCELLED => MessageStatus::Cancelled,
                _ => MessageStatus::Uncertain,
            };
            Some(CustomerMessage {
                id: r.id,
                source,
                source_id: r.source_id,
                source_name: names.get(&r.source_id).cloned().unwrap_or_default(),
                channel: lane.channel(),
                wallet: lane.channel().is_none().then(|| lane.as_str().to_owned()),
                status,
                reason: r.error,
                attempts: u32::try_from(r.attempts).unwrap_or(0),
                updated_at: r.updated_at,
            })
        })
        .collect();
    Ok((items, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default()
    }

    #[test]
    fn a_customer_is_parsed_with_every_field_checked() {
        let input = NewCustomer {
            first_name: " Ann ".into(),
            last_name: "Lee".into(),
            phone: Some("(415) 555-2671".into()),
            email: Some("Ann@Example.com".into()),
            tags: vec!["VIP".into()],
            ..Default::default()
        };
        let mut fields = Fields::new();
        let record = parse(
            &input,
            phonenumber::country::Id::US,
            Utc::now(),
            today(),
            &mut fields,
        );
        assert!(!fields.has_errors());
        let record = record.unwrap_or_else(|| panic!("not parsed"));
        assert_eq!(record.first_name, "Ann");
        assert_eq!(record.phone.as_deref(), Some("+14155552671"));
        assert_eq!(record.email.as_deref(), Some("ann@example.com"));
        assert_eq!(record.tags, vec!["vip".to_owned()]);
        assert_eq!(search_text(&record), "ann lee 14155552671 ann@example.com");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let input = NewCustomer {
            first_name: "".into(),
            phone: Some("12".into()),
            email: Some("nope".into()),
            birthday: NaiveDate::from_ymd_opt(2030, 1, 1),
            visits: -1,
            telegram_chat_id: Some("abc".into()),
            ..Default::default()
        };
        let mut fields = Fields::new();
        assert!(
            parse(
                &input,
                phonenumber::country::Id::US,
                Utc::now(),
                today(),
                &mut fields
            )
            .is_none()
        );
        let names: Vec<String> = fields.into_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(
            names,
            [
                "first_name",
                "phone",
                "email",
                "birthday",
                "telegram_chat_id",
                "visits"
            ]
        );
    }

    #[test]
    fn phone_like_searches_become_digits() {
        assert_eq!(search_terms("(415) 555"), vec!["415555".to_owned()]);
        assert_eq!(
            search_terms("Ann  LEE"),
            vec!["ann".to_owned(), "lee".to_owned()]
        );
        assert_eq!(escape_like("50%_off"), "50off");
    }

    #[test]
    fn the_documented_chat_id_patterns_are_the_checks() {
        let telegram = regex::Regex::new(loyalcast_dto::text::TELEGRAM_CHAT_ID)
            .unwrap_or_else(|e| panic!("{e}"));
        let messenger = regex::Regex::new(loyalcast_dto::text::MESSENGER_PSID)
            .unwrap_or_else(|e| panic!("{e}"));
        let digits = |n: usize| "7".repeat(n);
        let samples = [
            String::new(),
            "-".into(),
            "12".into(),
            "-12".into(),
            "--12".into(),
            " 12".into(),
            "12 ".into(),
            "1a".into(),
            "١٢".into(),
            digits(20),
            format!("-{}", digits(20)),
            digits(21),
            digits(32),
            digits(33),
        ];
        for sample in &samples {
            assert_eq!(
                telegram.is_match(sample),
                telegram_chat_id(sample).is_ok(),
                "telegram {sample:?}"
            );
            assert_eq!(
                messenger.is_match(sample),
                messenger_psid(sample).is_ok(),
                "messenger {sample:?}"
            );
        }
    }
}
