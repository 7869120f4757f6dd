//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, as
//! OWASP recommends). Hashing runs on the blocking pool so it never stalls the server.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};

pub const MIN_LENGTH: usize = 10;
pub const MAX_LENGTH: usize = 256;

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

pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .context("password hashing task")?
}

/// Verifies a password against a stored hash. With `None` (no such account) it still does
/// the work of a verification, so response times do not tell which emails exist.
pub async fn verify(stored: Option<String>, password: SecretString) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(matches && stored != DUMMY_HASH)
    })
    .await
    .context("password verification task")?
}

/// An argon2id hash of a random password nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$S6dGOmBHdVyNPb4cDq+G9TqgjgtVsUHNcEeIqHOBGrc";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() -> anyhow::Result<()> {
        let stored = hash(SecretString::from("correct horse battery")).await?;
        assert!(stored.starts_with("$argon2id$"));
        assert!(
            verify(
                Some(stored.clone()),
                SecretString::from("correct horse battery")
            )
            .await?
        );
        assert!(!verify(Some(stored), SecretString::from("correct horse battery!")).await?);
        Ok(())
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() -> anyhow::Result<()> {
        assert!(!verify(None, SecretString::from("anything at all")).await?);
        Ok(())
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength("short").is_err());
        assert!(check_strength("long enough!").is_ok());
    }
}
