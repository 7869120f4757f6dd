//! The delivery queue: every statement on `deliveries` (and on the claims that hold its rows)
//! is here, with the statuses named.
//!
//! A row moves `queued → sending → sent → delivered → opened`, or ends `failed`,
//! `unsubscribed`, `cancelled` or `uncertain`; `held` waits for a scheduled time or a paused
//! source. A worker takes ready rows of one channel with a **claim**: a row of
//! `delivery_claims` holding the lease (renewed while the worker sends) and the number of
//! messages the worker keeps in flight (its window). Every row it takes names the claim, and
//! everything the worker later writes about a row requires that the row still names it and is
//! still `sending`: a row taken back after the lease ran out can never be settled twice.
//!
//! Taking rows back ([`reap`]) skips rows another transaction holds and works in id order, so
//! two processes doing it at once never wait on each other. Rows are sent in id order and a
//! worker starts no more than its window ahead of what it has recorded, so of the rows a
//! stopped worker still held, only the lowest `window` ids can have been sent: those get
//! `doubt` (their next send may be a second copy, and the report counts it), the rest go back
//! clean.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use loyalcast_dto::Channel;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionSession, TransactionTrait, Value};
use uuid::Uuid;

use super::error::Result;
use super::source::{Source, SourceKind};
use super::{Lane, channel_code, channel_of};

/// Delivery states, stored as small integers to keep the hot table narrow.
pub mod status {
    pub const QUEUED: i16 = 0;
    pub const SENDING: i16 = 1;
    pub const SENT: i16 = 2;
    pub const DELIVERED: i16 = 3;
    pub const OPENED: i16 = 4;
    pub const FAILED: i16 = 5;
    pub const UNSUBSCRIBED: i16 = 6;
    pub const CANCELLED: i16 = 7;
    /// Waiting for a scheduled time or for a paused source to resume.
    pub const HELD: i16 = 8;
    /// The provider may have accepted it; nobody knows. Neither sent nor failed until a
    /// status callback says which.
    pub const UNCERTAIN: i16 = 9;
}

/// A claim on some of one channel's ready rows.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub token: i64,
    pub lane: Lane,
    /// Messages the claiming worker keeps in flight (or sent and not yet recorded).
    pub window: u32,
}

/// A row as a claim took it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub source: Source,
    pub customer_id: Uuid,
    pub recipient_id: Uuid,
    pub lane: Lane,
    /// Claims so far, this one included.
    pub attempts: i16,
    /// Credits reserved for it.
    pub credits: i32,
    /// How often it was taken back from a worker that may have been sending it.
    pub doubt: i16,
}

/// `[[id, ...], ...]` bound as one parameter and read back as rows `v(...)`: one statement
/// and one prepared plan whatever the number of rows, looking rows up by key.
fn json_rows(backend: DbBackend, columns: &[(&str, &str)]) -> String {
    let select: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| match backend {
            DbBackend::Postgres => format!("(e->>{i})::{ty} AS {name}"),
            _ => format!("json_extract(value, '$[{i}]') AS {name}"),
        })
        .collect();
    match backend {
        DbBackend::Postgres => format!(
            "(SELECT {} FROM jsonb_array_elements($1::jsonb) AS e) AS v",
            select.join(", ")
        ),
        _ => format!("(SELECT {} FROM json_each($1)) AS v", select.join(", ")),
    }
}

/// A JSON array of ids, as one parameter.
fn id_list(backend: DbBackend, parameter: usize) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("(SELECT (jsonb_array_elements_text(${parameter}::jsonb))::bigint)")
        }
        _ => format!("(SELECT value FROM json_each(${parameter}))"),
    }
}

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    Value::from(serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned()))
}

fn truncate(text: &str) -> String {
    text.chars().take(500).collect()
}

fn ids_of(rows: &[sea_orm::QueryResult]) -> Result<Vec<i64>> {
    rows.iter()
        .map(|r| r.try_get::<i64>("", "id").map_err(Into::into))
        .collect()
}

