//! Automations: per card, the four built-in kinds (one each) and custom rules; their
//! occurrences, one row per (automation, customer, occurrence) so that each fires once
//! however many processes plan and fire them; the merchant's quiet hours, frequency cap,
//! staleness and pause switch; the customer's own time zone, when their birthday last
//! changed and the stamps automations granted them; and the automation a push was sent for.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    manager.get_connection().execute_unprepared(sql).await?;
    Ok(())
}

async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: &mut ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Automations::Table)
                    .col(uuid(Automations::Id).primary_key())
                    .col(uuid(Automations::MerchantId))
                    .col(uuid(Automations::CardId))
                    .col(string_len(Automations::Kind, 16))
                    .col(string_len(Automations::Name, 80).default(""))
                    .col(boolean(Automations::Enabled))
                    // The trigger as the API writes it (JSON), and the columns the planner reads.
                    .col(text(Automations::TriggerJson))
                    .col(string_len_null(Automations::EventKind, 32))
                    .col(integer_null(Automations::SendMinute))
                    .col(integer(Automations::DaysBefore).default(0))
                    .col(integer(Automations::DelayMinutes).default(0))
                    .col(integer(Automations::CooldownDays).default(0))
                    .col(integer(Automations::LapseDays).default(0))
                    .col(text(Automations::Message))
                    .col(big_integer(Automations::RewardPoints).default(0))
                    .col(integer(Automations::RewardStamps).default(0))
                    // Since when it reacts (events before are not its occurrences).
                    .col(timestamp_with_time_zone(Automations::ArmedAt))
                    // The calendar scans: through when occurrences are planned, and when a
                    // process last took the scan.
                    .col(timestamp_with_time_zone_null(Automations::PlannedThrough))
                    .col(timestamp_with_time_zone_null(Automations::ScannedAt))
                    .col(timestamp_with_time_zone(Automations::CreatedAt))
                    .col(timestamp_with_time_zone(Automations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Automations::Table, Automations::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One of each built-in kind per card.
        run(
            manager,
            "CREATE UNIQUE INDEX ux_automations_card_kind ON automations (card_id, kind) \
             WHERE kind <> 'custom'",
        )
        .await?;
        run(
            manager,
            "CREATE INDEX ix_automations_merchant ON automations (merchant_id, enabled)",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(AutomationRuns::Table)
                    .col(
                        big_integer(AutomationRuns::Id)
                            .primary_key()
                            .auto_increment(),
                    )
                    .col(uuid(AutomationRuns::MerchantId))
                    .col(uuid(AutomationRuns::AutomationId))
                    .col(uuid(AutomationRuns::CustomerId))
                    .col(string_len(AutomationRuns::Occurrence, 160))
                    .col(timestamp_with_time_zone(AutomationRuns::PlannedAt))
                    .col(timestamp_with_time_zone(AutomationRuns::DueAt))
                    .col(string_len(AutomationRuns::Status, 16))
                    .col(string_len_null(AutomationRuns::Reason, 32))
                    .col(boolean(AutomationRuns::Deferred).default(false))
                    .col(timestamp_with_time_zone_null(AutomationRuns::FiredAt))
                    .col(uuid_null(AutomationRuns::PushId))
                    .col(timestamp_with_time_zone(AutomationRuns::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AutomationRuns::Table, AutomationRuns::AutomationId)
                            .to(Automations::Table, Automations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AutomationRuns::Table, AutomationRuns::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Exactly once per (automation, customer, occurrence).
        run(
            manager,
            "CREATE UNIQUE INDEX ux_automation_runs_occurrence \
             ON automation_runs (automation_id, customer_id, occurrence)",
        )
        .await?;
        // What is due, in time order, from a partial index of what is waiting only.
        run(
            manager,
            "CREATE INDEX ix_automation_runs_due ON automation_runs (due_at, id) \
             WHERE status = 'due'",
        )
        .await?;
        // Figures per automation; a customer's recent automated messages (the cap and the
        // cool-down).
        run(
            manager,
            "CREATE INDEX ix_automation_runs_automation ON automation_runs \
             (automation_id, status, reason)",
        )
        .await?;
        run(
            manager,
            "CREATE INDEX ix_automation_runs_customer ON automation_runs \
             (customer_id, fired_at) WHERE status = 'sent'",
        )
        .await?;
        // The anniversary scan reads a card's passes by install time.
        run(
            manager,
            "CREATE INDEX ix_passes_installed ON passes (card_id, installed_at)",
        )
        .await?;

        add(
            manager,
            Merchants::Table,
            boolean(Merchants::AutomationsPaused).default(false),
        )
        .await?;
        add(
            manager,
            Merchants::Table,
            integer(Merchants::QuietStart).default(21 * 60),
        )
        .await?;
        add(
            manager,
            Merchants::Table,
            integer(Merchants::QuietEnd).default(8 * 60),
        )
        .await?;
        add(
            manager,
            Merchants::Table,
            integer(Merchants::CapMessages).default(3),
        )
        .await?;
        add(
            manager,
            Merchants::Table,
            integer(Merchants::CapDays).default(7),
        )
        .await?;
        add(
            manager,
            Merchants::Table,
            integer(Merchants::StalenessHours).default(24),
        )
        .await?;
        add(
            manager,
            Customers::Table,
            &mut string_len_null(Customers::TimeZone, 64),
        )
        .await?;
        add(
            manager,
            Customers::Table,
            &mut timestamp_with_time_zone_null(Customers::BirthdayChangedAt),
        )
        .await?;
        add(
            manager,
            Customers::Table,
            integer(Customers::BonusStamps).default(0),
        )
        .await?;
        add(manager, Pushes::Table, &mut uuid_null(Pushes::AutomationId)).await?;
        // The zones of a merchant's customers who have one.
        run(
            manager,
            "CREATE INDEX ix_customers_time_zone ON customers (merchant_id, time_zone) \
             WHERE time_zone IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in ["ix_customers_time_zone", "ix_passes_installed"] {
            run(manager, &format!("DROP INDEX IF EXISTS {index}")).await?;
        }
        manager
            .drop_table(Table::drop().table(AutomationRuns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Automations::Table).to_owned())
            .await?;
        for (table, column) in [
            (
                Merchants::Table.into_iden(),
                Merchants::AutomationsPaused.into_iden(),
            ),
            (
                Merchants::Table.into_iden(),
                Merchants::QuietStart.into_iden(),
            ),
            (
                Merchants::Table.into_iden(),
                Merchants::QuietEnd.into_iden(),
            ),
            (
                Merchants::Table.into_iden(),
                Merchants::CapMessages.into_iden(),
            ),
            (Merchants::Table.into_iden(), Merchants::CapDays.into_iden()),
            (
                Merchants::Table.into_iden(),
                Merchants::StalenessHours.into_iden(),
            ),
            (
                Customers::Table.into_iden(),
                Customers::TimeZone.into_iden(),
            ),
            (
                Customers::Table.into_iden(),
                Customers::BirthdayChangedAt.into_iden(),
            ),
            (
                Customers::Table.into_iden(),
                Customers::BonusStamps.into_iden(),
            ),
            (Pushes::Table.into_iden(), Pushes::AutomationId.into_iden()),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Automations {
    Table,
    Id,
    MerchantId,
    CardId,
    Kind,
    Name,
    Enabled,
    TriggerJson,
    EventKind,
    SendMinute,
    DaysBefore,
    DelayMinutes,
    CooldownDays,
    LapseDays,
    Message,
    RewardPoints,
    RewardStamps,
    ArmedAt,
    PlannedThrough,
    ScannedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AutomationRuns {
    Table,
    Id,
    MerchantId,
    AutomationId,
    CustomerId,
    Occurrence,
    PlannedAt,
    DueAt,
    Status,
    Reason,
    Deferred,
    FiredAt,
    PushId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Cards {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Merchants {
    Table,
    AutomationsPaused,
    QuietStart,
    QuietEnd,
    CapMessages,
    CapDays,
    StalenessHours,
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Id,
    TimeZone,
    BirthdayChangedAt,
    BonusStamps,
}

#[derive(DeriveIden, Clone, Copy)]
enum Pushes {
    Table,
    AutomationId,
}
