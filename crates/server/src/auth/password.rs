//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, as
//! OWASP recommends). Hashing runs on the blocking pool so it never stalls the server, and
//! at most a configured number of hashes run at once ([`Passwords`]): each holds 19 MiB, so
//! a flood of sign-ins or sign-ups is refused (503 with `Retry-After`) rather than let grow
//! until the process is killed for its memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 256;

/// What the server answers in `Retry-After` when every hashing permit stays taken.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// The password work of one process: argon2 hashes and verifications, at most `concurrency`
/// at once. A caller waits up to `wait` for a permit and is then refused with
/// [`ApiError::Overloaded`]. Sign-in, sign-up, password changes and new team members all
/// go through the one instance in the application state.
pub struct Passwords {
    permits: Arc<Semaphore>,
    wait: Duration,
    /// Argon2 runs started (hashes and verifications), for tests and `/metrics`.
    runs: AtomicU64,
}

impl Passwords {
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Passwords {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            wait,
            runs: AtomicU64::new(0),
        }
    }

    /// How many argon2 runs (hashes and verifications) this instance has started.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// A permit to run argon2, or a refusal once `wait` has passed. The permit moves into
    /// the blocking task, so a request that goes away (its future dropped) still holds it
    /// until its hash is done: the bound is on memory really in use.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => {
                self.runs.fetch_add(1, Ordering::Relaxed);
                crate::counters::PASSWORD_RUNS.fetch_add(1, Ordering::Relaxed);
                Ok(permit)
            }
            Ok(Err(_)) | Err(_) => {
                crate::counters::PASSWORD_REFUSALS.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::Overloaded {
                    retry_after_secs: BUSY_RETRY_AFTER_SECS,
                })
            }
        }
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: SecretString) -> Result<String, ApiError> {
        let permit = self.permit().await?;
        Ok(run(permit, move || hash_now(&password)).await?)
    }

    /// Verifies a password against a stored hash. With `None` (no such account) it still
    /// does the work of a verification, so response times do not tell which emails exist.
    pub async fn verify(
        &self,
        stored: Option<String>,
        password: SecretString,
    ) -> Result<bool, ApiError> {
        let permit = self.permit().await?;
        Ok(run(permit, move || verify_now(stored, &password)).await?)
    }
}

async fn run<T: Send + 'static>(
    permit: OwnedSemaphorePermit,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .context("password hashing task")?
}

/// Checks a new password's length; returns the message for the field error.
pub fn check_strength(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters"));
    }
    if length > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} characters"));
    }
    Ok(())
}

/// Hashes a password outside any bound: for the demo seed, which runs before the server.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .context("password hashing task")?
}

fn hash_now(password: &SecretString) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

fn verify_now(stored: Option<String>, password: &SecretString) -> anyhow::Result<bool> {
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
    let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    let matches = Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok();
    Ok(matches && stored != DUMMY_HASH)
}

/// An argon2id hash of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$S6dGOmBHdVyNPb4cDq+G9TqgjgtVsUHNcEeIqHOBGrc";

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords() -> Passwords {
        Passwords::new(2, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() -> anyhow::Result<()> {
        let passwords = passwords();
        let stored = passwords
            .hash(SecretString::from("correct horse battery"))
            .await?;
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            passwords
                .verify(
                    Some(stored.clone()),
                    SecretString::from("correct horse battery")
                )
                .await?
        );
        assert!(
            !passwords
                .verify(Some(stored), SecretString::from("correct horse battery!"))
                .await?
        );
        assert_eq!(passwords.runs(), 3);
        Ok(())
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() -> anyhow::Result<()> {
        assert!(
            !passwords()
                .verify(None, SecretString::from("anything at all"))
                .await?
        );
        Ok(())
    }

    #[tokio::test]
    async fn past_its_bound_a_caller_is_refused_after_the_wait() -> anyhow::Result<()> {
        let passwords = Passwords::new(1, Duration::from_millis(20));
        let held = passwords.permit().await?;
        let refused = passwords.hash(SecretString::from("long enough!")).await;
        assert!(matches!(refused, Err(ApiError::Overloaded { .. })));
        drop(held);
        assert!(
            passwords
                .hash(SecretString::from("long enough!"))
                .await
                .is_ok()
        );
        Ok(())
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough!").is_ok());
    }
}
