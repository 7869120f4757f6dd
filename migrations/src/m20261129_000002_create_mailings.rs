//! Mailings, their per-channel counters, and the delivery queue.
//!
//! `deliveries` is the hot table: one narrow row per recipient and channel, an integer key,
//! and few indexes, because every status change rewrites the row and each of its indexes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Mailings::Table)
                    .col(uuid(Mailings::Id).primary_key())
                    .col(uuid(Mailings::MerchantId))
                    .col(string(Mailings::Name))
                    .col(string(Mailings::Status))
                    .col(text(Mailings::Audience))
                    .col(text(Mailings::Channels))
                    .col(text(Mailings::Content))
                    .col(big_integer(Mailings::Recipients))
                    .col(big_integer(Mailings::Pending))
                    .col(uuid_null(Mailings::ResendOf))
                    .col(uuid_null(Mailings::CreatedBy))
                    .col(timestamp_with_time_zone_null(Mailings::ScheduledAt))
                    .col(timestamp_with_time_zone_null(Mailings::StartedAt))
                    .col(timestamp_with_time_zone_null(Mailings::CompletedAt))
                    .col(timestamp_with_time_zone(Mailings::CreatedAt))
                    .col(timestamp_with_time_zone(Mailings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Mailings::Table, Mailings::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mailings_merchant")
                    .table(Mailings::Table)
                    .col(Mailings::MerchantId)
                    .col(Mailings::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_mailings_status")
                    .table(Mailings::Table)
                    .col(Mailings::Status)
                    .col(Mailings::ScheduledAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MailingStats::Table)
                    .col(uuid(MailingStats::MailingId))
                    .col(string(MailingStats::Channel))
                    .col(big_integer(MailingStats::Total))
                    .col(big_integer(MailingStats::Sent))
                    .col(big_integer(MailingStats::Delivered))
                    .col(big_integer(MailingStats::Opened))
                    .col(big_integer(MailingStats::Failed))
                    .col(big_integer(MailingStats::Unsubscribed))
                    .col(big_integer(MailingStats::OptedOutAfter))
                    .col(big_integer(MailingStats::Cancelled))
                    .col(big_integer(MailingStats::CreditsReserved))
                    .col(big_integer(MailingStats::CreditsUsed))
                    .primary_key(
                        Index::create()
                            .col(MailingStats::MailingId)
                            .col(MailingStats::Channel),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MailingStats::Table, MailingStats::MailingId)
                            .to(Mailings::Table, Mailings::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(big_pk_auto(Deliveries::Id))
                    .col(uuid(Deliveries::MailingId))
                    .col(uuid(Deliveries::CustomerId))
                    .col(small_integer(Deliveries::Channel))
                    .col(small_integer(Deliveries::Status))
                    .col(small_integer(Deliveries::Attempts))
                    .col(timestamp_with_time_zone(Deliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Deliveries::LeaseUntil))
                    .col(integer(Deliveries::Credits))
                    .col(string_null(Deliveries::ProviderId))
                    .col(string_null(Deliveries::Error))
                    .col(timestamp_with_time_zone(Deliveries::UpdatedAt))
                    // No foreign keys here: a key check is a trigger per inserted row, and a
                    // fan-out inserts a million. The rows are only ever written by the engine
                    // for mailings it has just created.
                    .to_owned(),
            )
            .await?;
        // Exactly once: one message per (source, recipient, channel).
        manager
            .create_index(
                Index::create()
                    .name("ux_deliveries_once")
                    .table(Deliveries::Table)
                    .col(Deliveries::MailingId)
                    .col(Deliveries::CustomerId)
                    .col(Deliveries::Channel)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Partial indexes (both databases have them): the claim walks ready rows by id; the
        // lease reaper looks only at rows being sent.
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX ix_deliveries_ready ON deliveries (id) WHERE status = 0",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_deliveries_leased ON deliveries (lease_until) WHERE status = 1",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Deliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MailingStats::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Mailings::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Merchants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Mailings {
    Table,
    Id,
    MerchantId,
    Name,
    Status,
    Audience,
    Channels,
    Content,
    Recipients,
    Pending,
    ResendOf,
    CreatedBy,
    ScheduledAt,
    StartedAt,
    CompletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MailingStats {
    Table,
    MailingId,
    Channel,
    Total,
    Sent,
    Delivered,
    Opened,
    Failed,
    Unsubscribed,
    /// Opt-outs that came after the message was sent (its unsubscribe link, a STOP reply).
    OptedOutAfter,
    Cancelled,
    CreditsReserved,
    CreditsUsed,
}

#[derive(DeriveIden, Clone, Copy)]
enum Deliveries {
    Table,
    Id,
    MailingId,
    CustomerId,
    Channel,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    Credits,
    ProviderId,
    Error,
    UpdatedAt,
}
