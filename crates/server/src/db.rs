//! Connecting to SQLite (embedded) or PostgreSQL, and running the migrations.

use std::time::Duration;

use anyhow::Context;
use loyalcast_migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// Opens the database. SQLite gets one connection: it is a single-writer engine, and one
/// connection rules out `SQLITE_BUSY` between our own transactions; WAL keeps it quick.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = sqlite_file(url)
        && let Some(dir) = std::path::Path::new(&path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.starts_with("sqlite:") {
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10))
            });
    } else {
        options.max_connections(16).min_connections(1);
    }
    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to the database ({})", redact(url)))?;
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("running migrations")
}

/// Whether every migration has been applied (for `/readyz`).
pub async fn migrations_applied(db: &DatabaseConnection) -> anyhow::Result<bool> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

pub async fn ping(db: &DatabaseConnection) -> anyhow::Result<()> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

fn sqlite_file(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(path.to_owned())
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/loyalcast"),
            "postgres://app:***@db:5432/loyalcast"
        );
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn sqlite_paths_are_found() {
        assert_eq!(
            sqlite_file("sqlite://data/x.db?mode=rwc").as_deref(),
            Some("data/x.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }
}

/// A database error as it may be logged: what kind of failure it was, the SQLSTATE (or
/// SQLite) code and the constraint and table it names, never the driver's message, which
/// can quote the values of the row (PostgreSQL's "invalid input syntax for type uuid:
/// \"...\"", or a detail "Key (email)=(...) already exists" in its debug form).
pub fn describe_error(err: &sea_orm::DbErr) -> String {
    use sea_orm::{DbErr, RuntimeErr};
    let (what, runtime) = match err {
        DbErr::Conn(e) => ("connection", Some(e)),
        DbErr::Exec(e) => ("execution", Some(e)),
        DbErr::Query(e) => ("query", Some(e)),
        DbErr::ConnectionAcquire(e) => return format!("acquiring a connection: {e}"),
        DbErr::TryIntoErr { from, into, .. } => {
            return format!("converting a column from {from} into {into}");
        }
        DbErr::RecordNotFound(_) => return "record not found".to_owned(),
        DbErr::RecordNotInserted => return "no record inserted".to_owned(),
        DbErr::RecordNotUpdated => return "no record updated".to_owned(),
        DbErr::UnpackInsertId => return "no insert id".to_owned(),
        DbErr::UpdateGetPrimaryKey => return "no primary key to update by".to_owned(),
        DbErr::AttrNotSet(attribute) => return format!("attribute {attribute} not set"),
        DbErr::ConvertFromU64(ty) => return format!("{ty} cannot be converted from u64"),
        DbErr::Migration(_) => return "migration failed".to_owned(),
        DbErr::Type(_) => return "type error reading a row".to_owned(),
        DbErr::Json(_) => return "JSON error reading a row".to_owned(),
        DbErr::Custom(_) => return "custom error".to_owned(),
        _ => ("other", None),
    };
    let Some(RuntimeErr::SqlxError(sqlx)) = runtime else {
        return format!("{what} error");
    };
    format!("{what} error: {}", describe_sqlx(sqlx))
}

fn describe_sqlx(err: &sea_orm::sqlx::Error) -> String {
    use sea_orm::sqlx::Error;
    match err {
        Error::Database(db) => {
            let mut out = format!("{:?}", db.kind());
            if let Some(code) = db.code() {
                out.push_str(&format!(", code {code}"));
            }
            if let Some(constraint) = db.constraint() {
                out.push_str(&format!(", constraint {constraint}"));
            }
            if let Some(table) = db.table() {
                out.push_str(&format!(", table {table}"));
            }
            // SQLite's messages name the constraint's columns, never values ("UNIQUE
            // constraint failed: team_members.email", "database is locked").
            if db
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                out.push_str(&format!(", {}", db.message()));
            }
            out
        }
        Error::RowNotFound => "row not found".to_owned(),
        Error::ColumnNotFound(column) => format!("column {column} not found"),
        Error::ColumnIndexOutOfBounds { index, len } => {
            format!("column index {index} out of bounds ({len})")
        }
        Error::ColumnDecode { index, .. } => format!("decoding column {index}"),
        Error::Encode(_) => "encoding a value".to_owned(),
        Error::Decode(_) => "decoding a value".to_owned(),
        Error::TypeNotFound { type_name } => format!("type {type_name} not found"),
        Error::PoolTimedOut => "pool timed out".to_owned(),
        Error::PoolClosed => "pool closed".to_owned(),
        Error::WorkerCrashed => "worker crashed".to_owned(),
        Error::Io(e) => format!("I/O: {}", e.kind()),
        Error::Tls(_) => "TLS".to_owned(),
        Error::Protocol(_) => "protocol".to_owned(),
        Error::Configuration(_) => "configuration".to_owned(),
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod describe_tests {
    use sea_orm::{ConnectionTrait, Database};

    #[tokio::test]
    async fn a_constraint_violation_is_described_without_its_values() -> anyhow::Result<()> {
        let db = Database::connect("sqlite::memory:").await?;
        db.execute_unprepared("CREATE TABLE t (email TEXT NOT NULL UNIQUE)")
            .await?;
        db.execute_unprepared("INSERT INTO t VALUES ('secret@example.com')")
            .await?;
        let err = db
            .execute_unprepared("INSERT INTO t VALUES ('secret@example.com')")
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("no violation"))?;
        let described = super::describe_error(&err);
        assert!(described.contains("UniqueViolation"), "{described}");
        assert!(!described.contains("secret@"), "{described}");
        Ok(())
    }
}
