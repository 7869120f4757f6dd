//! CSV import of customers. Every row is checked first; invalid rows are reported with their
//! line numbers and nothing of them is written. Valid rows are written in one transaction:
//! a row whose phone or email belongs to an existing customer (or to an earlier row of the
//! file) is merged into that customer rather than doubled.

use std::collections::HashMap;

use actix_web::web::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use loyalcast_domain::Fields;
use loyalcast_dto::{
    Channel, Consent, ConsentSource, FieldError, ImportReport, ImportRowError, NewCustomer,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::customers::{self, CustomerRecord};
use crate::engine::consent::{self, Actor};
use crate::entity::{customer, customer_tag};
use crate::error::{ApiError, Result};

pub const MAX_ROWS: usize = 100_000;
/// The most columns a header may name. Customer exports have tens; a header of thousands is
/// not a customer list, and each column costs work on every row.
pub const MAX_COLUMNS: usize = 1_000;
/// The most characters of a column name the report repeats.
const MAX_ECHOED_NAME: usize = 60;
/// More tag entries than this in one cell are refused without being read one by one (a
/// customer holds at most 20; a cell of millions would otherwise become millions of strings).
const MAX_TAG_ENTRIES: usize = 1_000;

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

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

impl Column {
    /// The customer field the column fills. A full name fills the first name (and the last
    /// name only where no last-name column says otherwise), so `name` and `first_name`
    /// together name one field twice.
    fn field(self) -> &'static str {
        match self {
            Column::FirstName | Column::FullName => "first_name",
            Column::LastName => "last_name",
            Column::Phone => "phone",
            Column::Email => "email",
            Column::Birthday => "birthday",
            Column::Tags => "tags",
            Column::Points => "points",
            Column::Visits => "visits",
            Column::LastVisit => "last_visit",
            Column::TelegramChatId => "telegram_chat_id",
            Column::MessengerPsid => "messenger_psid",
            Column::SmsOptIn => "sms_opt_in",
            Column::EmailOptIn => "email_opt_in",
        }
    }
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

/// A column name as the report or an error repeats it: trimmed, and cut short.
fn echo(name: &str) -> String {
    let name = name.trim();
    let mut echoed: String = name.chars().take(MAX_ECHOED_NAME).collect();
    if echoed.len() < name.len() {
        echoed.push('…');
    }
    echoed
}

/// Line numbers of byte offsets asked for in increasing order, counted in one pass over the
/// file however many rows ask. A line ends at LF, CR LF or a lone CR: csv ends records at
/// each (old Mac exports use CR alone), and so do editors when they number lines, while
/// csv's own line count sees LF only, and late: it numbers every row of a CR LF file one
/// line early, and every row of a CR file line 1.
struct Lines<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            at: 0,
            line: 1,
        }
    }

    /// The line of the record that csv says starts at `offset`. After a CR LF, csv starts
    /// the next record at the LF (it ends a record at the CR and then skips the LF as an
    /// empty line), so line ends at the offset belong to the line before the record.
    fn record_line(&mut self, offset: usize) -> u64 {
        let skipped = self.bytes.get(offset..).map_or(0, |rest| {
            rest.iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count()
        });
        self.line_at(offset + skipped)
    }

    fn line_at(&mut self, offset: usize) -> u64 {
        let end = offset.min(self.bytes.len());
        while self.at < end {
            if ends_line(self.bytes, self.at) {
                self.line += 1;
            }
            self.at += 1;
        }
        self.line
    }
}

/// Whether the byte at `i` ends a line (the LF of a CR LF does; its CR does not).
fn ends_line(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(i + 1) != Some(&b'\n'),
        _ => false,
    }
}