/// Takes up to `limit` ready rows of `lane` (ids above `after`) under a new claim held
/// until `lease_until`; `None` when there are none.
#[allow(clippy::too_many_arguments)]
pub async fn claim(
    db: &impl TransactionTrait,
    lane: Lane,
    limit: u64,
    window: u32,
    after: i64,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
    process: Uuid,
) -> Result<Option<(Claim, Vec<Claimed>)>> {
    let token: i64 = rand::random::<i64>().wrapping_abs().max(1);
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        // The only good plan walks the ready index in id order and stops at the limit. The
        // planner's guess of how many rows are ready comes from statistics that are wrong
        // right after a fan-out (a million new ready rows) and in a long history (almost
        // none ready); with that guess it prefers a bitmap scan that collects and sorts every
        // ready row: 200 ms a claim at a million rows instead of 15.
        txn.execute_unprepared("SET LOCAL enable_bitmapscan = off")
            .await?;
    }
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO delivery_claims (token, channel, in_flight, lease_until, process, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        [
            token.into(),
            lane.code().into(),
            i32::try_from(window).unwrap_or(i32::MAX).into(),
            lease_until.into(),
            process.into(),
            now.into(),
        ],
    ))
    .await?;
    let lock = if backend == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    // The limit is inlined: a prepared `LIMIT $n` can get a generic plan that scans the
    // whole table on PostgreSQL.
    let sql = format!(
        "UPDATE deliveries SET status = {sending}, claim = $1, attempts = attempts + 1, updated_at = $2 \
         WHERE id IN (SELECT id FROM deliveries WHERE status = {queued} AND channel = $3 \
         AND next_attempt_at <= $2 AND id > $4 ORDER BY id LIMIT {limit} {lock}) \
         RETURNING id, source_kind, source_id, customer_id, recipient_id, attempts, credits, doubt",
        sending = status::SENDING,
        queued = status::QUEUED,
        limit = limit.max(1),
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            [token.into(), now.into(), lane.code().into(), after.into()],
        ))
        .await?;
    if rows.is_empty() {
        txn.rollback().await?;
        return Ok(None);
    }
    txn.commit().await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: i16 = row.try_get("", "source_kind")?;
        let Some(kind) = SourceKind::of(kind) else {
            continue;
        };
        claimed.push(Claimed {
            id: row.try_get("", "id")?,
            source: Source {
                kind,
                id: row.try_get("", "source_id")?,
            },
            customer_id: row.try_get("", "customer_id")?,
            recipient_id: row.try_get("", "recipient_id")?,
            lane,
            attempts: row.try_get("", "attempts")?,
            credits: row.try_get("", "credits")?,
            doubt: row.try_get("", "doubt")?,
        });
    }
    claimed.sort_by_key(|c| c.id);
    Ok(Some((
        Claim {
            token,
            lane,
            window,
        },
        claimed,
    )))
}

/// Extends a claim's lease; `false` when the claim is gone (its rows were taken back).
pub async fn renew(
    db: &impl ConnectionTrait,
    token: i64,
    lease_until: DateTime<Utc>,
) -> Result<bool> {
    let renewed = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "UPDATE delivery_claims SET lease_until = $1 WHERE token = $2",
            [lease_until.into(), token.into()],
        ))
        .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Puts rows the claim took but never started back in the queue, as if never claimed.
pub async fn give_back(db: &impl ConnectionTrait, token: i64, ids: &[i64]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let given = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE deliveries SET status = {queued}, claim = NULL, attempts = attempts - 1 \
                 WHERE claim = $2 AND status = {sending} AND id IN {ids}",
                queued = status::QUEUED,
                sending = status::SENDING,
                ids = id_list(backend, 1),
            ),
            [json_of(&ids), token.into()],
        ))
        .await?;
    Ok(given.rows_affected())
}

/// Ends a claim that holds nothing any more.
pub async fn end_claim(db: &impl ConnectionTrait, token: i64) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "DELETE FROM delivery_claims WHERE token = $1 \
             AND NOT EXISTS (SELECT 1 FROM deliveries WHERE claim = $1 AND status = {})",
            status::SENDING
        ),
        [token.into()],
    ))
    .await?;
    Ok(())
}

