//! Every route of `/api/v1`, declared together here; one file per area.

pub mod api_keys;
pub mod auth;
pub mod automations;
pub mod balances;
pub mod cards;
pub mod changes;
pub mod customers;
pub mod enrol;
pub mod events;
pub mod figures;
pub mod health;
pub mod links;
pub mod mailings;
pub mod metrics;
pub mod operator;
pub mod passes;
pub mod passkit;
pub mod pushes;
pub mod segments;
pub mod team;
pub mod webhooks;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use serde::Deserialize;
use utoipa_actix_web::{AppExt, UtoipaApp, scope};

use crate::error::ApiError;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// The routes that make up the documented API, without state or middleware; `base` is the
/// document they are collected into (its info, tags and security schemes).
pub fn app(
    base: utoipa::openapi::OpenApi,
) -> UtoipaApp<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .into_utoipa_app()
        .openapi(base)
        .service(health::healthz)
        .service(health::readyz)
        .service(metrics::metrics)
        .service(links::unsubscribe_page)
        .service(links::unsubscribe)
        .service(links::resubscribe)
        .service(links::open_pixel)
        .service(passkit::register)
        .service(passkit::unregister)
        .service(passkit::updated)
        .service(passkit::pass_file)
        .service(passkit::pass_head)
        .service(passkit::log)
        .service(enrol::service_worker)
        .service(enrol::qr)
        .service(enrol::logo)
        .service(enrol::google)
        .service(enrol::web_push)
        .service(enrol::download)
        .service(enrol::page_form)
        .service(enrol::enrol)
        .service(
            scope("/api/v1")
                .configure(config)
                .default_service(web::to(not_found)),
        )
}

/// What an unknown path under the API answers.
pub async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound)
}

pub fn config(cfg: &mut ServiceConfig) {
    cfg.service(auth::login)
        .service(auth::logout)
        .service(auth::change_password)
        .service(auth::sign_out_everywhere)
        .service(auth::sign_up)
        .service(auth::me)
        .service(auth::update_merchant)
        .service(team::list)
        .service(team::create)
        .service(team::invitations)
        .service(team::invite)
        .service(team::withdraw)
        .service(team::offer)
        .service(team::accept)
        .service(team::delete)
        .service(team::change_role)
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
        .service(customers::consent)
        .service(customers::messages)
        .service(customers::events)
        .service(events::record)
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
        .service(balances::ledger)
        .service(balances::purchase)
        .service(operator::merchants)
        .service(operator::balances_of)
        .service(operator::top_up)
        .service(mailings::estimate)
        .service(mailings::list)
        .service(mailings::create)
        .service(mailings::get)
        .service(mailings::send)
        .service(mailings::edit)
        .service(mailings::pause)
        .service(mailings::resume)
        .service(mailings::cancel)
        .service(mailings::resend_failed)
        .service(mailings::problems)
        .service(automations::list)
        .service(automations::create)
        .service(automations::get)
        .service(automations::update)
        .service(automations::delete)
        .service(automations::runs)
        .service(automations::settings)
        .service(automations::set_settings)
        .service(pushes::estimate)
        .service(pushes::list)
        .service(pushes::create)
        .service(pushes::get)
        .service(pushes::cancel)
        .service(changes::create_ticket)
        .service(changes::stream)
        .service(webhooks::twilio_status)
        .service(webhooks::twilio_inbound);
}

/// Paging of a list: `page` from 1, `per_page` from 1 to 100 (25 when absent). A value out
/// of range is refused with a 400 rather than clamped, so a client learns of its mistake
/// instead of silently reading another page than it asked for.
///
/// Lists take it as a query extractor of its own, beside their filters.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The page to read, from 1 (the default) to 1,000,000.
    #[param(minimum = 1, maximum = 1_000_000, example = 1)]
    pub page: Option<u64>,
    /// Items per page, from 1 to 100 (25 when absent).
    #[param(minimum = 1, maximum = 100, example = 25)]
    pub per_page: Option<u64>,
}

pub const MAX_PAGE: u64 = 1_000_000;
pub const MAX_PER_PAGE: u64 = 100;
pub const DEFAULT_PER_PAGE: u64 = 25;

impl PageParams {
    /// (page, per_page) with the defaults applied, or a 400 for a value out of range.
    pub fn resolve(&self) -> Result<(u64, u64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(ApiError::BadRequest(format!(
                "page must be between 1 and {MAX_PAGE}."
            )));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::BadRequest(format!(
                "per_page must be between 1 and {MAX_PER_PAGE}."
            )));
        }
        Ok((page, per_page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(PageParams::default().resolve().ok(), Some((1, 25)));
        let at = |page, per_page| PageParams { page, per_page }.resolve().ok();
        assert_eq!(
            at(Some(MAX_PAGE), Some(MAX_PER_PAGE)),
            Some((MAX_PAGE, MAX_PER_PAGE))
        );
        assert_eq!(at(Some(0), None), None);
        assert_eq!(at(Some(MAX_PAGE + 1), None), None);
        assert_eq!(at(Some(u64::MAX), None), None);
        assert_eq!(at(None, Some(0)), None);
        assert_eq!(at(None, Some(MAX_PER_PAGE + 1)), None);
        // The largest offset fits the databases' signed 64-bit integers.
        assert!((MAX_PAGE - 1) * MAX_PER_PAGE < i64::MAX as u64);
    }
}
