//! Reaching every holder a push is for, on the platform they chose:
//!
//! - `cards.apns_environment`: `production` or `sandbox` APNs for the card's passes (a pass
//!   type id used with development devices is pushed through the sandbox); `NULL` keeps the
//!   server's `apple_wallet.apns_endpoint`;
//! - `cards.google_class_at`: when the card's Google Wallet loyalty class was created at
//!   Google (a save link names it, so it is created once, before the first link);
//! - `web_push_subscriptions`: browsers that subscribed to a pass's messages on the
//!   enrolment page (the push service's endpoint and the keys its messages are encrypted
//!   with); a push queues one delivery per subscription, lane 6 of `deliveries.channel`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            string_len_null(Cards::ApnsEnvironment, 16).to_owned(),
            timestamp_with_time_zone_null(Cards::GoogleClassAt).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Cards::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(WebPushSubscriptions::Table)
                    .col(uuid(WebPushSubscriptions::Id).primary_key())
                    .col(uuid(WebPushSubscriptions::PassId))
                    .col(string_len(WebPushSubscriptions::Endpoint, 1024))
                    .col(string_len(WebPushSubscriptions::P256dh, 128))
                    .col(string_len(WebPushSubscriptions::Auth, 64))
                    .col(timestamp_with_time_zone(WebPushSubscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(WebPushSubscriptions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebPushSubscriptions::Table, WebPushSubscriptions::PassId)
                            .to(Passes::Table, Passes::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One subscription per browser and pass (subscribing again renews its keys); the
        // fan-out reads a pass's subscriptions by it.
        manager
            .create_index(
                Index::create()
                    .name("ux_web_push_subscriptions_pass_endpoint")
                    .table(WebPushSubscriptions::Table)
                    .col(WebPushSubscriptions::PassId)
                    .col(WebPushSubscriptions::Endpoint)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebPushSubscriptions::Table).to_owned())
            .await?;
        for column in [Cards::GoogleClassAt, Cards::ApnsEnvironment] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Cards::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Cards {
    Table,
    ApnsEnvironment,
    GoogleClassAt,
}

#[derive(DeriveIden)]
enum Passes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum WebPushSubscriptions {
    Table,
    Id,
    PassId,
    Endpoint,
    P256dh,
    Auth,
    CreatedAt,
    UpdatedAt,
}
