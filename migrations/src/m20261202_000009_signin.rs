//! Sign-in that holds across processes: the attempts counted per account and per client
//! address live in the database (a window of attempts per key, reserved in one statement
//! before a password is checked), and each team member has a session generation that every
//! session token carries, so that changing the password or signing out everywhere ends the
//! member's other sessions at once (and the change streams they opened).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SignInAttempts::Table)
                    // A SHA-256 of `account:<email>` or `address:<ip>`: typed emails are not
                    // stored.
                    .col(string_len(SignInAttempts::KeyHash, 64).primary_key())
                    .col(integer(SignInAttempts::Attempts))
                    // Microseconds since the epoch: compared in SQL on both databases alike.
                    .col(big_integer(SignInAttempts::WindowStartedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TeamMembers::Table)
                    .add_column(integer(TeamMembers::SessionGeneration).default(0))
                    .to_owned(),
            )
            .await?;
        // A change stream opened with a session ends when the member's sessions do.
        manager
            .alter_table(
                Table::alter()
                    .table(StreamTickets::Table)
                    .add_column(integer_null(StreamTickets::SessionGeneration))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StreamTickets::Table)
                    .drop_column(StreamTickets::SessionGeneration)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TeamMembers::Table)
                    .drop_column(TeamMembers::SessionGeneration)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SignInAttempts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SignInAttempts {
    Table,
    KeyHash,
    Attempts,
    WindowStartedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StreamTickets {
    Table,
    SessionGeneration,
}

#[derive(DeriveIden, Clone, Copy)]
enum TeamMembers {
    Table,
    SessionGeneration,
}
