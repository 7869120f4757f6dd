//! The Apple Wallet web service: the devices registered for each pass (with the push token
//! APNs wakes them by), and per pass an update tag that changes on every change of what the
//! pass shows, plus the latest message on its back.
//!
//! The tag is microseconds since the epoch, strictly increasing per pass; devices get it back
//! as an opaque string (`lastUpdated`) and ask for the passes updated since.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            big_integer(Passes::UpdateTag).default(0).to_owned(),
            text_null(Passes::Message).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Passes::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Devices name a pass by its serial number (and pass type): found by index.
        manager
            .create_index(
                Index::create()
                    .name("ix_passes_serial")
                    .table(Passes::Table)
                    .col(Passes::SerialNumber)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PassRegistrations::Table)
                    .col(uuid(PassRegistrations::PassId))
                    .col(string_len(PassRegistrations::DeviceLibraryId, 128))
                    .col(string_len(PassRegistrations::PushToken, 256))
                    .col(timestamp_with_time_zone(PassRegistrations::CreatedAt))
                    .col(timestamp_with_time_zone(PassRegistrations::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PassRegistrations::PassId)
                            .col(PassRegistrations::DeviceLibraryId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PassRegistrations::Table, PassRegistrations::PassId)
                            .to(Passes::Table, Passes::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_pass_registrations_device")
                    .table(PassRegistrations::Table)
                    .col(PassRegistrations::DeviceLibraryId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PassRegistrations::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_passes_serial")
                    .table(Passes::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Passes::Message, Passes::UpdateTag] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Passes::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Passes {
    Table,
    Id,
    SerialNumber,
    UpdateTag,
    Message,
}

#[derive(DeriveIden, Clone, Copy)]
enum PassRegistrations {
    Table,
    PassId,
    DeviceLibraryId,
    PushToken,
    CreatedAt,
    UpdatedAt,
}