/// A message the provider accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SentRow {
    pub id: i64,
    pub provider_id: String,
    pub sandbox: bool,
    /// Credits the message really took (its real links counted).
    pub credits: i32,
}

/// Records accepted messages of a claim; the ids it really changed.
pub async fn mark_sent(
    db: &impl ConnectionTrait,
    token: i64,
    rows: &[SentRow],
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let tuples: Vec<(i64, &str, bool, i32)> = rows
        .iter()
        .map(|r| (r.id, r.provider_id.as_str(), r.sandbox, r.credits))
        .collect();
    let source = json_rows(
        backend,
        &[
            ("id", "bigint"),
            ("note", "text"),
            ("sandbox", "boolean"),
            ("credits", "integer"),
        ],
    );
    let updated = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE deliveries SET status = {sent}, claim = NULL, error = NULL, updated_at = $2, \
                 provider_id = v.note, sandbox = v.sandbox, credits = v.credits FROM {source} \
                 WHERE deliveries.id = v.id AND deliveries.claim = $3 AND deliveries.status = {sending} \
                 RETURNING deliveries.id",
                sent = status::SENT,
                sending = status::SENDING,
            ),
            [json_of(&tuples), now.into(), token.into()],
        ))
        .await?;
    ids_of(&updated)
}

/// Records rows of a claim that end (`failed`, `unsubscribed`, `cancelled`, `uncertain`),
/// each with its reason; the ids it really changed.
pub async fn mark_ended(
    db: &impl ConnectionTrait,
    token: i64,
    to: i16,
    permanent: bool,
    rows: &[(i64, String)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let tuples: Vec<(i64, String)> = rows.iter().map(|(id, n)| (*id, truncate(n))).collect();
    let source = json_rows(backend, &[("id", "bigint"), ("note", "text")]);
    let updated = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE deliveries SET status = $4, claim = NULL, updated_at = $2, error = v.note, \
                 permanent = $5 \
                 FROM {source} WHERE deliveries.id = v.id AND deliveries.claim = $3 \
                 AND deliveries.status = {sending} RETURNING deliveries.id",
                sending = status::SENDING,
            ),
            [
                json_of(&tuples),
                now.into(),
                token.into(),
                to.into(),
                permanent.into(),
            ],
        ))
        .await?;
    ids_of(&updated)
}

/// Puts rows of a claim back in the queue for another attempt at `at`; the ids it changed.
/// One statement a row: retries are few, and each has its own time.
pub async fn mark_retry(
    db: &impl ConnectionTrait,
    token: i64,
    rows: &[(i64, DateTime<Utc>, String)],
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let mut changed = Vec::new();
    for (id, at, note) in rows {
        let done = db
            .execute_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                format!(
                    "UPDATE deliveries SET status = {queued}, claim = NULL, updated_at = $1, error = $2, \
                     next_attempt_at = $3 WHERE id = $4 AND claim = $5 AND status = {sending}",
                    queued = status::QUEUED,
                    sending = status::SENDING,
                ),
                [
                    now.into(),
                    truncate(note).into(),
                    (*at).into(),
                    (*id).into(),
                    token.into(),
                ],
            ))
            .await?;
        if done.rows_affected() == 1 {
            changed.push(*id);
        }
    }
    Ok(changed)
}

/// Rows of a claim whose source paused go back to waiting, as if never claimed.
pub async fn mark_held(db: &impl ConnectionTrait, token: i64, ids: &[i64]) -> Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let updated = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE deliveries SET status = {held}, claim = NULL, attempts = attempts - 1 \
                 WHERE claim = $2 AND status = {sending} AND id IN {ids} RETURNING id",
                held = status::HELD,
                sending = status::SENDING,
                ids = id_list(backend, 1),
            ),
            [json_of(&ids), token.into()],
        ))
        .await?;
    ids_of(&updated)
}

