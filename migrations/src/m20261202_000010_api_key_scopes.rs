//! Least privilege for API keys: a key holds the scopes chosen when it was created (space
//! separated, as in OAuth) and may carry an expiry, instead of acting with a role. Keys made
//! before keep what their role allowed: an `admin` key every scope, an `agent` key reading,
//! customers and passes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const ADMIN_SCOPES: &str = "customers:read customers:write consent:write passes:read \
passes:write cards:read cards:write segments:read segments:write mailings:read mailings:send \
balances:read changes:read";
const AGENT_SCOPES: &str = "customers:read customers:write consent:write passes:read \
passes:write cards:read segments:read mailings:read balances:read changes:read";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(string(ApiKeys::Scopes).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for (role, scopes) in [("admin", ADMIN_SCOPES), ("agent", AGENT_SCOPES)] {
            // Constants only: nothing here comes from outside.
            db.execute_unprepared(&format!(
                "UPDATE api_keys SET scopes = '{scopes}' WHERE role = '{role}'"
            ))
            .await?;
        }
        // Both databases drop a column that no index or constraint names.
        db.execute_unprepared("ALTER TABLE api_keys DROP COLUMN role")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(string(ApiKeys::Role).default("agent"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE api_keys SET role = 'admin' WHERE scopes LIKE '%mailings:send%'",
        )
        .await?;
        for column in [ApiKeys::ExpiresAt, ApiKeys::Scopes] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Role,
    Scopes,
    ExpiresAt,
}
