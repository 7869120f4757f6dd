//! The operator's API: the merchants on this server and their credits. Authenticated with
//! the operator's token from the configuration, never with a merchant's credentials: this is
//! where credits come from.

use std::future::{Ready, ready};

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, get, post, web};
use loyalcast_dto::{Balances, OperatorMerchant, OperatorTopUp, Page, Problem, TopUpReceipt};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::balances;
use crate::entity::merchant;
use crate::error::{ApiError, Result};
use crate::routes::PageParams;
use crate::state::AppState;

/// The operator, proven by `Authorization: Bearer <operator_token>`.
pub struct Operator;

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

fn check(req: &HttpRequest) -> Result<Operator> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
    let Some(expected) = &state.config.operator_token else {
        return Err(ApiError::Unauthorized(
            "The operator API is not enabled on this server (no operator_token is configured).",
        ));
    };
    if !crate::auth::bearer_is(req, expected) {
        return Err(ApiError::Unauthorized(
            "Send the operator's token as `Authorization: Bearer <token>`; merchants' credentials do not work here.",
        ));
    }
    Ok(Operator)
}

/// Every merchant on this server with its balances, oldest first.
#[utoipa::path(
    tag = "operator",
    params(PageParams),
    responses(
        (status = 200, body = Page<OperatorMerchant>),
        (status = 400, description = "A paging value is out of range", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No operator token, a wrong one, or the operator API is not enabled", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator" = []))
)]
#[get("/operator/merchants")]
pub async fn merchants(
    state: web::Data<AppState>,
    _operator: Operator,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<OperatorMerchant>>> {
    let (page, per_page) = paging.resolve()?;
    let total = merchant::Entity::find().count(&state.db).await?;
    let rows = merchant::Entity::find()
        .order_by_asc(merchant::Column::CreatedAt)
        .order_by_asc(merchant::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(&state.db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    let mut balances = balances::get_many(&state.db, &ids).await?;
    let items = rows
        .into_iter()
        .map(|m| OperatorMerchant {
            balances: balances.remove(&m.id).unwrap_or_else(balances::zero),
            id: m.id,
            name: m.name,
            created_at: m.created_at,
        })
        .collect();
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// A merchant's balances.
#[utoipa::path(
    tag = "operator",
    params(("merchant_id" = Uuid, Path, description = "The merchant's ID")),
    responses(
        (status = 200, body = Balances),
        (status = 401, description = "No operator token, a wrong one, or the operator API is not enabled", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such merchant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator" = []))
)]
#[get("/operator/merchants/{merchant_id}/balances")]
pub async fn balances_of(
    state: web::Data<AppState>,
    _operator: Operator,
    path: web::Path<Uuid>,
) -> Result<web::Json<Balances>> {
    let merchant = crate::merchants::find(&state.db, path.into_inner()).await?;
    Ok(web::Json(balances::get(&state.db, merchant.id).await?))
}

/// Add credits to a merchant, once per reference: the credits, their ledger line and the
/// change the merchant's dashboard sees are one transaction. The same reference and amount
/// again adds nothing and answers the first receipt with 200 and `replayed: true`; the same
/// reference with another amount is a 409.
#[utoipa::path(
    tag = "operator",
    params(("merchant_id" = Uuid, Path, description = "The merchant's ID")),
    request_body = OperatorTopUp,
    responses(
        (status = 201, description = "Added", body = TopUpReceipt),
        (status = 200, description = "A top-up with this reference was already added; nothing changed", body = TopUpReceipt),
        (status = 401, description = "No operator token, a wrong one, or the operator API is not enabled", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such merchant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The reference was used for a top-up of another amount", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The amount is out of range or the reference is empty or too long", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator" = []))
)]
#[post("/operator/merchants/{merchant_id}/top-ups")]
pub async fn top_up(
    state: web::Data<AppState>,
    _operator: Operator,
    path: web::Path<Uuid>,
    body: crate::json::Json<OperatorTopUp>,
) -> Result<HttpResponse> {
    let merchant = crate::merchants::find(&state.db, path.into_inner()).await?;
    let body = body.into_inner();
    let reference = balances::check_top_up(body.amount, &body.reference)?;
    let receipt = balances::top_up(
        &state.db,
        merchant.id,
        body.kind.into(),
        body.amount,
        &reference,
        state.clock.now(),
    )
    .await?;
    let status = if receipt.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    if !receipt.replayed {
        tracing::info!(merchant = %merchant.id, kind = ?body.kind, amount = body.amount, "operator top-up");
    }
    Ok(HttpResponse::build(status).json(receipt))
}