/// A row taken back from a claim whose lease ran out.
#[derive(Debug, Clone)]
pub struct Reaped {
    pub id: i64,
    pub source: Source,
    pub customer_id: Uuid,
    pub lane: Lane,
    pub credits: i32,
    /// It had been claimed `max_attempts` times: it ends failed instead of going back.
    pub gave_up: bool,
}

/// Takes back the rows of claims whose lease ran out before `now`: the lowest `window` ids
/// of each claim (the ones its worker may have been sending) with `doubt`, the rest as they
/// were; a row claimed `max_attempts` times ends failed. Skips what other transactions hold
/// and goes in id order, so concurrent reapers and a late worker never deadlock; what it
/// skips is taken on a later round. Run it in a transaction that also counts what gave up.
pub async fn reap(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    max_attempts: i16,
) -> Result<Vec<Reaped>> {
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres {
        "FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let expired = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT token FROM delivery_claims WHERE lease_until < $1 ORDER BY token LIMIT 100 {lock}"
            ),
            [now.into()],
        ))
        .await?;
    let tokens: Vec<i64> = expired
        .iter()
        .map(|r| r.try_get::<i64>("", "token"))
        .collect::<std::result::Result<_, _>>()?;
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let given_up = format!(
        "gave up after {max_attempts} attempts: each time the sending process stopped before it recorded the outcome"
    );
    let sql = format!(
        "WITH locked AS (SELECT id, claim, attempts FROM deliveries \
           WHERE claim IN {tokens} AND status = {sending} ORDER BY id {lock}), \
         held AS (SELECT id, claim, attempts, ROW_NUMBER() OVER (PARTITION BY claim ORDER BY id) AS rank FROM locked) \
         UPDATE deliveries SET \
           status = CASE WHEN held.attempts >= $2 THEN {failed} ELSE {queued} END, \
           error = CASE WHEN held.attempts >= $2 THEN $3 ELSE deliveries.error END, \
           claim = NULL, updated_at = $4, next_attempt_at = $4, \
           doubt = deliveries.doubt + CASE WHEN held.rank <= c.in_flight THEN 1 ELSE 0 END \
         FROM held JOIN delivery_claims c ON c.token = held.claim \
         WHERE deliveries.id = held.id \
         RETURNING deliveries.id, deliveries.source_kind, deliveries.source_id, deliveries.customer_id, \
           deliveries.channel, deliveries.credits, deliveries.status",
        tokens = id_list(backend, 1),
        sending = status::SENDING,
        failed = status::FAILED,
        queued = status::QUEUED,
    );
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            [
                json_of(&tokens),
                max_attempts.into(),
                given_up.into(),
                now.into(),
            ],
        ))
        .await?;
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "DELETE FROM delivery_claims WHERE token IN {tokens} AND NOT EXISTS \
             (SELECT 1 FROM deliveries WHERE claim = delivery_claims.token AND status = {sending})",
            tokens = id_list(backend, 1),
            sending = status::SENDING,
        ),
        [json_of(&tokens)],
    ))
    .await?;
    let mut reaped = Vec::with_capacity(rows.len());
    for row in &rows {
        let (Some(kind), Some(lane)) = (
            SourceKind::of(row.try_get("", "source_kind")?),
            Lane::of(row.try_get("", "channel")?),
        ) else {
            continue;
        };
        let state: i16 = row.try_get("", "status")?;
        reaped.push(Reaped {
            id: row.try_get("", "id")?,
            source: Source {
                kind,
                id: row.try_get("", "source_id")?,
            },
            customer_id: row.try_get("", "customer_id")?,
            lane,
            credits: row.try_get("", "credits")?,
            gave_up: state == status::FAILED,
        });
    }
    Ok(reaped)
}

