//! What the operator controls: credits, signing keys and the names passes are known by.
//!
//! - A ledger line names what it belongs to (`source_kind`, `source_id`: the mailing or push
//!   whose credits were reserved, spent or released), and a top-up carries the operator's
//!   reference in `top_up_reference`, unique per merchant and kind, so the same top-up sent
//!   twice adds once. Earlier lines keep it empty (several may share a reference).
//! - `signing_keys` holds the keys the server made for itself (session tokens, signed links)
//!   when the configuration gives none, so that every process on one database signs and
//!   verifies with the same keys. A rotation adds a generation; older ones still verify.
//! - A pass's serial number is unique per merchant, not across merchants: one merchant can
//!   neither learn nor take another's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string_len, text, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BalanceEntries {
    Table,
    MerchantId,
    Kind,
    SourceKind,
    SourceId,
    TopUpReference,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Purpose,
    Generation,
    Secret,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Passes {
    Table,
    MerchantId,
    SerialNumber,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(BalanceEntries::SourceKind)
                .string_len(16)
                .null()
                .to_owned(),
            ColumnDef::new(BalanceEntries::SourceId)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(BalanceEntries::TopUpReference)
                .string_len(200)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BalanceEntries::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_balance_entries_top_up")
                    .table(BalanceEntries::Table)
                    .col(BalanceEntries::MerchantId)
                    .col(BalanceEntries::Kind)
                    .col(BalanceEntries::TopUpReference)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string_len(SigningKeys::Purpose, 16))
                    .col(integer(SigningKeys::Generation))
                    .col(text(SigningKeys::Secret))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SigningKeys::Purpose)
                            .col(SigningKeys::Generation),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .drop_index(
                Index::drop()
                    .name("ux_passes_serial")
                    .table(Passes::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_passes_merchant_serial")
                    .table(Passes::Table)
                    .col(Passes::MerchantId)
                    .col(Passes::SerialNumber)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_passes_merchant_serial")
                    .table(Passes::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_passes_serial")
                    .table(Passes::Table)
                    .col(Passes::SerialNumber)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ux_balance_entries_top_up")
                    .table(BalanceEntries::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            BalanceEntries::TopUpReference,
            BalanceEntries::SourceId,
            BalanceEntries::SourceKind,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BalanceEntries::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