/// The line of a quote that opens a value and never closes, reading quotes as csv does: only
/// a quote at the start of a value opens one, inside it `""` is a quote, and after its
/// closing quote the value goes on unquoted. csv itself ends such a value at the end of the
/// file, silently folding every later line into it.
fn unclosed_quote(bytes: &[u8]) -> Option<u64> {
    #[derive(Clone, Copy)]
    enum State {
        ValueStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::ValueStart;
    let mut line = 1u64;
    let mut opened_on = 1u64;
    for (i, &b) in bytes.iter().enumerate() {
        let ends_value = matches!(b, b',' | b'\n' | b'\r');
        state = match (state, b) {
            (State::ValueStart, b'"') => {
                opened_on = line;
                State::Quoted
            }
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) => State::Quoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (_, _) if ends_value => State::ValueStart,
            (_, _) => State::Unquoted,
        };
        if ends_line(bytes, i) {
            line += 1;
        }
    }
    matches!(state, State::Quoted).then_some(opened_on)
}

/// The text of the file, or why it cannot be read as CSV at all, naming the line. These
/// refuse the whole file: a file in another encoding, or cut by a stray quote, would be read
/// wrongly everywhere, not just at the line that shows it.
fn text_of(bytes: &[u8]) -> Result<&str> {
    if bytes.starts_with(b"\xff\xfe") || bytes.starts_with(b"\xfe\xff") {
        return Err(ApiError::BadRequest(
            "The file is UTF-16 text (as Excel's \"Unicode text\" saves it): save it as \
             \"CSV UTF-8\" and import that. Nothing was imported."
                .to_owned(),
        ));
    }
    let line_of = |offset: usize| Lines::new(bytes).line_at(offset);
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(ApiError::BadRequest(format!(
            "Line {} holds a NUL byte, which no CSV text does: is this a spreadsheet \
             (.xlsx) or UTF-16 file? Save it as \"CSV UTF-8\". Nothing was imported.",
            line_of(at)
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "Line {} is not UTF-8 text: save the file as \"CSV UTF-8\". Nothing was \
             imported.",
            line_of(e.valid_up_to())
        ))
    })?;
    if let Some(line) = unclosed_quote(bytes) {
        return Err(ApiError::BadRequest(format!(
            "Line {line} opens a quoted value that is never closed, so every line after it \
             would be read into that value. Close the quote (a quote inside a quoted value \
             is written twice). Nothing was imported."
        )));
    }
    Ok(text)
}

/// One row read from the file, checked.
struct Row {
    line: u64,
    record: CustomerRecord,
    stated: Stated,
}

/// What the import says about consent on each channel (in [`Channel::ALL`] order): given
/// (`Some(true)`), withdrawn (`Some(false)`) or nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stated([Option<bool>; 4]);

impl Stated {
    fn index(channel: Channel) -> usize {
        Channel::ALL.iter().position(|c| *c == channel).unwrap_or(0)
    }

    fn get(&self, channel: Channel) -> Option<bool> {
        self.0[Self::index(channel)]
    }

    fn set(&mut self, channel: Channel, value: bool) {
        self.0[Self::index(channel)] = Some(value);
    }

    /// Two rows of one customer: a withdrawal wins over a grant, a grant over nothing.
    fn merge(&mut self, other: Stated) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine = match (*mine, theirs) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), _) | (_, Some(true)) => Some(true),
                _ => None,
            };
        }
    }

    /// The consent of a customer who had `current` and opted out of `opted_out` themselves:
    /// what is withdrawn is off, what is given is on unless the customer opted out of it,
    /// the rest stays.
    fn applied(&self, current: Consent, opted_out: &[Channel]) -> Consent {
        let mut consent = current;
        for channel in Channel::ALL {
            match self.get(channel) {
                Some(false) => consent.set(channel, false),
                Some(true) if !opted_out.contains(&channel) => consent.set(channel, true),
                _ => {}
            }
        }
        consent
    }
}

/// The legal basis an import declares for giving consent on channels that its rows say
/// nothing about (no consent column, or an empty cell).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declaration {
    /// The channels every row consents to unless its own column says otherwise.
    pub channels: Vec<Channel>,
    /// Why the merchant may message these customers (recorded with every change).
    pub legal_basis: Option<String>,
}

/// A file read and checked.
struct Read {
    rows: Vec<Row>,
    errors: Vec<ImportRowError>,
    ignored: Vec<String>,
    count: u64,
}

