//! Throttling sign-in attempts, per account and per client address, shared by every process
//! through the database.
//!
//! Each key (a SHA-256 of `account:<email>` or `address:<ip>`, so typed emails are not
//! stored) has a window of attempts in `sign_in_attempts`. An attempt is *reserved* before
//! the password is checked, in one statement that inserts or counts up only while the window
//! holds fewer than the limit ([`LoginThrottle::reserve`]): however many requests race, at
//! most the limit get to verify a password in a window, across all processes. A successful
//! sign-in forgives the account's attempts and gives back its own on the address; an attempt
//! that never checked a password (the server was too busy) gives both back.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

pub struct LoginThrottle {
    per_account: i64,
    per_address: i64,
    window: Duration,
}

/// The longest window kept: housekeeping forgets windows older than this.
pub const MAX_WINDOW: Duration = Duration::hours(24);

/// One attempt reserved on an account and an address, to be settled by
/// [`LoginThrottle::succeeded`] or [`LoginThrottle::release`] (or kept, for a failure).
#[derive(Debug, Clone)]
pub struct Reservation {
    account: Held,
    address: Option<Held>,
}

#[derive(Debug, Clone)]
struct Held {
    key: String,
    window_started_at: i64,
}

/// Whether an attempt may go ahead: with its reservation, or after waiting this long.
#[derive(Debug)]
pub enum Admission {
    Admitted(Reservation),
    Wait(std::time::Duration),
}

impl LoginThrottle {
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Self {
        LoginThrottle {
            per_account: i64::from(per_account.max(1)),
            per_address: i64::from(per_address.max(1)),
            window: window.clamp(Duration::seconds(1), MAX_WINDOW),
        }
    }

    /// Reserves an attempt on the account and, when given, on the address. Refused when
    /// either has used up its window; a refusal on the address gives the account's back.
    pub async fn reserve(
        &self,
        db: &impl ConnectionTrait,
        account: &str,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Admission, DbErr> {
        let account_key = account_key(account);
        let account = match self.take(db, &account_key, self.per_account, now).await? {
            Ok(held) => held,
            Err(wait) => return Ok(Admission::Wait(wait)),
        };
        let address = match address {
            None => None,
            Some(address) => {
                let key = address_key(address);
                match self.take(db, &key, self.per_address, now).await? {
                    Ok(held) => Some(held),
                    Err(wait) => {
                        give_back(db, &account).await?;
                        return Ok(Admission::Wait(wait));
                    }
                }
            }
        };
        Ok(Admission::Admitted(Reservation { account, address }))
    }

    /// The password was right: the account's attempts are forgiven, and this attempt no
    /// longer counts against the address.
    pub async fn succeeded(
        &self,
        db: &impl ConnectionTrait,
        reservation: &Reservation,
    ) -> Result<(), DbErr> {
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM sign_in_attempts WHERE key_hash = $1",
            [reservation.account.key.clone().into()],
        ))
        .await?;
        if let Some(address) = &reservation.address {
            give_back(db, address).await?;
        }
        Ok(())
    }

    /// The attempt never checked a password: it does not count.
    pub async fn release(
        &self,
        db: &impl ConnectionTrait,
        reservation: &Reservation,
    ) -> Result<(), DbErr> {
        give_back(db, &reservation.account).await?;
        if let Some(address) = &reservation.address {
            give_back(db, address).await?;
        }
        Ok(())
    }

    /// One attempt on `key`, inserted or counted up in one statement only while its window
    /// has room (or has passed, when it starts again); `Err(wait)` when it has none.
    async fn take(
        &self,
        db: &impl ConnectionTrait,
        key: &str,
        limit: i64,
        now: DateTime<Utc>,
    ) -> Result<Result<Held, std::time::Duration>, DbErr> {
        let now_us = now.timestamp_micros();
        let cutoff = (now - self.window).timestamp_micros();
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "INSERT INTO sign_in_attempts (key_hash, attempts, window_started_at) \
                 VALUES ($1, 1, $2) \
                 ON CONFLICT (key_hash) DO UPDATE SET \
                   attempts = CASE WHEN sign_in_attempts.window_started_at <= $3 THEN 1 \
                                   ELSE sign_in_attempts.attempts + 1 END, \
                   window_started_at = CASE WHEN sign_in_attempts.window_started_at <= $3 \
                                            THEN $2 ELSE sign_in_attempts.window_started_at END \
                 WHERE sign_in_attempts.window_started_at <= $3 \
                    OR sign_in_attempts.attempts < $4 \
                 RETURNING window_started_at",
                [
                    key.into(),
                    now_us.into(),
                    cutoff.into(),
                    Value::BigInt(Some(limit)),
                ],
            ))
            .await?;
        if let Some(row) = row {
            let window_started_at: i64 = row.try_get("", "window_started_at")?;
            return Ok(Ok(Held {
                key: key.to_owned(),
                window_started_at,
            }));
        }
        let started = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT window_started_at FROM sign_in_attempts WHERE key_hash = $1",
                [key.into()],
            ))
            .await?
            .map(|row| row.try_get::<i64>("", "window_started_at"))
            .transpose()?
            .unwrap_or(now_us);
        let ends = started.saturating_add(self.window.num_microseconds().unwrap_or(i64::MAX));
        let wait_us = u64::try_from(ends.saturating_sub(now_us)).unwrap_or(0);
        Ok(Err(
            std::time::Duration::from_micros(wait_us).max(std::time::Duration::from_secs(1))
        ))
    }
}

/// Gives one attempt back to the window it was taken from (not to a later one).
async fn give_back(db: &impl ConnectionTrait, held: &Held) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE sign_in_attempts SET attempts = attempts - 1 \
         WHERE key_hash = $1 AND window_started_at = $2 AND attempts > 0",
        [held.key.clone().into(), held.window_started_at.into()],
    ))
    .await?;
    Ok(())
}

/// Forgets windows that started before `cutoff` (housekeeping; they count nothing).
pub async fn forget_before(db: &impl ConnectionTrait, cutoff: DateTime<Utc>) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "DELETE FROM sign_in_attempts WHERE window_started_at < $1",
        [cutoff.timestamp_micros().into()],
    ))
    .await?;
    Ok(())
}

fn account_key(account: &str) -> String {
    digest(&format!("account:{}", account.trim().to_lowercase()))
}

fn address_key(address: &str) -> String {
    digest(&format!("address:{address}"))
}

fn digest(key: &str) -> String {
    crate::secrets::sha256_hex(key)
}

/// Enrolments one client address may make per minute on the public enrolment pages, in each
/// process.
pub const ENROLMENTS_PER_MINUTE: u32 = 10;

/// Per-address limiter of enrolments.
pub type EnrolmentLimiter = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

pub fn enrolment_limiter() -> EnrolmentLimiter {
    governor::RateLimiter::keyed(governor::Quota::per_minute(
        std::num::NonZeroU32::new(ENROLMENTS_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_digests_that_do_not_hold_the_email() {
        let key = account_key(" Ann@X.io");
        assert_eq!(key, account_key("ann@x.io"));
        assert_eq!(key.len(), 64);
        assert!(!key.contains("ann"));
        assert_ne!(account_key("1.1.1.1"), address_key("1.1.1.1"));
    }
}
