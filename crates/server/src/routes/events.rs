use actix_web::{post, web};
use loyalcast_dto::{EventBatch, EventsRecorded, Problem};
use sea_orm::TransactionTrait;

use crate::auth::Auth;
use crate::customer_events;
use crate::error::Result;
use crate::state::AppState;

/// Record customer events: visits, purchases, installed cards, reviews, referrals, expired
/// card periods, points changes; 1 to 1,000 at a time, all or none.
///
/// Each event carries your own ID: one sent again (a retried request, a replayed queue) is
/// answered as a replay and changes nothing. Visits and purchases add a visit and move the
/// customer's last visit (never back); `points_changed` adds to their points.
#[utoipa::path(
    tag = "events",
    request_body = EventBatch,
    responses(
        (status = 200, description = "Recorded (each event says whether now or before)", body = EventsRecorded),
        (status = 400, description = "The body is not JSON of this shape (an unknown kind or field)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An event cannot be recorded (an unknown customer or pass, a field out of range); nothing was", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/events")]
pub async fn record(
    state: web::Data<AppState>,
    auth: Auth,
    body: crate::json::Json<EventBatch>,
) -> Result<web::Json<EventsRecorded>> {
    let batch = body.into_inner();
    let txn = state.db.begin().await?;
    let recorded =
        customer_events::record(&txn, auth.merchant_id, &batch, state.clock.now()).await?;
    txn.commit().await?;
    Ok(web::Json(recorded))
}
