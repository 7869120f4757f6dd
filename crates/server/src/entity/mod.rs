//! The sea-orm entities, one per table of the `migrations` crate.

pub mod api_key;
pub mod balance;
pub mod balance_entry;
pub mod card;
pub mod change;
pub mod consent_change;
pub mod consent_opt_out;
pub mod customer;
pub mod customer_tag;
pub mod delivery;
pub mod idempotency_key;
pub mod inbound_message;
pub mod mailing;
pub mod mailing_stat;
pub mod merchant;
pub mod pass;
pub mod pass_registration;
pub mod push;
pub mod push_stat;
pub mod revoked_token;
pub mod segment;
pub mod signing_key;
pub mod stream_ticket;
pub mod team_member;
