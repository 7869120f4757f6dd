//! The processes that send, each seen every few seconds, so that each takes an equal share of
//! every provider account's rate limit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{timestamp_with_time_zone, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WorkerProcesses {
    Table,
    Id,
    StartedAt,
    SeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WorkerProcesses::Table)
                    .col(uuid(WorkerProcesses::Id).primary_key())
                    .col(timestamp_with_time_zone(WorkerProcesses::StartedAt))
                    .col(timestamp_with_time_zone(WorkerProcesses::SeenAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WorkerProcesses::Table).to_owned())
            .await
    }
}
