//! Team invitations: a member is invited by name, email and role, and sets their own
//! password through a link that works once, until it expires. Only a SHA-256 of the link's
//! token is stored (the token is 256 random bits).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TeamInvitations::Table)
                    .col(uuid(TeamInvitations::Id).primary_key())
                    .col(uuid(TeamInvitations::MerchantId))
                    .col(string_len(TeamInvitations::Name, 120))
                    .col(string_len(TeamInvitations::Email, 254))
                    .col(string_len(TeamInvitations::Role, 16))
                    .col(string_len(TeamInvitations::TokenHash, 64).unique_key())
                    .col(uuid_null(TeamInvitations::InvitedBy))
                    .col(timestamp_with_time_zone(TeamInvitations::CreatedAt))
                    .col(timestamp_with_time_zone(TeamInvitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(TeamInvitations::AcceptedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamInvitations::Table, TeamInvitations::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_team_invitations_merchant")
                    .table(TeamInvitations::Table)
                    .col(TeamInvitations::MerchantId)
                    .col(TeamInvitations::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TeamInvitations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum TeamInvitations {
    Table,
    Id,
    MerchantId,
    Name,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Merchants {
    Table,
    Id,
}
