use actix_web::{get, post, web};
use loyalcast_dto::{Balances, Problem, Role, TopUp};

use crate::auth::Auth;
use crate::balances;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use sea_orm::TransactionTrait;

/// SMS and email credits: available and reserved for accepted sends.
#[utoipa::path(
    tag = "balances",
    responses((status = 200, body = Balances), (status = 401, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[get("/balances")]
pub async fn get(state: web::Data<AppState>, auth: Auth) -> Result<web::Json<Balances>> {
    Ok(web::Json(balances::get(&state.db, auth.merchant_id).await?))
}

/// Add SMS or email credits (owner only).
#[utoipa::path(
    tag = "balances",
    request_body = TopUp,
    responses(
        (status = 200, body = Balances),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/balances/top-up")]
pub async fn top_up(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<TopUp>,
) -> Result<web::Json<Balances>> {
    auth.require(Role::Owner)?;
    let body = body.into_inner();
    if !(1..=10_000_000).contains(&body.amount) {
        return Err(ApiError::field(
            "amount",
            "out_of_range",
            "must be between 1 and 10,000,000",
        ));
    }
    if body.reference.chars().count() > 200 {
        return Err(ApiError::field(
            "reference",
            "too_long",
            "must be at most 200 characters",
        ));
    }
    let reference = if body.reference.trim().is_empty() {
        "top-up".to_owned()
    } else {
        body.reference.trim().to_owned()
    };
    // The credit, its ledger line and its change-feed entry stand or fall together.
    let txn = state.db.begin().await?;
    balances::top_up(
        &txn,
        auth.merchant_id,
        body.kind.into(),
        body.amount,
        &reference,
    )
    .await?;
    txn.commit().await?;
    Ok(web::Json(balances::get(&state.db, auth.merchant_id).await?))
}