/// Reads and checks the file; writes nothing. Linear in the file's size: each byte is looked
/// at a fixed number of times, however the file is shaped.
fn read(
    bytes: &[u8],
    country: phonenumber::country::Id,
    declared: &[Channel],
    may_record_consent: bool,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<Read> {
    // Excel's "CSV UTF-8" starts with a byte order mark. csv skips it too, but the checks
    // below read the bytes themselves (a quote right after it opens the first value), and
    // csv's record offsets must count from where the line count does.
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text = text_of(bytes)?;
    let mut lines = Lines::new(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ApiError::BadRequest(format!("The CSV header could not be read: {e}")))?
        .clone();
    if headers.len() > MAX_COLUMNS {
        return Err(ApiError::field(
            "file",
            "too_many_columns",
            format!(
                "line 1 names {} columns; an import reads at most {MAX_COLUMNS}",
                headers.len()
            ),
        ));
    }
    let columns: Vec<Option<Column>> = headers.iter().map(column).collect();
    // Two columns for one field would be read in turn, the second overwriting the first
    // (a blank mobile erasing the phone): which one the merchant meant cannot be told.
    let mut named: HashMap<&'static str, &str> = HashMap::new();
    for (name, column) in headers.iter().zip(&columns) {
        let Some(column) = column else { continue };
        if let Some(earlier) = named.insert(column.field(), name) {
            return Err(ApiError::field(
                "file",
                "duplicate_column",
                format!(
                    "line 1 names the {} twice, as \"{}\" and \"{}\"; keep one of them",
                    column.field(),
                    echo(earlier),
                    echo(name)
                ),
            ));
        }
    }
    let ignored: Vec<String> = headers
        .iter()
        .zip(&columns)
        .filter(|(h, c)| c.is_none() && !h.is_empty())
        .map(|(h, _)| echo(h))
        .collect();
    let has = |wanted: Column| columns.contains(&Some(wanted));
    if !may_record_consent && (has(Column::SmsOptIn) || has(Column::EmailOptIn)) {
        return Err(ApiError::Forbidden(
            "This file has consent columns, and this API key may not record consent (it \
             lacks the `consent:write` scope); leave the columns out or use a key that has it.",
        ));
    }
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
        // The header is line 1; records may span lines when quoted, so count from where
        // the record starts.
        let position = match &result {
            Ok(record) => record.position(),
            Err(e) => e.position(),
        };
        let line = position
            .and_then(|p| usize::try_from(p.byte()).ok())
            .map_or(index as u64 + 2, |offset| lines.record_line(offset));
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
        // More values than the header has columns is most often an unquoted comma inside a
        // value, which shifts every value after it into the wrong column. Empty ones are
        // what spreadsheets write past the last column, and harmless.
        if record.len() > columns.len() && record.iter().skip(columns.len()).any(|v| !v.is_empty())
        {
            errors.push(ImportRowError {
                line,
                errors: vec![FieldError {
                    field: "row".into(),
                    code: "too_many_values".into(),
                    message: format!(
                        "has {} values but the header names {} columns; quote a value that \
                         holds a comma",
                        record.len(),
                        columns.len()
                    ),
                }],
            });
            continue;
        }
        let mut fields = Fields::new();
        let mut input = NewCustomer::default();
        let mut stated = Stated::default();
        let mut full_name = None;
        for (value, column) in record.iter().zip(&columns) {
            let Some(column) = column else { continue };
            let value = value.trim();
            let text = || (!value.is_empty()).then(|| value.to_owned());
            match column {
                Column::FirstName => input.first_name = value.to_owned(),
                Column::LastName => input.last_name = value.to_owned(),
                // Split once every column is read: a last-name column wins, in any order.
                Column::FullName => full_name = Some(value),
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
                    let entries = value
                        .split([';', '|', ','])
                        .map(str::trim)
                        .filter(|t| !t.is_empty());
                    if entries.clone().count() > MAX_TAG_ENTRIES {
                        fields.push("tags", "too_many", "at most 20 tags");
                    } else {
                        input.tags = entries.map(str::to_owned).collect();
                    }
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
                    Some(v) => stated.set(Channel::Sms, v),
                    None => fields.push("sms_opt_in", "invalid_boolean", "must be yes or no"),
                },
                Column::EmailOptIn if !value.is_empty() => match yes_no(value) {
                    Some(v) => stated.set(Channel::Email, v),
                    None => fields.push("email_opt_in", "invalid_boolean", "must be yes or no"),
                },
                _ => {}
            }
        }
        if let Some(full_name) = full_name {
            let (first, last) = full_name.split_once(' ').unwrap_or((full_name, ""));
            input.first_name = first.to_owned();
            if input.last_name.is_empty() {
                input.last_name = last.trim().to_owned();
            }
        }
        for channel in declared {
            if stated.get(*channel).is_none() {
                stated.set(*channel, true);
            }
        }
        // A new customer has what the row gives and nothing else.
        input.consent = Some(stated.applied(Consent::default(), &[]));
        let parsed = customers::parse(&input, country, now, today, &mut fields);
        match (parsed, fields.has_errors()) {
            (Some(record), false) => rows.push(Row {
                line,
                record,
                stated,
            }),
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
/// larger value. A merge never erases data the merchant already has. (Consent is merged
/// apart, as [`Stated`].)
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

#[allow(clippy::too_many_arguments)]
pub async fn run(
    db: &impl TransactionTrait,
    merchant_id: Uuid,
    country: phonenumber::country::Id,
    declaration: Declaration,
    may_record_consent: bool,
    actor: Actor,
    now: DateTime<Utc>,
    today: NaiveDate,
    bytes: Bytes,
) -> Result<ImportReport> {
    let declared = declaration.channels.clone();
    // Reading and checking a file of up to the import limit is CPU work of a good part of a
    // second; on a blocking thread it does not hold up the other requests of this worker.
    let Read {
        rows,
        mut errors,
        ignored: ignored_columns,
        count,
    } = tokio::task::spawn_blocking(move || {
        read(&bytes, country, &declared, may_record_consent, now, today)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("reading a CSV import")))??;
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
    // Every matched customer's tags in one pass (500 a query), not one query per merged row;
    // sorted as merge() sorts, so that an unchanged customer compares equal below.
    let matched: Vec<Uuid> = existing.keys().copied().collect();
    let mut existing_tags = customers::tags_of(&txn, &matched).await?;
    for tags in existing_tags.values_mut() {
        tags.sort();
    }
    // What the matched customers opted out of themselves: an import cannot give it back.
    let opted_out = consent::opted_out(&txn, &matched).await?;
    let no_opt_outs = Vec::new();
    let opted_out_of = |id: &Uuid| opted_out.get(id).unwrap_or(&no_opt_outs);
    let mut notices: Vec<ImportRowError> = Vec::new();
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
    let mut new_stated: Vec<Stated> = Vec::new();
    let mut updates: HashMap<Uuid, CustomerRecord> = HashMap::new();
    let mut update_stated: HashMap<Uuid, Stated> = HashMap::new();
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
                new_stated.push(row.stated);
                Target::New(new_records.len() - 1)
            }
            Some((0, index, _)) => {
                merged += 1;
                merge(&mut new_records[index], &row.record);
                new_stated[index].merge(row.stated);
                Target::New(index)
            }
            Some((_, _, id)) => {
                merged += 1;
                let refused: Vec<FieldError> = opted_out_of(&id)
                    .iter()
                    .filter(|c| row.stated.get(**c) == Some(true))
                    .map(|c| FieldError {
                        field: format!("consent.{}", c.as_str()),
                        code: "opted_out".into(),
                        message: format!(
                            "the customer opted out of {} themselves; it stays off",
                            c.label()
                        ),
                    })
                    .collect();
                if !refused.is_empty() {
                    notices.push(ImportRowError {
                        line: row.line,
                        errors: refused,
                    });
                }
                update_stated.entry(id).or_default().merge(row.stated);
                let base = match updates.remove(&id) {
                    Some(record) => record,
                    None => {
                        let model = existing.get(&id).ok_or_else(|| {
                            ApiError::Internal(anyhow::anyhow!("merge target vanished"))
                        })?;
                        let tags = existing_tags.get(&id).cloned().unwrap_or_default();
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

    let legal_basis = declaration.legal_basis.as_deref();
    let mut consent_changes = Vec::new();
    let mut new_tags: Vec<(Uuid, Vec<String>)> = Vec::new();
    let mut models = Vec::with_capacity(new_records.len());
    for (record, stated) in new_records.iter_mut().zip(&new_stated) {
        record.consent = stated.applied(Consent::default(), &[]);
        let id = Uuid::now_v7();
        models.push(customers::active_model(merchant_id, id, record, now, now));
        new_tags.push((id, record.tags.clone()));
        consent_changes.extend(customers::consent_changes(
            merchant_id,
            id,
            Consent::default(),
            record.consent,
            ConsentSource::Import,
            actor,
            legal_basis,
        ));
    }
    for chunk in models.chunks(200) {
        customer::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    customers::add_tags(&txn, merchant_id, &new_tags).await?;
    // Merged customers: one UPDATE each, and only where the file changed something (a file
    // imported again writes nothing); their tags replaced in batches.
    let mut retagged: Vec<(Uuid, Vec<String>)> = Vec::new();
    // Customers whose passes now show something else (name, points, visits).
    let mut shown_changed: Vec<Uuid> = Vec::new();
    for (id, record) in &mut updates {
        let model = existing
            .get(id)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("merge target vanished")))?;
        let tags = existing_tags.remove(id).unwrap_or_default();
        let current = record_of(model, tags.clone());
        let stated = update_stated.get(id).copied().unwrap_or_default();
        record.consent = stated.applied(current.consent, opted_out_of(id));
        if current == *record {
            continue;
        }
        consent_changes.extend(customers::consent_changes(
            merchant_id,
            *id,
            current.consent,
            record.consent,
            ConsentSource::Import,
            actor,
            legal_basis,
        ));
        customers::active_model(merchant_id, *id, record, model.created_at, now)
            .update(&txn)
            .await?;
        if record.tags != tags {
            retagged.push((*id, record.tags.clone()));
        }
        if (
            &record.first_name,
            &record.last_name,
            record.points,
            record.visits,
        ) != (
            &current.first_name,
            &current.last_name,
            current.points,
            current.visits,
        ) {
            shown_changed.push(*id);
        }
    }
    crate::wallet::apple::touch(&txn, merchant_id, &shown_changed, now).await?;
    for chunk in retagged.chunks(500) {
        customer_tag::Entity::delete_many()
            .filter(customer_tag::Column::CustomerId.is_in(chunk.iter().map(|(id, _)| *id)))
            .exec(&txn)
            .await?;
    }
    customers::add_tags(&txn, merchant_id, &retagged).await?;
    consent::record(&txn, &consent_changes, now).await?;
    txn.commit().await?;
    errors.sort_by_key(|e| e.line);
    notices.sort_by_key(|e| e.line);
    Ok(ImportReport {
        rows: count,
        created: new_records.len() as u64,
        merged,
        errors,
        ignored_columns,
        notices,
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
        time_zone: c.time_zone,
        consent: c.consent,
        visits: c.visits,
        last_visit_at: c.last_visit_at,
        points: c.points,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
    }

    /// The lines of the rows reported, and how many rows passed.
    fn lines_of(file: &[u8]) -> (Vec<u64>, usize) {
        let read = read(
            file,
            phonenumber::country::Id::US,
            &[],
            true,
            Utc::now(),
            today(),
        )
        .unwrap();
        (
            read.errors.iter().map(|e| e.line).collect(),
            read.rows.len(),
        )
    }

    fn refusal(file: &[u8]) -> String {
        match read(
            file,
            phonenumber::country::Id::US,
            &[],
            true,
            Utc::now(),
            today(),
        ) {
            Ok(_) => panic!("read"),
            Err(ApiError::BadRequest(detail)) => detail,
            Err(ApiError::Validation(errors)) => errors[0].message.clone(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn rows_are_numbered_by_the_line_they_start_on_whatever_ends_lines() {
        for end in ["\n", "\r\n", "\r"] {
            let file = [
                "first_name,points",
                "Ann,1",
                "Bob,x",
                "\"Cara",
                "Maria\",2",
                "Dan,y",
                "",
            ]
            .join(end);
            // Cara's quoted name spans lines 4 and 5 (and is refused for its line break).
            assert_eq!(lines_of(file.as_bytes()), (vec![3, 4, 6], 1), "{end:?}");
        }
        // Mixed, as files pasted together are.
        assert_eq!(
            lines_of(b"first_name,points\r\nAnn,x\nBob,1\rCara,y\r\n"),
            (vec![2, 4], 1)
        );
        // Blank lines count as lines.
        assert_eq!(
            lines_of(b"first_name,points\n\n\r\n\rAnn,x\n"),
            (vec![5], 0)
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_column() {
        let read = read(
            b"\xef\xbb\xbffirst_name\nAnn\n",
            phonenumber::country::Id::US,
            &[],
            true,
            Utc::now(),
            today(),
        )
        .unwrap();
        assert_eq!(read.rows.len(), 1);
        assert!(read.ignored.is_empty());
    }

    #[test]
    fn quotes_are_matched_as_csv_reads_them() {
        assert_eq!(unclosed_quote(b"a,b\nc,d\n"), None);
        assert_eq!(unclosed_quote(b"a,\"b\nc\",d\n"), None);
        assert_eq!(unclosed_quote(b"a,\"b\"\"c\"\n"), None);
        assert_eq!(
            unclosed_quote(b"a,b\"c\nd\n"),
            None,
            "a quote inside a value is a character"
        );
        assert_eq!(
            unclosed_quote(b"a,\"b\"c\"\n"),
            None,
            "closed, then unquoted: b c quote"
        );
        assert_eq!(unclosed_quote(b"\"\""), None);
        assert_eq!(unclosed_quote(b"a\nb,\"c\nd\n"), Some(2));
        assert_eq!(unclosed_quote(b"a\r\nb\r\n\"c\r\n"), Some(3));
        assert_eq!(unclosed_quote(b"a\rb\r\"c"), Some(3));
        assert_eq!(unclosed_quote(b"\""), Some(1));
        assert_eq!(
            unclosed_quote(b"a,\"b\"\"\n"),
            Some(1),
            "the doubled quote is a quote"
        );
        assert_eq!(unclosed_quote(b""), None);
    }

    #[test]
    fn files_that_are_not_csv_text_are_refused_naming_the_line() {
        assert!(refusal(b"first_name\nAnn\nB\xe9a\n").starts_with("Line 3 is not UTF-8"));
        assert!(refusal(b"first_name\r\nAnn\r\nBob\0\r\n").starts_with("Line 3 holds a NUL"));
        assert!(refusal(b"\xff\xfef\0i\0").contains("UTF-16"));
        assert!(refusal(b"first_name\nAnn\n\"Bob\nCara\n").starts_with("Line 3 opens a quoted"));
        // The zip of an .xlsx renamed .csv.
        assert!(refusal(b"PK\x03\x04\x14\0\x06\0").contains("NUL"));
    }

    #[test]
    fn header_problems_name_line_1() {
        let wide = format!("first_name{}", ",x".repeat(MAX_COLUMNS));
        assert!(refusal(wide.as_bytes()).starts_with("line 1 names 1001 columns"));
        let ok = format!("first_name{}", ",x".repeat(MAX_COLUMNS - 1));
        assert!(
            read(
                ok.as_bytes(),
                phonenumber::country::Id::US,
                &[],
                true,
                Utc::now(),
                today()
            )
            .is_ok()
        );
        assert!(refusal(b"Phone,first_name,MOBILE\n").contains("\"Phone\" and \"MOBILE\""));
        let long = format!("first_name,{}\nAnn,x\n", "n".repeat(10_000));
        let read = read(
            long.as_bytes(),
            phonenumber::country::Id::US,
            &[],
            true,
            Utc::now(),
            today(),
        )
        .unwrap();
        assert_eq!(read.ignored[0].chars().count(), MAX_ECHOED_NAME + 1);
    }
}