/// Waiting rows of a source (queued or held) are cancelled; credits reserved for them per
/// channel, as one guarded statement: a row a worker claimed meanwhile is not among them.
pub async fn cancel_waiting(
    db: &impl ConnectionTrait,
    source: Source,
    now: DateTime<Utc>,
) -> Result<HashMap<Lane, (i64, i64)>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "UPDATE deliveries SET status = {cancelled}, updated_at = $1 \
                 WHERE source_id = $2 AND source_kind = $3 AND status IN ({queued}, {held}) \
                 RETURNING channel, credits",
                cancelled = status::CANCELLED,
                queued = status::QUEUED,
                held = status::HELD,
            ),
            [now.into(), source.id.into(), source.kind.code().into()],
        ))
        .await?;
    let mut by_channel: HashMap<Lane, (i64, i64)> = HashMap::new();
    for row in rows {
        let code: i16 = row.try_get("", "channel")?;
        let credits: i32 = row.try_get("", "credits")?;
        if let Some(lane) = Lane::of(code) {
            let entry = by_channel.entry(lane).or_default();
            entry.0 += 1;
            entry.1 += i64::from(credits);
        }
    }
    Ok(by_channel)
}

/// Ready rows of a source wait (pause).
pub async fn hold_ready(db: &impl ConnectionTrait, source: Source) -> Result<u64> {
    let held = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "UPDATE deliveries SET status = {held} WHERE source_id = $1 AND source_kind = $2 AND status = {queued}",
                held = status::HELD,
                queued = status::QUEUED,
            ),
            [source.id.into(), source.kind.code().into()],
        ))
        .await?;
    Ok(held.rows_affected())
}

/// Waiting rows of a source become ready at `now` (resume, or a scheduled start).
pub async fn release_held(
    db: &impl ConnectionTrait,
    source: Source,
    now: DateTime<Utc>,
) -> Result<u64> {
    let released = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "UPDATE deliveries SET status = {queued}, next_attempt_at = $1 \
                 WHERE source_id = $2 AND source_kind = $3 AND status = {held}",
                held = status::HELD,
                queued = status::QUEUED,
            ),
            [now.into(), source.id.into(), source.kind.code().into()],
        ))
        .await?;
    Ok(released.rows_affected())
}

/// A delivery, as events about it need it.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub source: Source,
    pub customer_id: Uuid,
    pub lane: Lane,
    pub status: i16,
    pub credits: i32,
}

fn row_of(r: &sea_orm::QueryResult) -> Result<Option<Row>> {
    let (Some(kind), Some(lane)) = (
        SourceKind::of(r.try_get("", "source_kind")?),
        Lane::of(r.try_get("", "channel")?),
    ) else {
        return Ok(None);
    };
    Ok(Some(Row {
        id: r.try_get("", "id")?,
        source: Source {
            kind,
            id: r.try_get("", "source_id")?,
        },
        customer_id: r.try_get("", "customer_id")?,
        lane,
        status: r.try_get("", "status")?,
        credits: r.try_get("", "credits")?,
    }))
}

const ROW: &str = "id, source_kind, source_id, customer_id, channel, status, credits";

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<Row>> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("SELECT {ROW} FROM deliveries WHERE id = $1"),
            [id.into()],
        ))
        .await?;
    match row {
        Some(r) => row_of(&r),
        None => Ok(None),
    }
}

/// Moves a delivery from one of `from` to `to` (with `error`, when given); the delivery as
/// it was, when it moved. Guarded, so a repeated event moves it once.
pub async fn advance(
    db: &impl ConnectionTrait,
    id: i64,
    from: &[i16],
    to: i16,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Row>> {
    let from: Vec<String> = from.iter().map(i16::to_string).collect();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE deliveries SET status = $1, updated_at = $2, error = COALESCE($3, error) \
                 WHERE id = $4 AND status IN ({}) RETURNING {ROW}",
                from.join(", ")
            ),
            [to.into(), now.into(), error.map(truncate).into(), id.into()],
        ))
        .await?;
    match rows.first() {
        // The status returned is the new one; the caller knows what it came from.
        Some(r) => row_of(r),
        None => Ok(None),
    }
}

