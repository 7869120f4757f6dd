//! Segment counts over recent visitors ("a visit within N days" with a visits threshold, the
//! win-back audience) read only the index: `(merchant, last visit)` gains `visits`. On
//! SQLite this took the broad rule's count at 1,000,000 customers from 572 ms to 19 ms; on
//! PostgreSQL the index-only scan needs a vacuumed table, which autovacuum provides.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    MerchantId,
    LastVisitAt,
    Visits,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_customers_last_visit_visits")
                    .table(Customers::Table)
                    .col(Customers::MerchantId)
                    .col(Customers::LastVisitAt)
                    .col(Customers::Visits)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_customers_last_visit")
                    .table(Customers::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_customers_last_visit")
                    .table(Customers::Table)
                    .col(Customers::MerchantId)
                    .col(Customers::LastVisitAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_customers_last_visit_visits")
                    .table(Customers::Table)
                    .to_owned(),
            )
            .await
    }
}
