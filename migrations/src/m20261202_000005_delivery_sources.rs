//! One queue for every kind of send, with fenced claims.
//!
//! - A delivery belongs to a source (`source_kind`, `source_id`: a mailing, a wallet push, an
//!   automation run, an Inbox reply) and goes to a recipient (`recipient_id`: the customer for
//!   SMS, email, Telegram and Messenger; a pass or a web-push subscription for the channels
//!   that reach those). `customer_id` stays: every recipient is some customer's.
//! - A claim is a row of `delivery_claims` holding the lease, renewed while its worker sends;
//!   the deliveries it holds name it (`claim`), and settling touches only rows that still do.
//!   The lease moves off the hot table, so renewing it rewrites one small row, not a batch.
//! - `doubt` counts how often a row was taken back from a claim whose worker stopped while it
//!   may have been sending it: a later send may be a repeat, and the report says so.
//! - `delivery_callbacks` keeps a provider's status report that arrived before its delivery
//!   was settled, to be applied when it is.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_pk_auto, integer, small_integer, text_null, timestamp_with_time_zone,
    uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    MailingId,
    SourceId,
    SourceKind,
    RecipientId,
    Claim,
    Doubt,
    Sandbox,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum DeliveryClaims {
    Table,
    Token,
    Channel,
    InFlight,
    LeaseUntil,
    Process,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DeliveryCallbacks {
    Table,
    Id,
    DeliveryId,
    Status,
    Error,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum MailingStats {
    Table,
    Repeats,
    Uncertain,
    Sandbox,
}

async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        run(manager, "DROP INDEX IF EXISTS ux_deliveries_once").await?;
        run(manager, "DROP INDEX IF EXISTS ix_deliveries_leased").await?;
        run(manager, "DROP INDEX IF EXISTS ix_deliveries_ready").await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .rename_column(Deliveries::MailingId, Deliveries::SourceId)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER.
        for column in [
            ColumnDef::new(Deliveries::SourceKind)
                .small_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Deliveries::Claim)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Deliveries::Doubt)
                .small_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Deliveries::Sandbox)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Every delivery so far went to a customer on a customer's channel.
        if postgres {
            run(
                manager,
                "ALTER TABLE deliveries ADD COLUMN recipient_id uuid",
            )
            .await?;
            run(manager, "UPDATE deliveries SET recipient_id = customer_id").await?;
            run(
                manager,
                "ALTER TABLE deliveries ALTER COLUMN recipient_id SET NOT NULL",
            )
            .await?;
        } else {
            run(
                manager,
                "ALTER TABLE deliveries ADD COLUMN recipient_id blob NOT NULL DEFAULT x'00000000000000000000000000000000'",
            )
            .await?;
            run(manager, "UPDATE deliveries SET recipient_id = customer_id").await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .drop_column(Deliveries::LeaseUntil)
                    .to_owned(),
            )
            .await?;
        run(
            manager,
            "CREATE UNIQUE INDEX ux_deliveries_once ON deliveries (source_id, source_kind, channel, recipient_id)",
        )
        .await?;
        // Claims walk a channel's ready rows in id order.
        run(
            manager,
            "CREATE INDEX ix_deliveries_ready ON deliveries (channel, id) WHERE status = 0",
        )
        .await?;
        run(
            manager,
            "CREATE INDEX ix_deliveries_claimed ON deliveries (claim) WHERE status = 1",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeliveryClaims::Table)
                    .col(
                        ColumnDef::new(DeliveryClaims::Token)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(small_integer(DeliveryClaims::Channel))
                    .col(integer(DeliveryClaims::InFlight))
                    .col(timestamp_with_time_zone(DeliveryClaims::LeaseUntil))
                    .col(uuid_null(DeliveryClaims::Process))
                    .col(timestamp_with_time_zone(DeliveryClaims::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_delivery_claims_lease")
                    .table(DeliveryClaims::Table)
                    .col(DeliveryClaims::LeaseUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeliveryCallbacks::Table)
                    .col(big_pk_auto(DeliveryCallbacks::Id))
                    .col(big_integer(DeliveryCallbacks::DeliveryId))
                    .col(small_integer(DeliveryCallbacks::Status))
                    .col(text_null(DeliveryCallbacks::Error))
                    .col(timestamp_with_time_zone(DeliveryCallbacks::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_delivery_callbacks_delivery")
                    .table(DeliveryCallbacks::Table)
                    .col(DeliveryCallbacks::DeliveryId)
                    .to_owned(),
            )
            .await?;
        for column in [
            MailingStats::Repeats,
            MailingStats::Uncertain,
            MailingStats::Sandbox,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MailingStats::Table)
                        .add_column(ColumnDef::new(column).big_integer().not_null().default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            MailingStats::Repeats,
            MailingStats::Uncertain,
            MailingStats::Sandbox,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(MailingStats::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(DeliveryCallbacks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DeliveryClaims::Table).to_owned())
            .await?;
        run(manager, "DROP INDEX IF EXISTS ix_deliveries_claimed").await?;
        run(manager, "DROP INDEX IF EXISTS ix_deliveries_ready").await?;
        run(manager, "DROP INDEX IF EXISTS ux_deliveries_once").await?;
        // Rows that were being sent go back to the queue: the old schema keeps leases on the
        // rows, and these have none.
        run(manager, "UPDATE deliveries SET status = 0 WHERE status = 1").await?;
        for column in [
            Deliveries::RecipientId,
            Deliveries::Sandbox,
            Deliveries::Doubt,
            Deliveries::Claim,
            Deliveries::SourceKind,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Deliveries::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .add_column(
                        ColumnDef::new(Deliveries::LeaseUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Deliveries::Table)
                    .rename_column(Deliveries::SourceId, Deliveries::MailingId)
                    .to_owned(),
            )
            .await?;
        run(
            manager,
            "CREATE UNIQUE INDEX ux_deliveries_once ON deliveries (mailing_id, customer_id, channel)",
        )
        .await?;
        run(
            manager,
            "CREATE INDEX ix_deliveries_ready ON deliveries (id) WHERE status = 0",
        )
        .await?;
        run(
            manager,
            "CREATE INDEX ix_deliveries_leased ON deliveries (lease_until) WHERE status = 1",
        )
        .await?;
        Ok(())
    }
}