/// Keeps a provider's status report that came before its delivery was settled.
pub async fn keep_callback(
    db: &impl ConnectionTrait,
    id: i64,
    to: i16,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO delivery_callbacks (delivery_id, status, error, received_at) VALUES ($1, $2, $3, $4)",
        [id.into(), to.into(), error.map(truncate).into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// Takes the kept reports of these deliveries, oldest first.
pub async fn take_callbacks(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<(i64, i16, Option<String>)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "DELETE FROM delivery_callbacks WHERE delivery_id IN {} RETURNING id, delivery_id, status, error",
                id_list(backend, 1)
            ),
            [json_of(&ids)],
        ))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let order: i64 = r.try_get("", "id")?;
        out.push((
            order,
            r.try_get::<i64>("", "delivery_id")?,
            r.try_get::<i16>("", "status")?,
            r.try_get::<Option<String>>("", "error")?,
        ));
    }
    out.sort_by_key(|(order, ..)| *order);
    Ok(out
        .into_iter()
        .map(|(_, id, to, error)| (id, to, error))
        .collect())
}

/// The customers with this phone (of any merchant) whom an SMS was ever queued for: whom a
/// STOP to our number reaches. Uses the partial index of SMS rows by recipient.
pub async fn sms_recipients_with_phone(
    db: &impl ConnectionTrait,
    phone: &str,
) -> Result<Vec<Uuid>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "SELECT c.id AS id FROM customers c WHERE c.phone = $1 AND EXISTS \
                 (SELECT 1 FROM deliveries d WHERE d.recipient_id = c.id AND d.channel = {}) \
                 ORDER BY c.id",
                channel_code(Channel::Sms)
            ),
            [phone.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "id").map_err(Into::into))
        .collect()
}

/// How many distinct customers got at least one delivery of a source.
pub async fn recipients(db: &impl ConnectionTrait, source: Source) -> Result<i64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT COUNT(DISTINCT customer_id) AS n FROM deliveries WHERE source_id = $1 AND source_kind = $2",
            [source.id.into(), source.kind.code().into()],
        ))
        .await?;
    Ok(match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    })
}

/// Why a source's deliveries failed: each reason (`None` when none was kept) with how many.
pub async fn failure_reasons(
    db: &impl ConnectionTrait,
    source: Source,
) -> Result<Vec<(Option<String>, i64)>> {
    use crate::entity::delivery;
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    Ok(delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Error)
        .column_as(Expr::col(delivery::Column::Id).count(), "n")
        .filter(delivery::Column::SourceId.eq(source.id))
        .filter(delivery::Column::SourceKind.eq(source.kind.code()))
        .filter(delivery::Column::Status.eq(status::FAILED))
        .group_by(delivery::Column::Error)
        .into_tuple()
        .all(db)
        .await?)
}

