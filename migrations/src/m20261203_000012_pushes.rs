//! Wallet pushes: a message written to the back of every pass of a card's audience, and an
//! empty APNs notification to each device registered for those passes (through the delivery
//! engine, lane 4 of `deliveries.channel`).
//!
//! - `pushes`: what was sent, to whom (a card, all its holders or a segment), when (now or
//!   scheduled) and how far it has come;
//! - `push_stats`: its figures per lane (Apple devices, Google passes), as `mailing_stats`
//!   are a mailing's per channel;
//! - `pass_registrations.id`: what a delivery names as its recipient; `pushed_at`: the last
//!   notification to the device, so that pushes within the minimum gap are coalesced;
//! - `passes.fetched_tag`: the newest tag a device fetched, which makes "delivered" honest;
//! - `cards.locations`: up to ten stores near which the card's passes surface.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Pushes::Table)
                    .col(uuid(Pushes::Id).primary_key())
                    .col(uuid(Pushes::MerchantId))
                    .col(uuid(Pushes::CardId))
                    .col(uuid_null(Pushes::SegmentId))
                    .col(text(Pushes::Message))
                    .col(string_len(Pushes::Status, 16))
                    .col(timestamp_with_time_zone_null(Pushes::ScheduledAt))
                    .col(uuid_null(Pushes::CreatedBy))
                    .col(big_integer(Pushes::Passes).default(0))
                    .col(big_integer(Pushes::Pending).default(0))
                    .col(timestamp_with_time_zone(Pushes::CreatedAt))
                    .col(timestamp_with_time_zone(Pushes::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Pushes::StartedAt))
                    .col(timestamp_with_time_zone_null(Pushes::CompletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Pushes::Table, Pushes::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_pushes_merchant_created")
                    .table(Pushes::Table)
                    .col(Pushes::MerchantId)
                    .col(Pushes::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // The upkeep finds scheduled pushes that are due without reading the others.
        manager
            .create_index(
                Index::create()
                    .name("ix_pushes_status_scheduled")
                    .table(Pushes::Table)
                    .col(Pushes::Status)
                    .col(Pushes::ScheduledAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PushStats::Table)
                    .col(uuid(PushStats::PushId))
                    .col(small_integer(PushStats::Lane))
                    .col(big_integer(PushStats::Total).default(0))
                    .col(big_integer(PushStats::Sent).default(0))
                    .col(big_integer(PushStats::Delivered).default(0))
                    .col(big_integer(PushStats::Failed).default(0))
                    .col(big_integer(PushStats::Cancelled).default(0))
                    .col(big_integer(PushStats::Coalesced).default(0))
                    .col(big_integer(PushStats::Quiet).default(0))
                    .col(big_integer(PushStats::Repeats).default(0))
                    .col(big_integer(PushStats::Sandbox).default(0))
                    .primary_key(Index::create().col(PushStats::PushId).col(PushStats::Lane))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PushStats::Table, PushStats::PushId)
                            .to(Pushes::Table, Pushes::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for column in [
            uuid_null(PassRegistrations::Id).to_owned(),
            timestamp_with_time_zone_null(PassRegistrations::PushedAt).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PassRegistrations::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Registrations made before this migration get their ids here.
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT pass_id, device_library_id FROM pass_registrations WHERE id IS NULL",
            ))
            .await?;
        for row in rows {
            let pass: uuid::Uuid = row.try_get("", "pass_id")?;
            let device: String = row.try_get("", "device_library_id")?;
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE pass_registrations SET id = $1 WHERE pass_id = $2 AND device_library_id = $3",
                [uuid::Uuid::now_v7().into(), pass.into(), device.into()],
            ))
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_pass_registrations_id")
                    .table(PassRegistrations::Table)
                    .col(PassRegistrations::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Passes::Table)
                    .add_column(big_integer_null(Passes::FetchedTag))
                    .to_owned(),
            )
            .await?;
        // Up to ten stores near which a card's passes surface on the lock screen.
        manager
            .alter_table(
                Table::alter()
                    .table(Cards::Table)
                    .add_column(text(Cards::Locations).default("[]"))
                    .to_owned(),
            )
            .await?;
        // A pass fetch marks the sent pushes of its devices delivered: found by this partial
        // index, which holds only Apple rows still waiting for their fetch.
        db.execute_unprepared(
            "CREATE INDEX ix_deliveries_apple_sent ON deliveries (recipient_id) \
             WHERE channel = 4 AND status = 2",
        )
        .await?;
        // Google allows three notifying messages per pass a day: the worker counts a pass's
        // recent Google rows by this index.
        db.execute_unprepared(
            "CREATE INDEX ix_deliveries_google ON deliveries (recipient_id, updated_at) \
             WHERE channel = 5",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_deliveries_google")
            .await?;
        db.execute_unprepared("DROP INDEX ix_deliveries_apple_sent")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Cards::Table)
                    .drop_column(Cards::Locations)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Passes::Table)
                    .drop_column(Passes::FetchedTag)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_pass_registrations_id")
                    .table(PassRegistrations::Table)
                    .to_owned(),
            )
            .await?;
        for column in [PassRegistrations::PushedAt, PassRegistrations::Id] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PassRegistrations::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(PushStats::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Pushes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Pushes {
    Table,
    Id,
    MerchantId,
    CardId,
    SegmentId,
    Message,
    Status,
    ScheduledAt,
    CreatedBy,
    Passes,
    Pending,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    CompletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PushStats {
    Table,
    PushId,
    Lane,
    Total,
    Sent,
    Delivered,
    Failed,
    Cancelled,
    Coalesced,
    Quiet,
    Repeats,
    Sandbox,
}

#[derive(DeriveIden, Clone, Copy)]
enum PassRegistrations {
    Table,
    Id,
    PushedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Passes {
    Table,
    FetchedTag,
}

#[derive(DeriveIden, Clone, Copy)]
enum Cards {
    Table,
    Locations,
}

#[derive(DeriveIden, Clone, Copy)]
enum Merchants {
    Table,
    Id,
}
