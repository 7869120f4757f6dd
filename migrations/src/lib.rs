//! Loyalcast's schema: one migration per change, each with a `down`.
//!
//! The server runs `Migrator::up` at start; `loyalcast migrate` runs it alone.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_foundation;
mod m20261129_000002_create_mailings;
mod m20261129_000003_covering_last_visit_index;
mod m20261129_000004_create_worker_processes;
mod m20261202_000005_delivery_sources;
mod m20261202_000006_create_changes;
mod m20261202_000007_operator;
mod m20261202_000008_consent;
mod m20261202_000009_signin;
mod m20261202_000010_api_key_scopes;
mod m20261202_000011_passkit;
mod m20261203_000012_pushes;
mod m20261203_000013_wallet_reach;
mod m20261204_000014_team_invitations;
mod m20261204_000015_permanent_failures;
mod m20261204_000016_customer_events;
mod m20261204_000017_automations;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_foundation::Migration),
            Box::new(m20261129_000002_create_mailings::Migration),
            Box::new(m20261129_000003_covering_last_visit_index::Migration),
            Box::new(m20261129_000004_create_worker_processes::Migration),
            Box::new(m20261202_000005_delivery_sources::Migration),
            Box::new(m20261202_000006_create_changes::Migration),
            Box::new(m20261202_000007_operator::Migration),
            Box::new(m20261202_000008_consent::Migration),
            Box::new(m20261202_000009_signin::Migration),
            Box::new(m20261202_000010_api_key_scopes::Migration),
            Box::new(m20261202_000011_passkit::Migration),
            Box::new(m20261203_000012_pushes::Migration),
            Box::new(m20261203_000013_wallet_reach::Migration),
            Box::new(m20261204_000014_team_invitations::Migration),
            Box::new(m20261204_000015_permanent_failures::Migration),
            Box::new(m20261204_000016_customer_events::Migration),
            Box::new(m20261204_000017_automations::Migration),
        ]
    }
}