/// How many of a source's deliveries failed.
/// How many of a source's messages failed in a way that may pass (a resend would try them
/// again), by the partial index of failed rows.
pub async fn resendable_count(db: &impl ConnectionTrait, source: Source) -> Result<u64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM deliveries WHERE source_id = $1 AND source_kind = $2 \
                 AND status = {} AND NOT permanent",
                status::FAILED
            ),
            [source.id.into(), source.kind.code().into()],
        ))
        .await?;
    let n: i64 = match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Marks messages a sandbox accepted at least `settled_before` delivered (every third email
/// by id opened), for sources active since `active_since`; (source, channel, opened) of each
/// row moved. The outer `status = sent` is checked again on the locked row, so two processes
/// doing this at once move each row once.
pub async fn confirm_sandbox(
    db: &impl ConnectionTrait,
    settled_before: DateTime<Utc>,
    active_since: DateTime<Utc>,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<(Source, Channel, bool)>> {
    let sql = format!(
        "UPDATE deliveries SET status = CASE WHEN channel = {email} AND id % 3 = 0 THEN {opened} ELSE {delivered} END, \
         updated_at = $1 \
         WHERE status = {sent} AND id IN (SELECT id FROM deliveries WHERE status = {sent} AND sandbox = $4 \
         AND updated_at <= $2 AND source_kind = {mailing} AND source_id IN (SELECT id FROM mailings WHERE updated_at >= $3) \
         ORDER BY id LIMIT {limit}) \
         RETURNING source_kind, source_id, channel, status",
        email = channel_code(Channel::Email),
        opened = status::OPENED,
        delivered = status::DELIVERED,
        sent = status::SENT,
        mailing = SourceKind::Mailing.code(),
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [
                now.into(),
                settled_before.into(),
                active_since.into(),
                true.into(),
            ],
        ))
        .await?;
    let mut moved = Vec::with_capacity(rows.len());
    for row in rows {
        let (Some(kind), Some(channel)) = (
            SourceKind::of(row.try_get("", "source_kind")?),
            channel_of(row.try_get("", "channel")?),
        ) else {
            continue;
        };
        let state: i16 = row.try_get("", "status")?;
        moved.push((
            Source {
                kind,
                id: row.try_get("", "source_id")?,
            },
            channel,
            state == status::OPENED,
        ));
    }
    Ok(moved)
}

/// A new delivery of a source to a customer on one of the customer's channels.
#[derive(Debug, Clone, Copy)]
pub struct NewRow {
    pub customer_id: Uuid,
    pub credits: i32,
}

/// Queues (or holds) one delivery per customer `condition` matches, each reserving
/// `credits`, in one `INSERT ... SELECT`: a customer already queued for the source on the
/// channel is not queued again. The number queued.
pub async fn insert_for_customers(
    db: &impl ConnectionTrait,
    source: Source,
    channel: Channel,
    condition: sea_orm::Condition,
    credits: i32,
    held: bool,
    now: DateTime<Utc>,
) -> Result<i64> {
    use crate::entity::customer;
    let initial = if held { status::HELD } else { status::QUEUED };
    let select = delivery_rows(
        source,
        (customer::Entity, customer::Column::Id),
        (customer::Entity, customer::Column::Id),
        Lane::Message(channel),
        initial,
        credits,
        now,
    )
    .from(customer::Entity)
    .cond_where(condition)
    .to_owned();
    insert_selected(db, select).await
}

/// The columns of new deliveries of `source` on `lane`, for [`insert_selected`]: the
/// customer and the recipient from the columns named, the rest the values given. Add the
/// `FROM` and `WHERE` that pick the rows.
pub fn delivery_rows(
    source: Source,
    customer: impl sea_orm::sea_query::IntoColumnRef,
    recipient: impl sea_orm::sea_query::IntoColumnRef,
    lane: Lane,
    initial: i16,
    credits: i32,
    now: DateTime<Utc>,
) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Expr, Query};
    Query::select()
        .expr(Expr::val(source.kind.code()))
        .expr(Expr::val(source.id))
        .column(customer)
        .column(recipient)
        .expr(Expr::val(lane.code()))
        .expr(Expr::val(initial))
        .expr(Expr::val(0i16))
        .expr(Expr::val(now))
        .expr(Expr::val(credits))
        .expr(Expr::val(now))
        .to_owned()
}

