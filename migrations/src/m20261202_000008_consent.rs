//! Consent that can be traced: every change of a customer's consent on a channel
//! (`consent_changes`, written in the transaction of the change), the opt-outs the customer
//! made themselves and that only they can undo (`consent_opt_outs`, one per customer and
//! channel, saying what caused it and, for a STOP, which of our numbers received it), and the
//! inbound SMS already acted on (`inbound_messages`, by Twilio's MessageSid, so a replayed
//! webhook changes nothing twice).
//!
//! Two indexes let a STOP find its customers without scanning: customers by phone across
//! merchants, and the SMS deliveries by recipient (partial, so only SMS rows pay for it, and
//! only at insert: neither column ever changes).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsentChanges::Table)
                    .col(big_pk_auto(ConsentChanges::Id))
                    .col(uuid(ConsentChanges::MerchantId))
                    .col(uuid(ConsentChanges::CustomerId))
                    .col(string_len(ConsentChanges::Channel, 16))
                    .col(boolean(ConsentChanges::Granted))
                    .col(string_len(ConsentChanges::Source, 32))
                    .col(uuid_null(ConsentChanges::ActorMemberId))
                    .col(uuid_null(ConsentChanges::ActorApiKeyId))
                    .col(text_null(ConsentChanges::LegalBasis))
                    .col(timestamp_with_time_zone(ConsentChanges::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConsentChanges::Table, ConsentChanges::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_consent_changes_customer")
                    .table(ConsentChanges::Table)
                    .col(ConsentChanges::CustomerId)
                    .col(ConsentChanges::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsentOptOuts::Table)
                    .col(uuid(ConsentOptOuts::CustomerId))
                    .col(string_len(ConsentOptOuts::Channel, 16))
                    .col(uuid(ConsentOptOuts::MerchantId))
                    .col(string_len(ConsentOptOuts::Source, 32))
                    // Our number that received the STOP; null for other sources.
                    .col(string_len_null(ConsentOptOuts::Number, 64))
                    // Whether the opt-out turned consent off (it may have been off already).
                    .col(boolean(ConsentOptOuts::Revoked))
                    .col(timestamp_with_time_zone(ConsentOptOuts::At))
                    .primary_key(
                        Index::create()
                            .col(ConsentOptOuts::CustomerId)
                            .col(ConsentOptOuts::Channel),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConsentOptOuts::Table, ConsentOptOuts::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InboundMessages::Table)
                    .col(string_len(InboundMessages::MessageSid, 64).primary_key())
                    .col(timestamp_with_time_zone(InboundMessages::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        run(
            manager,
            "CREATE INDEX ix_customers_phone_only ON customers (phone)",
        )
        .await?;
        run(
            manager,
            "CREATE INDEX ix_deliveries_sms_recipient ON deliveries (recipient_id) WHERE channel = 0",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, "DROP INDEX IF EXISTS ix_deliveries_sms_recipient").await?;
        run(manager, "DROP INDEX IF EXISTS ix_customers_phone_only").await?;
        manager
            .drop_table(Table::drop().table(InboundMessages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ConsentOptOuts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ConsentChanges::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum ConsentChanges {
    Table,
    Id,
    MerchantId,
    CustomerId,
    Channel,
    Granted,
    Source,
    ActorMemberId,
    ActorApiKeyId,
    LegalBasis,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum ConsentOptOuts {
    Table,
    CustomerId,
    Channel,
    MerchantId,
    Source,
    Number,
    Revoked,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum InboundMessages {
    Table,
    MessageSid,
    ReceivedAt,
}
