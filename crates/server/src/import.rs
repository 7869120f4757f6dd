//! CSV import of customers. Every row is checked first; invalid rows are reported with their
//! line numbers and nothing of them is written. Valid rows are written in one transaction:
//! a row whose phone or email belongs to an existing customer (or to an earlier row of the
//! file) is merged into that customer rather than doubled.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use loyalcast_domain::Fields;
use loyalcast_dto::{Consent, FieldError, ImportReport, ImportRowError, NewCustomer};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait};
use uuid::Uuid;

use crate::customers::{self, CustomerRecord};
use crate::entity::customer;
use crate::error::{ApiError, Result};

pub const MAX_ROWS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    FirstName,
    LastName,
    FullName,
    Phone,
    Email,
    Birthday,
    Tags,
    Points,
    Visits,
    LastVisit,
    TelegramChatId,
    MessengerPsid,
    SmsOptIn,
    EmailOptIn,
}

fn column(header: &str) -> Option<Column> {
    let key: String = header
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    Some(match key.as_str() {
        "first_name" | "firstname" | "given_name" => Column::FirstName,
        "last_name" | "lastname" | "surname" | "family_name" => Column::LastName,
        "name" | "full_name" => Column::FullName,
        "phone" | "phone_number" | "mobile" | "mobile_phone" => Column::Phone,
        "email" | "email_address" | "e_mail" => Column::Email,
        "birthday" | "birth_date" | "date_of_birth" | "dob" => Column::Birthday,
        "tags" | "tag" => Column::Tags,
        "points" => Column::Points,
        "visits" => Column::Visits,
        "last_visit" | "last_visit_at" => Column::LastVisit,
        "telegram_chat_id" | "telegram" => Column::TelegramChatId,
        "messenger_psid" | "messenger" => Column::MessengerPsid,
        "sms_opt_in" | "sms_consent" => Column::SmsOptIn,
        "email_opt_in" | "email_consent" => Column::EmailOptIn,
        _ => return None,
    })
}

/// One row read from the file, checked.
struct Row {
    line: u64,
    record: CustomerRecord,
}

/// A file read and checked.
struct Read {
    rows: Vec<Row>,
    errors: Vec<ImportRowError>,
    ignored: Vec<String>,
    count: u64,
}

/// Reads and checks the file; writes nothing.
fn read(bytes: &[u8], country: phonenumber::country::Id, today: NaiveDate) -> Result<Read> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| ApiError::BadRequest(format!("The CSV header could not be read: {e}")))?
        .clone();
    let columns: Vec<Option<Column>> = headers.iter().map(column).collect();
    let ignored: Vec<String> = headers
        .iter()
        .zip(&columns)
        .filter(|(_, c)| c.is_none())
        .map(|(h, _)| h.to_owned())
        .collect();
    let has = |wanted: Column| columns.contains(&Some(wanted));
    if !has(Column::FirstName) && !has(Column::FullName) {
        return Err(ApiError::field(
            "file",
            "missing_column",
            "the header must name a first_name (or name) column",
        ));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut count = 0u64;
    for (index, result) in reader.records().enumerate() {
        count += 1;
        if rows.len() + errors.len() >= MAX_ROWS {
            return Err(ApiError::PayloadTooLarge(format!(
                "An import may hold at most {MAX_ROWS} rows; split the file."
            )));
        }
        // The header is line 1; records may span lines when quoted, so take csv's count.
        let line = result
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map(|p| p.line())
            .unwrap_or(index as u64 + 2);
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                errors.push(ImportRowError {
                    line,
                    errors: vec![FieldError {
                        field: "row".into(),
                        code: "unreadable".into(),
                        message: e.to_string(),
                    }],
                });
                continue;
            }
        };
        if record.iter().all(str::is_empty) {
            continue;
        }
        let mut fields = Fields::new();
        let mut input = NewCustomer::default();
        let mut consent = Consent::default();
        for (value, column) in record.iter().zip(&columns) {
            let Some(column) = column else { continue };
            let value = value.trim();
            let text = || (!value.is_empty()).then(|| value.to_owned());
            match column {
                Column::FirstName => input.first_name = value.to_owned(),
                Column::LastName => input.last_name = value.to_owned(),
                Column::FullName => {
                    let (first, last) = value.split_once(' ').unwrap_or((value, ""));
                    input.first_name = first.to_owned();
                    input.last_name = last.trim().to_owned();
                }
                Column::Phone => input.phone = text(),
                Column::Email => input.email = text(),
                Column::Birthday if !value.is_empty() => {
                    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                        Ok(date) => input.birthday = Some(date),
                        Err(_) => {
                            fields.push("birthday", "invalid_date", "must be a date as YYYY-MM-DD")
                        }
                    }
                }
                Column::Tags => {
                    input.tags = value
                        .split([';', '|', ','])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                Column::Points if !value.is_empty() => match value.parse::<i64>() {
                    Ok(points) => input.points = points,
                    Err(_) => fields.push("points", "invalid_number", "must be a whole number"),
                },
                Column::Visits if !value.is_empty() => match value.parse::<i32>() {
                    Ok(visits) => input.visits = visits,
                    Err(_) => fields.push("visits", "invalid_number", "must be a whole number"),
                },
                Column::LastVisit if !value.is_empty() => match parse_instant(value) {
                    Some(at) => input.last_visit_at = Some(at),
                    None => fields.push(
                        "last_visit",
                        "invalid_date",
                        "must be YYYY-MM-DD or an RFC 3339 time",
                    ),
                },
                Column::TelegramChatId => input.telegram_chat_id = text(),
                Column::MessengerPsid => input.messenger_psid = text(),
                Column::SmsOptIn if !value.is_empty() => match yes_no(value) {
                    Some(v) => consent.sms = v,
                    None => fields.push("sms_opt_in", "invalid_boolean", "must be yes or no"),
                },
                Column::EmailOptIn if !value.is_empty() => match yes_no(value) {
                    Some(v) => consent.email = v,
                    None => fields.push("email_opt_in", "invalid_boolean", "must be yes or no"),
                },
                _ => {}
            }
        }
        input.consent = Some(consent);
        let parsed = customers::parse(&input, country, today, &mut fields);
        match (parsed, fields.has_errors()) {
            (Some(record), false) => rows.push(Row { line, record }),
            _ => errors.push(ImportRowError {
                line,
                errors: fields.into_errors(),
            }),
        }
    }
    Ok(Read {
        rows,
        errors,
        ignored,
        count,
    })
}

fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|t| t.and_utc())
        })
}

fn yes_no(value: &str) -> Option<bool> {
    match value.to_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Some(true),
        "no" | "n" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Fills the gaps of `base` with what `extra` knows; tags are united, counters kept at the
/// larger value, consent withdrawn if either withdrew it. A merge never erases data the
/// merchant already has.
fn merge(base: &mut CustomerRecord, extra: &CustomerRecord) {
    if base.last_name.is_empty() {
        base.last_name = extra.last_name.clone();
    }
    for (slot, value) in [
        (&mut base.phone, &extra.phone),
        (&mut base.email, &extra.email),
        (&mut base.telegram_chat_id, &extra.telegram_chat_id),
        (&mut base.messenger_psid, &extra.messenger_psid),
    ] {
        if slot.is_none() {
            slot.clone_from(value);
        }
    }
    base.birthday = base.birthday.or(extra.birthday);
    // An import can record an opt-out but never undo one (a STOP stays a STOP).
    base.consent.sms &= extra.consent.sms;
    base.consent.email &= extra.consent.email;
    base.consent.telegram &= extra.consent.telegram;
    base.consent.messenger &= extra.consent.messenger;
    for tag in &extra.tags {
        if !base.tags.contains(tag) {
            base.tags.push(tag.clone());
        }
    }
    base.tags.sort();
    base.tags.truncate(20);
    base.visits = base.visits.max(extra.visits);
    base.points = base.points.max(extra.points);
    base.last_visit_at = base.last_visit_at.max(extra.last_visit_at);
}

/// Where a row goes: a new customer, or one that exists (in the database or earlier in the
/// file).
enum Target {
    New(usize),
    Existing(Uuid),
}

pub async fn run(
    db: &impl TransactionTrait,
    merchant_id: Uuid,
    country: phonenumber::country::Id,
    today: NaiveDate,
    bytes: &[u8],
) -> Result<ImportReport> {
    let Read {
        rows,
        mut errors,
        ignored: ignored_columns,
        count,
    } = read(bytes, country, today)?;
    let txn = db.begin().await?;

    let phones: Vec<String> = rows.iter().filter_map(|r| r.record.phone.clone()).collect();
    let emails: Vec<String> = rows.iter().filter_map(|r| r.record.email.clone()).collect();
    let mut existing: HashMap<Uuid, customer::Model> = HashMap::new();
    for (column, values) in [
        (customer::Column::Phone, phones),
        (customer::Column::Email, emails),
    ] {
        for chunk in values.chunks(500) {
            let found = customer::Entity::find()
                .filter(customer::Column::MerchantId.eq(merchant_id))
                .filter(column.is_in(chunk.iter().cloned()))
                .all(&txn)
                .await?;
            for model in found {
                existing.insert(model.id, model);
            }
        }
    }
    let mut by_phone: HashMap<String, Target> = HashMap::new();
    let mut by_email: HashMap<String, Target> = HashMap::new();
    for model in existing.values() {
        if let Some(phone) = &model.phone {
            by_phone.insert(phone.clone(), Target::Existing(model.id));
        }
        if let Some(email) = &model.email {
            by_email.insert(email.clone(), Target::Existing(model.id));
        }
    }

    let mut new_records: Vec<CustomerRecord> = Vec::new();
    let mut updates: HashMap<Uuid, CustomerRecord> = HashMap::new();
    let mut merged = 0u64;
    let key = |t: &Target| match t {
        Target::New(i) => (0u8, *i, Uuid::nil()),
        Target::Existing(id) => (1u8, 0, *id),
    };
    for row in rows {
        let by_p = row
            .record
            .phone
            .as_ref()
            .and_then(|p| by_phone.get(p))
            .map(key);
        let by_e = row
            .record
            .email
            .as_ref()
            .and_then(|e| by_email.get(e))
            .map(key);
        let target = match (by_p, by_e) {
            (Some(a), Some(b)) if a != b => {
                errors.push(ImportRowError {
                    line: row.line,
                    errors: vec![FieldError {
                        field: "email".into(),
                        code: "conflict".into(),
                        message: "the phone and the email belong to two different customers".into(),
                    }],
                });
                continue;
            }
            (Some(t), _) | (None, Some(t)) => Some(t),
            (None, None) => None,
        };
        // Same contact but another first name is more likely a shared phone or a typo than
        // the same person: report it rather than fold two people into one.
        if let Some((kind, index, id)) = target {
            let known_name = if kind == 0 {
                new_records.get(index).map(|r| r.first_name.clone())
            } else {
                updates
                    .get(&id)
                    .map(|r| r.first_name.clone())
                    .or_else(|| existing.get(&id).map(|m| m.first_name.clone()))
            };
            if let Some(known_name) = known_name
                && known_name.to_lowercase() != row.record.first_name.to_lowercase()
            {
                let field = if by_p.is_some() { "phone" } else { "email" };
                errors.push(ImportRowError {
                    line: row.line,
                    errors: vec![FieldError {
                        field: field.into(),
                        code: "duplicate".into(),
                        message: format!("this {field} already belongs to {known_name}"),
                    }],
                });
                continue;
            }
        }
        let resolved = match target {
            None => {
                new_records.push(row.record);
                Target::New(new_records.len() - 1)
            }
            Some((0, index, _)) => {
                merged += 1;
                merge(&mut new_records[index], &row.record);
                Target::New(index)
            }
            Some((_, _, id)) => {
                merged += 1;
                let base = match updates.remove(&id) {
                    Some(record) => record,
                    None => {
                        let model = existing.get(&id).ok_or_else(|| {
                            ApiError::Internal(anyhow::anyhow!("merge target vanished"))
                        })?;
                        let tags = customers::tags_of(&txn, &[id])
                            .await?
                            .remove(&id)
                            .unwrap_or_default();
                        record_of(model, tags)
                    }
                };
                let mut base = base;
                merge(&mut base, &row.record);
                updates.insert(id, base);
                Target::Existing(id)
            }
        };
        // Whatever the row now resolves to also claims its contacts for later rows.
        let (record_phone, record_email) = match &resolved {
            Target::New(i) => (new_records[*i].phone.clone(), new_records[*i].email.clone()),
            Target::Existing(id) => updates
                .get(id)
                .map(|r| (r.phone.clone(), r.email.clone()))
                .unwrap_or_default(),
        };
        if let Some(phone) = record_phone {
            by_phone.entry(phone).or_insert_with(|| same(&resolved));
        }
        if let Some(email) = record_email {
            by_email.entry(email).or_insert_with(|| same(&resolved));
        }
    }

    let now = Utc::now();
    let mut new_tags: Vec<(Uuid, Vec<String>)> = Vec::new();
    let mut models = Vec::with_capacity(new_records.len());
    for record in &new_records {
        let id = Uuid::now_v7();
        models.push(customers::active_model(merchant_id, id, record, now));
        new_tags.push((id, record.tags.clone()));
    }
    for chunk in models.chunks(200) {
        customer::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    customers::add_tags(&txn, merchant_id, &new_tags).await?;
    for (id, record) in &updates {
        let created_at = existing.get(id).map(|m| m.created_at).unwrap_or(now);
        customers::update(&txn, merchant_id, *id, created_at, record).await?;
    }
    txn.commit().await?;
    errors.sort_by_key(|e| e.line);
    Ok(ImportReport {
        rows: count,
        created: new_records.len() as u64,
        merged,
        errors,
        ignored_columns,
    })
}

fn same(target: &Target) -> Target {
    match target {
        Target::New(i) => Target::New(*i),
        Target::Existing(id) => Target::Existing(*id),
    }
}

fn record_of(m: &customer::Model, tags: Vec<String>) -> CustomerRecord {
    let c = customers::to_dto(m, tags);
    CustomerRecord {
        first_name: c.first_name,
        last_name: c.last_name,
        phone: c.phone,
        email: c.email,
        birthday: c.birthday,
        tags: c.tags,
        telegram_chat_id: c.telegram_chat_id,
        messenger_psid: c.messenger_psid,
        consent: c.consent,
        visits: c.visits,
        last_visit_at: c.last_visit_at,
        points: c.points,
    }
}
