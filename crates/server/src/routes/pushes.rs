//! Wallet pushes: send now or schedule, estimate, history, one push's figures, cancel.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use loyalcast_dto::{NewPush, Page, Problem, Push, PushEstimate, PushEstimateRequest};
use sea_orm::TransactionTrait;
use uuid::Uuid;

use super::PageParams;
use crate::auth::Auth;
use crate::error::Result;
use crate::idempotency::{self, IdempotencyKey};
use crate::pushes;
use crate::state::AppState;

/// The push history, newest first.
#[utoipa::path(
    tag = "pushes",
    params(PageParams),
    responses(
        (status = 200, body = Page<Push>),
        (status = 400, description = "A page or page size out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/pushes")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    paging: web::Query<PageParams>,
) -> Result<web::Json<Page<Push>>> {
    let (page, per_page) = paging.resolve()?;
    let (items, total) = pushes::list(&state.db, auth.merchant_id, page, per_page).await?;
    Ok(web::Json(Page {
        items,
        page,
        per_page,
        total,
    }))
}

/// Send a wallet push now, or schedule it.
///
/// Now: the message is written to the back of every pass of the card in the audience (their
/// update tags move) and one notification per registered Apple device is queued, in the
/// same transaction; devices then fetch the updated pass. Scheduled: nothing changes until
/// `send_at`. Pushes are free: no credits are reserved or spent.
#[utoipa::path(
    tag = "pushes",
    request_body = NewPush,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    responses(
        (status = 201, body = Push),
        (status = 422, description = "Invalid fields: an empty or too long message, another merchant's card or segment, a time in the past", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/pushes")]
pub async fn create(
    state: web::Data<AppState>,
    auth: Auth,
    key: IdempotencyKey,
    body: crate::json::Json<NewPush>,
) -> Result<HttpResponse> {
    let input = body.into_inner();
    let now = state.clock.now();
    let checked = pushes::check(&state.db, auth.merchant_id, &input, now).await?;
    idempotency::respond(
        &state.db,
        auth.merchant_id,
        key,
        &input,
        StatusCode::CREATED,
        async |txn| {
            pushes::create(txn, auth.merchant_id, auth.member_id, &input, &checked, now).await
        },
    )
    .await
}

/// Who a push would reach: holders, passes, and the Apple devices registered for them.
#[utoipa::path(
    tag = "pushes",
    request_body = PushEstimateRequest,
    responses(
        (status = 200, body = PushEstimate),
        (status = 422, description = "Another merchant's card or segment, or a message that does not fit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/pushes/estimate")]
pub async fn estimate(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<PushEstimateRequest>,
) -> Result<web::Json<PushEstimate>> {
    Ok(web::Json(
        pushes::estimate(
            &state.db,
            auth.merchant_id,
            &body.into_inner(),
            state.clock.now(),
        )
        .await?,
    ))
}

/// A push with its per-platform figures and failure reasons.
#[utoipa::path(
    tag = "pushes",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Push),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/pushes/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<Push>> {
    Ok(web::Json(
        pushes::get(&state.db, auth.merchant_id, id.into_inner()).await?,
    ))
}

/// Cancel a scheduled push (nothing changes on the passes), or the notifications of a
/// sending one that have not gone out yet (the passes keep the message).
#[utoipa::path(
    tag = "pushes",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = Push),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Completed or cancelled already", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/pushes/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<Uuid>,
) -> Result<web::Json<Push>> {
    let p = pushes::find(&state.db, auth.merchant_id, id.into_inner()).await?;
    let txn = state.db.begin().await?;
    pushes::cancel(&txn, &p, state.clock.now()).await?;
    txn.commit().await?;
    Ok(web::Json(
        pushes::get(&state.db, auth.merchant_id, p.id).await?,
    ))
}
