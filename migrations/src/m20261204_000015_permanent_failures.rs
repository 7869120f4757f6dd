//! A failed delivery says whether it failed for good: the address or the content cannot work
//! as they are (an invalid or unreachable number, no contact details, the provider's
//! permanent refusal). "Resend to failed" leaves those out; a failure that may pass (the
//! provider was down through every attempt) is resent. And a customer's messages are read
//! by an index of their own.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A constant default: PostgreSQL adds it without rewriting the table.
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(boolean(Deliveries::Permanent).default(false))
                    .to_owned(),
            )
            .await?;
        // A mailing's failed messages (its page's list, the count a resend would send) are
        // read from their own partial index, not from every row of the mailing. 5 = failed.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_deliveries_failed ON deliveries (source_id, source_kind, channel) \
                 WHERE status = 5",
            )
            .await?;
        // A customer's messages, newest first (their page in the dashboard).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_deliveries_customer ON deliveries (customer_id, id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_deliveries_failed")
            .await?;
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_deliveries_customer")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .drop_column(Deliveries::Permanent)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Deliveries {
    Table,
    Permanent,
}
