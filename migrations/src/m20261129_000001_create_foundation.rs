//! Merchants, their team and credentials, cards, customers, passes, segments, balances and
//! idempotency records.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Merchants::Table)
                    .col(uuid(Merchants::Id).primary_key())
                    .col(string(Merchants::Name))
                    .col(string(Merchants::TimeZone))
                    .col(string(Merchants::DefaultCountry))
                    .col(timestamp_with_time_zone(Merchants::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TeamMembers::Table)
                    .col(uuid(TeamMembers::Id).primary_key())
                    .col(uuid(TeamMembers::MerchantId))
                    .col(string(TeamMembers::Name))
                    .col(string(TeamMembers::Email))
                    .col(string(TeamMembers::PasswordHash))
                    .col(string(TeamMembers::Role))
                    .col(timestamp_with_time_zone(TeamMembers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamMembers::Table, TeamMembers::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One email signs in to one merchant.
        index(
            manager,
            TeamMembers::Table,
            "ux_team_members_email",
            &[TeamMembers::Email],
            true,
        )
        .await?;
        index(
            manager,
            TeamMembers::Table,
            "ix_team_members_merchant",
            &[TeamMembers::MerchantId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(uuid(ApiKeys::Id).primary_key())
                    .col(uuid(ApiKeys::MerchantId))
                    .col(string(ApiKeys::Name))
                    .col(string(ApiKeys::Prefix))
                    .col(string(ApiKeys::SecretHash))
                    .col(string(ApiKeys::Role))
                    .col(uuid_null(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, ApiKeys::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            ApiKeys::Table,
            "ux_api_keys_prefix",
            &[ApiKeys::Prefix],
            true,
        )
        .await?;
        index(
            manager,
            ApiKeys::Table,
            "ix_api_keys_merchant",
            &[ApiKeys::MerchantId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(RevokedTokens::Table)
                    .col(string(RevokedTokens::Jti).primary_key())
                    .col(timestamp_with_time_zone(RevokedTokens::ExpiresAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Cards::Table)
                    .col(uuid(Cards::Id).primary_key())
                    .col(uuid(Cards::MerchantId))
                    .col(string(Cards::Name))
                    .col(string(Cards::Kind))
                    .col(text(Cards::Description))
                    .col(string(Cards::BackgroundColor))
                    .col(string(Cards::ForegroundColor))
                    .col(string(Cards::LabelColor))
                    .col(string(Cards::LogoText))
                    .col(string_null(Cards::ApplePassTypeId))
                    .col(integer_null(Cards::MembershipPeriodDays))
                    .col(timestamp_with_time_zone(Cards::CreatedAt))
                    .col(timestamp_with_time_zone(Cards::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Cards::Table, Cards::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Cards::Table,
            "ix_cards_merchant",
            &[Cards::MerchantId, Cards::Name],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(uuid(Customers::Id).primary_key())
                    .col(uuid(Customers::MerchantId))
                    .col(string(Customers::FirstName))
                    .col(string(Customers::LastName))
                    .col(string_null(Customers::Phone))
                    .col(string_null(Customers::Email))
                    .col(date_null(Customers::Birthday))
                    .col(small_integer_null(Customers::BirthdayMonth))
                    .col(small_integer_null(Customers::BirthdayDay))
                    .col(string_null(Customers::TelegramChatId))
                    .col(string_null(Customers::MessengerPsid))
                    .col(boolean(Customers::SmsConsent))
                    .col(boolean(Customers::EmailConsent))
                    .col(boolean(Customers::TelegramConsent))
                    .col(boolean(Customers::MessengerConsent))
                    .col(integer(Customers::Visits))
                    .col(timestamp_with_time_zone_null(Customers::LastVisitAt))
                    .col(big_integer(Customers::Points))
                    // Lower-cased "first last phone email", for search.
                    .col(text(Customers::SearchText))
                    .col(timestamp_with_time_zone(Customers::CreatedAt))
                    .col(timestamp_with_time_zone(Customers::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Customers::Table, Customers::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        use Customers as C;
        index(
            manager,
            C::Table,
            "ux_customers_phone",
            &[C::MerchantId, C::Phone],
            true,
        )
        .await?;
        index(
            manager,
            C::Table,
            "ux_customers_email",
            &[C::MerchantId, C::Email],
            true,
        )
        .await?;
        index(
            manager,
            C::Table,
            "ix_customers_name",
            &[C::MerchantId, C::LastName, C::FirstName],
            false,
        )
        .await?;
        index(
            manager,
            C::Table,
            "ix_customers_visits",
            &[C::MerchantId, C::Visits],
            false,
        )
        .await?;
        index(
            manager,
            C::Table,
            "ix_customers_last_visit",
            &[C::MerchantId, C::LastVisitAt],
            false,
        )
        .await?;
        index(
            manager,
            C::Table,
            "ix_customers_points",
            &[C::MerchantId, C::Points],
            false,
        )
        .await?;
        index(
            manager,
            C::Table,
            "ix_customers_created",
            &[C::MerchantId, C::CreatedAt],
            false,
        )
        .await?;
        index(
            manager,
            C::Table,
            "ix_customers_birthday",
            &[C::MerchantId, C::BirthdayMonth, C::BirthdayDay],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerTags::Table)
                    .col(uuid(CustomerTags::CustomerId))
                    .col(string(CustomerTags::Tag))
                    .col(uuid(CustomerTags::MerchantId))
                    .primary_key(
                        Index::create()
                            .col(CustomerTags::CustomerId)
                            .col(CustomerTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerTags::Table, CustomerTags::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            CustomerTags::Table,
            "ix_customer_tags_tag",
            &[
                CustomerTags::MerchantId,
                CustomerTags::Tag,
                CustomerTags::CustomerId,
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Passes::Table)
                    .col(uuid(Passes::Id).primary_key())
                    .col(uuid(Passes::MerchantId))
                    .col(uuid(Passes::CardId))
                    .col(uuid(Passes::CustomerId))
                    .col(string(Passes::SerialNumber))
                    .col(string(Passes::AuthenticationToken))
                    .col(string(Passes::Platform))
                    .col(timestamp_with_time_zone(Passes::InstalledAt))
                    .col(timestamp_with_time_zone_null(Passes::ExpiresAt))
                    .col(timestamp_with_time_zone(Passes::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Passes::Table, Passes::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Passes::Table, Passes::CardId)
                            .to(Cards::Table, Cards::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Passes::Table,
            "ux_passes_serial",
            &[Passes::SerialNumber],
            true,
        )
        .await?;
        index(
            manager,
            Passes::Table,
            "ix_passes_card",
            &[Passes::MerchantId, Passes::CardId, Passes::CustomerId],
            false,
        )
        .await?;
        index(
            manager,
            Passes::Table,
            "ix_passes_customer",
            &[Passes::CustomerId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Segments::Table)
                    .col(uuid(Segments::Id).primary_key())
                    .col(uuid(Segments::MerchantId))
                    .col(string(Segments::Name))
                    .col(text(Segments::Rule))
                    .col(timestamp_with_time_zone(Segments::CreatedAt))
                    .col(timestamp_with_time_zone(Segments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Segments::Table, Segments::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Segments::Table,
            "ux_segments_name",
            &[Segments::MerchantId, Segments::Name],
            true,
        )
        .await?;

        // Credits per merchant and kind (sms, email). The CHECKs are the last line of defence:
        // no code path may take a balance below zero.
        manager
            .create_table(
                Table::create()
                    .table(Balances::Table)
                    .col(uuid(Balances::MerchantId))
                    .col(string(Balances::Kind))
                    .col(
                        big_integer(Balances::Available)
                            .check(Expr::col(Balances::Available).gte(0)),
                    )
                    .col(
                        big_integer(Balances::Reserved).check(Expr::col(Balances::Reserved).gte(0)),
                    )
                    .primary_key(
                        Index::create()
                            .col(Balances::MerchantId)
                            .col(Balances::Kind),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Balances::Table, Balances::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BalanceEntries::Table)
                    .col(uuid(BalanceEntries::Id).primary_key())
                    .col(uuid(BalanceEntries::MerchantId))
                    .col(string(BalanceEntries::Kind))
                    // top_up, reserve, commit, release
                    .col(string(BalanceEntries::Entry))
                    .col(big_integer(BalanceEntries::Amount))
                    .col(string(BalanceEntries::Reference))
                    .col(timestamp_with_time_zone(BalanceEntries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BalanceEntries::Table, BalanceEntries::MerchantId)
                            .to(Merchants::Table, Merchants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            BalanceEntries::Table,
            "ix_balance_entries_merchant",
            &[BalanceEntries::MerchantId, BalanceEntries::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::MerchantId))
                    .col(string(IdempotencyKeys::Key))
                    .col(string(IdempotencyKeys::RequestHash))
                    .col(small_integer_null(IdempotencyKeys::Status))
                    .col(text_null(IdempotencyKeys::Body))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::MerchantId)
                            .col(IdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            BalanceEntries::Table.into_iden(),
            Balances::Table.into_iden(),
            Segments::Table.into_iden(),
            Passes::Table.into_iden(),
            CustomerTags::Table.into_iden(),
            Customers::Table.into_iden(),
            Cards::Table.into_iden(),
            RevokedTokens::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            TeamMembers::Table.into_iden(),
            Merchants::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn index<T, C>(
    manager: &SchemaManager<'_>,
    table: T,
    name: &str,
    columns: &[C],
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + Clone + 'static,
    C: IntoIden + Clone + 'static,
{
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(column.clone());
    }
    if unique {
        statement.unique();
    }
    manager.create_index(statement).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Merchants {
    Table,
    Id,
    Name,
    TimeZone,
    DefaultCountry,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TeamMembers {
    Table,
    Id,
    MerchantId,
    Name,
    Email,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    MerchantId,
    Name,
    Prefix,
    SecretHash,
    Role,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RevokedTokens {
    Table,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Cards {
    Table,
    Id,
    MerchantId,
    Name,
    Kind,
    Description,
    BackgroundColor,
    ForegroundColor,
    LabelColor,
    LogoText,
    ApplePassTypeId,
    MembershipPeriodDays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Id,
    MerchantId,
    FirstName,
    LastName,
    Phone,
    Email,
    Birthday,
    BirthdayMonth,
    BirthdayDay,
    TelegramChatId,
    MessengerPsid,
    SmsConsent,
    EmailConsent,
    TelegramConsent,
    MessengerConsent,
    Visits,
    LastVisitAt,
    Points,
    SearchText,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CustomerTags {
    Table,
    CustomerId,
    Tag,
    MerchantId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Passes {
    Table,
    Id,
    MerchantId,
    CardId,
    CustomerId,
    SerialNumber,
    AuthenticationToken,
    Platform,
    InstalledAt,
    ExpiresAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Segments {
    Table,
    Id,
    MerchantId,
    Name,
    Rule,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Balances {
    Table,
    MerchantId,
    Kind,
    Available,
    Reserved,
}

#[derive(DeriveIden, Clone, Copy)]
enum BalanceEntries {
    Table,
    Id,
    MerchantId,
    Kind,
    Entry,
    Amount,
    Reference,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKeys {
    Table,
    MerchantId,
    Key,
    RequestHash,
    Status,
    Body,
    CreatedAt,
}
