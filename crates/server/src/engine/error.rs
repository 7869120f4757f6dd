//! The engine's own error: a database error keeps its cause, so that a worker's log says
//! what went wrong (SQLSTATE `40P01`, a deadlock; SQLite's `database is locked`) and not
//! only "database", but never the values of a row.

use sea_orm::DbErr;

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Told by [`crate::db::describe_error`]: its kind, code and constraint, never a value.
    #[error("database: {}", crate::db::describe_error(.0))]
    Database(#[from] DbErr),
    /// A send needs more credits than the merchant has available.
    #[error("{needed} {kind} credits needed, {available} available")]
    InsufficientCredits {
        kind: &'static str,
        needed: i64,
        available: i64,
    },
    /// A record the engine needs has gone (a mailing deleted with its merchant, say).
    #[error("{0} not found")]
    Missing(String),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl From<serde_json::Error> for EngineError {
    fn from(err: serde_json::Error) -> Self {
        EngineError::Other(anyhow::Error::new(err).context("stored JSON"))
    }
}