/// Queues the deliveries `select` gives (made with [`delivery_rows`]) in one
/// `INSERT ... SELECT`; a recipient already queued for the source on the lane is not
/// queued again. The number queued.
pub async fn insert_selected(
    db: &impl ConnectionTrait,
    select: sea_orm::sea_query::SelectStatement,
) -> Result<i64> {
    use crate::entity::delivery;
    use delivery::Column as D;
    use sea_orm::sea_query::{OnConflict, Query};
    let insert = Query::insert()
        .into_table(delivery::Entity)
        .columns([
            D::SourceKind,
            D::SourceId,
            D::CustomerId,
            D::RecipientId,
            D::Channel,
            D::Status,
            D::Attempts,
            D::NextAttemptAt,
            D::Credits,
            D::UpdatedAt,
        ])
        .select_from(select)
        .map_err(|e| anyhow::anyhow!("building the fan-out: {e}"))?
        .on_conflict(
            OnConflict::columns([D::SourceId, D::SourceKind, D::Channel, D::RecipientId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() as i64)
}

/// Queues (or holds) one delivery per row given, on a customer's channel.
pub async fn insert_rows(
    db: &impl ConnectionTrait,
    source: Source,
    channel: Channel,
    rows: &[NewRow],
    held: bool,
    now: DateTime<Utc>,
) -> Result<i64> {
    use crate::entity::delivery;
    use sea_orm::{EntityTrait, Set};
    let initial = if held { status::HELD } else { status::QUEUED };
    let mut inserted = 0;
    for chunk in rows.chunks(500) {
        let models: Vec<delivery::ActiveModel> = chunk
            .iter()
            .map(|r| delivery::ActiveModel {
                source_kind: Set(source.kind.code()),
                source_id: Set(source.id),
                customer_id: Set(r.customer_id),
                recipient_id: Set(r.customer_id),
                channel: Set(channel_code(channel)),
                status: Set(initial),
                attempts: Set(0),
                next_attempt_at: Set(now),
                claim: Set(None),
                doubt: Set(0),
                sandbox: Set(false),
                credits: Set(r.credits),
                provider_id: Set(None),
                error: Set(None),
                updated_at: Set(now),
                ..Default::default()
            })
            .collect();
        delivery::Entity::insert_many(models)
            .exec_without_returning(db)
            .await?;
        inserted += chunk.len() as i64;
    }
    Ok(inserted)
}

/// The customers of a source whose delivery on `channel` failed in a way that may pass, as a
/// sub-select (for a resend to them); those that failed for good are left out.
pub fn failed_customers(source: Source, channel: Channel) -> sea_orm::sea_query::SelectStatement {
    use crate::entity::delivery;
    use sea_orm::ColumnTrait;
    use sea_orm::sea_query::Query;
    Query::select()
        .column(delivery::Column::CustomerId)
        .from(delivery::Entity)
        .and_where(delivery::Column::SourceId.eq(source.id))
        .and_where(delivery::Column::SourceKind.eq(source.kind.code()))
        .and_where(delivery::Column::Channel.eq(channel_code(channel)))
        .and_where(delivery::Column::Status.eq(status::FAILED))
        .and_where(delivery::Column::Permanent.eq(false))
        .to_owned()
}

/// How many notifying Google messages each of these passes got since `since` (its Google
/// rows sent as `TEXT_AND_NOTIFY`), by the partial index of Google rows.
pub async fn google_notifications_since(
    db: &impl ConnectionTrait,
    passes: &[Uuid],
    since: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>> {
    use crate::entity::delivery;
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let mut counts = HashMap::new();
    for chunk in passes.chunks(500) {
        let rows: Vec<(Uuid, i64)> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::RecipientId)
            .column_as(Expr::col(delivery::Column::Id).count(), "n")
            .filter(delivery::Column::Channel.eq(Lane::GooglePass.code()))
            .filter(delivery::Column::RecipientId.is_in(chunk.iter().copied()))
            .filter(delivery::Column::UpdatedAt.gte(since))
            .filter(delivery::Column::ProviderId.eq("notify"))
            .filter(delivery::Column::Status.is_in([
                status::SENT,
                status::DELIVERED,
                status::OPENED,
            ]))
            .group_by(delivery::Column::RecipientId)
            .into_tuple()
            .all(db)
            .await?;
        counts.extend(rows);
    }
    Ok(counts)
}

/// A device fetched a pass: the Apple rows sent to the pass's devices are delivered, by the
/// partial index of sent Apple rows. The source of each row moved.
pub async fn mark_pass_fetched(
    db: &impl ConnectionTrait,
    pass_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Source>> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "UPDATE deliveries SET status = {delivered}, updated_at = $1 \
                 WHERE channel = {lane} AND status = {sent} AND recipient_id IN \
                 (SELECT id FROM pass_registrations WHERE pass_id = $2) \
                 RETURNING source_kind, source_id",
                delivered = status::DELIVERED,
                sent = status::SENT,
                lane = Lane::ApplePass.code(),
            ),
            [now.into(), pass_id.into()],
        ))
        .await?;
    let mut moved = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(kind) = SourceKind::of(row.try_get("", "source_kind")?) {
            moved.push(Source {
                kind,
                id: row.try_get("", "source_id")?,
            });
        }
    }
    Ok(moved)
}
