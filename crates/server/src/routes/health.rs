use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database is reachable and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = loyalcast_dto::Problem, content_type = "application/problem+json"))
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, crate::error::ApiError> {
    let unavailable = |what: &str| crate::error::ApiError::Unavailable(what.to_owned());
    db::ping(&state.db)
        .await
        .map_err(|_| unavailable("The database is not reachable."))?;
    if !db::migrations_applied(&state.db)
        .await
        .map_err(|_| unavailable("The migration state could not be read."))?
    {
        return Err(unavailable("Migrations are pending."));
    }
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
