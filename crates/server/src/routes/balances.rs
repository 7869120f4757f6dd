use actix_web::{get, web};
use loyalcast_dto::{Balances, CreditKind, CreditsPurchase, LedgerEntry, Page, Problem};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Auth;
use crate::balances;
use crate::error::Result;
use crate::routes::PageParams;
use crate::state::AppState;

/// SMS and email credits: available and reserved for accepted sends. Credits are added by
/// the operator only (see `GET /api/v1/balances/purchase` for how to get more).
#[utoipa::path(
    tag = "balances",
    responses((status = 200, body = Balances), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/balances")]
pub async fn get(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<Balances>> {
    Ok(web::Json(balances::get(&state.db, auth.merchant_id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerFilter {
    /// Only this kind of credit; both when absent.
    pub kind: Option<CreditKind>,
}

/// Every movement of the merchant's credits, newest first: the operator's top-ups and the
/// reservations, spending and releases of each send, with the send they belong to. Read-only.
#[utoipa::path(
    tag = "balances",
    params(LedgerFilter, PageParams),
    responses(
        (status = 200, body = Page<LedgerEntry>),
        (status = 400, description = "A paging value or `kind` is out of range", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/balances/ledger")]
pub async fn ledger(
    state: web::Data<AppState>,
    auth: Auth,
    filter: web::Query<LedgerFilter>,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<LedgerEntry>>> {
    let kind = filter.kind.map(balances::Kind::from);
    Ok(web::Json(
        balances::ledger(&state.db, auth.merchant_id, kind, paging.resolve()?).await?,
    ))
}

/// How to get more credits, as the operator configured it (a link, a text, or neither).
#[utoipa::path(
    tag = "balances",
    responses((status = 200, body = CreditsPurchase), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/balances/purchase")]
pub async fn purchase(state: web::Data<AppState>, _auth: Auth) -> web::Json<CreditsPurchase> {
    let config = &state.config;
    let nonempty = |v: &Option<String>| {
        v.as_ref()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    web::Json(CreditsPurchase {
        url: nonempty(&config.credits_purchase_url),
        text: nonempty(&config.credits_purchase_text),
    })
}
