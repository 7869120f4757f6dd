//! The change feed: an outbox of what changed, written in the same transaction as the change,
//! so that every process (and every dashboard through it) learns what any process did; and
//! the single-use tickets that open a stream of it.
//!
//! `changes` is written once per settled batch or state change, not per delivery, and kept
//! 24 hours, so it stays small. Readers walk it by id: per merchant when a stream resumes
//! (hence the index), and all merchants at once when a process's listener catches up (the
//! primary key).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Changes::Table)
                    .col(big_pk_auto(Changes::Id))
                    .col(uuid(Changes::MerchantId))
                    .col(string_len(Changes::Topic, 32))
                    .col(uuid_null(Changes::Subject))
                    .col(text(Changes::Body))
                    .col(timestamp_with_time_zone(Changes::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Changes::Table, Changes::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_changes_merchant")
                    .table(Changes::Table)
                    .col(Changes::MerchantId)
                    .col(Changes::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StreamTickets::Table)
                    // A SHA-256 of the ticket: the ticket itself is never stored.
                    .col(string_len(StreamTickets::TicketHash, 64).primary_key())
                    .col(uuid(StreamTickets::MerchantId))
                    .col(uuid_null(StreamTickets::MemberId))
                    .col(uuid_null(StreamTickets::ApiKeyId))
                    // The session token's id and expiry: a stream ends when its session does.
                    .col(string_null(StreamTickets::SessionId))
                    .col(timestamp_with_time_zone_null(
                        StreamTickets::SessionExpiresAt,
                    ))
                    .col(timestamp_with_time_zone(StreamTickets::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(StreamTickets::Table, StreamTickets::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StreamTickets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Changes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Merchants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Changes {
    Table,
    Id,
    MerchantId,
    Topic,
    Subject,
    Body,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StreamTickets {
    Table,
    TicketHash,
    MerchantId,
    MemberId,
    ApiKeyId,
    SessionId,
    SessionExpiresAt,
    ExpiresAt,
}
