//! Customer events recorded by integrations: one row per event, unique on the merchant and
//! the integration's own ID (a replay records nothing), read by customer and time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CustomerEvents::Table)
                    .col(
                        big_integer(CustomerEvents::Id)
                            .primary_key()
                            .auto_increment(),
                    )
                    .col(uuid(CustomerEvents::MerchantId))
                    .col(uuid(CustomerEvents::CustomerId))
                    .col(uuid_null(CustomerEvents::PassId))
                    .col(string_len(CustomerEvents::Kind, 32))
                    .col(string_len(CustomerEvents::ExternalId, 128))
                    .col(big_integer_null(CustomerEvents::Amount))
                    .col(big_integer_null(CustomerEvents::Points))
                    .col(timestamp_with_time_zone(CustomerEvents::OccurredAt))
                    .col(timestamp_with_time_zone(CustomerEvents::RecordedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerEvents::Table, CustomerEvents::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_customer_events_external")
                    .table(CustomerEvents::Table)
                    .col(CustomerEvents::MerchantId)
                    .col(CustomerEvents::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_customer_events_customer")
                    .table(CustomerEvents::Table)
                    .col(CustomerEvents::CustomerId)
                    .col(CustomerEvents::OccurredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum CustomerEvents {
    Table,
    Id,
    MerchantId,
    CustomerId,
    PassId,
    Kind,
    ExternalId,
    Amount,
    Points,
    OccurredAt,
    RecordedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Id,
}
