//! Every route of `/api/v1`, declared together here; one file per area.

pub mod api_keys;
pub mod auth;
pub mod balances;
pub mod cards;
pub mod customers;
pub mod figures;
pub mod health;
pub mod links;
pub mod mailings;
pub mod passes;
pub mod segments;
pub mod team;
pub mod webhooks;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn config(cfg: &mut ServiceConfig) {
    cfg.service(auth::login)
        .service(auth::logout)
        .service(auth::sign_up)
        .service(auth::me)
        .service(auth::update_merchant)
        .service(team::list)
        .service(team::create)
        .service(team::delete)
        .service(api_keys::list)
        .service(api_keys::create)
        .service(api_keys::revoke)
        .service(figures::header_figures)
        .service(cards::list)
        .service(cards::create)
        .service(cards::get)
        .service(cards::update)
        .service(cards::delete)
        .service(customers::list)
        .service(customers::create)
        .service(customers::import_csv)
        .service(customers::tags)
        .service(customers::get)
        .service(customers::update)
        .service(customers::delete)
        .service(passes::list)
        .service(passes::create)
        .service(passes::get)
        .service(passes::delete)
        .service(segments::count)
        .service(segments::list)
        .service(segments::create)
        .service(segments::get)
        .service(segments::update)
        .service(segments::delete)
        .service(segments::count_saved)
        .service(balances::get)
        .service(balances::top_up)
        .service(mailings::estimate)
        .service(mailings::list)
        .service(mailings::create)
        .service(mailings::get)
        .service(mailings::send)
        .service(mailings::pause)
        .service(mailings::resume)
        .service(mailings::cancel)
        .service(mailings::resend_failed)
        .service(webhooks::twilio_status)
        .service(webhooks::twilio_inbound);
}

/// Paging of a list: `page` from 1, `per_page` from 1 to 100 (25 when absent).
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page, 1 to 100.
    pub per_page: Option<u64>,
}

pub const MAX_PER_PAGE: u64 = 100;

impl PageParams {
    /// (page, per_page) with defaults applied and the page size capped.
    pub fn resolve(&self) -> (u64, u64) {
        (
            self.page.unwrap_or(1).max(1),
            self.per_page.unwrap_or(25).clamp(1, MAX_PER_PAGE),
        )
    }
}
